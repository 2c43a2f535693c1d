#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/ (small files only). Re-run after changing the input formats.

Sources: RFC 6455 §5.7 (example frames) and §1.3 (example handshake request and response).
Prelude of the byte-stream targets: flags, preset, n, n chunk sizes, data (see src/prelude.rs).
"""
import os, random

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def mask(payload, key=KEY):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(b0, payload, key=None):
    n = len(payload)
    mbit = 0x80 if key else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if key:
        return head + key + mask(payload, key)
    return head + payload


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def prelude(flags=0, preset=0, sizes=()):
    return bytes([flags, preset, len(sizes)]) + bytes(sizes)


# RFC 6455 §5.7 examples.
RFC_FRAMES = {
    "rfc-unmasked-hello": bytes.fromhex("810548656c6c6f"),
    "rfc-masked-hello": bytes.fromhex("818537fa213d7f9f4d5158"),
    "rfc-fragment-1": bytes.fromhex("010348656c"),
    "rfc-fragment-2": bytes.fromhex("80026c6f"),
    "rfc-unmasked-ping": bytes.fromhex("890548656c6c6f"),
    "rfc-masked-pong": bytes.fromhex("8a8537fa213d7f9f4d5158"),
    "rfc-256-binary-header": bytes.fromhex("827e0100"),
    "rfc-64k-binary-header": bytes.fromhex("827f0000000000010000"),
}
for name, data in RFC_FRAMES.items():
    write("frame_header", name, data)
write("frame_header", "close-1000", bytes.fromhex("880203e8"))
write("frame_header", "reserved-opcode", bytes.fromhex("8300"))
write("frame_header", "length-overflow", bytes.fromhex("827f8000000000000000"))

# Connections: the same conversation, masked for a server to read, unmasked for a client.
def conversation(key):
    return (
        frame(0x81, b"Hello", key)
        + frame(0x01, b"Hel", key)
        + frame(0x89, b"Hello", key)
        + frame(0x80, b"lo", key)
        + frame(0x82, bytes(range(200)), key)
        + frame(0x02, "κό".encode(), key)
        + frame(0x00, "σμ".encode()[:3], key)
        + frame(0x80, "σμε".encode()[3:], key)
        + frame(0x8A, b"Hello", key)
        + frame(0x88, (1000).to_bytes(2, "big") + b"bye", key)
    )

for target, key in (("server_connection", KEY), ("client_connection", None)):
    conv = conversation(key)
    write(target, "rfc-hello", prelude() + frame(0x81, b"Hello", key))
    write(target, "rfc-fragmented", prelude() + frame(0x01, b"Hel", key) + frame(0x80, b"lo", key))
    write(target, "rfc-ping-pong", prelude() + frame(0x89, b"Hello", key) + frame(0x8A, b"Hello", key))
    write(target, "conversation-whole", prelude(0, 0, (3, 7, 1, 0, 64)) + conv)
    write(target, "conversation-streaming", prelude(1, 0, (2, 9, 5)) + conv)
    write(target, "conversation-small-limits-eof", prelude(4 | 8, 1, (1,)) + conv)
    write(target, "bad-utf8", prelude(1, 0) + frame(0x81, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", key))
    write(target, "too-many-fragments", prelude(0, 3) + b"".join(frame(0x01 if i == 0 else 0x00, b"abcdefgh", key) for i in range(5)))

# Handshakes: RFC 6455 §1.3.
REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)
write("server_handshake", "rfc-request", prelude() + REQUEST)
write("server_handshake", "rfc-request-chunked-with-frame", prelude(2, 0, (5, 17, 40, 1)) + REQUEST + frame(0x81, b"Hello", KEY))
write("server_handshake", "rfc-request-small-limit", prelude(0, 1) + REQUEST)
write("server_handshake", "plain-http", prelude() + b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n")
# A rejected upgrade (e.g. version 8) belongs here too, once regressions/server_handshake/leftover-after-error
# is fixed: the target checks the leftover accessors after every request error.
random.seed(6455)
for i in range(4):
    write("server_handshake", f"structured-{i}", prelude(1, i) + bytes(random.randrange(256) for _ in range(300)))

write("client_handshake", "rfc-response", prelude() + RESPONSE)
write("client_handshake", "rfc-response-with-frames", prelude(2, 0, (9, 30)) + RESPONSE + frame(0x81, b"Hello", None) + frame(0x88, b"\x03\xe8", None))
write("client_handshake", "rejection-content-length", prelude(2, 3) + b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope!")
write("client_handshake", "rejection-chunked", prelude(2, 0) + b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n1;x=y\r\n!\r\n0\r\n\r\n")
write("client_handshake", "rejection-unframed-eof", prelude(2, 7) + b"HTTP/1.1 500 Oops\r\n\r\nbody until EOF")
for i in range(4):
    write("client_handshake", f"structured-{i}", prelude(1, i) + bytes(random.randrange(256) for _ in range(300)))

# UTF-8: n, n chunk sizes, text.
KOSME = "κόσμε".encode()
write("utf8", "kosme", b"\x00" + KOSME)
write("utf8", "kosme-split", bytes([3, 1, 2, 3]) + KOSME)
write("utf8", "surrogate", b"\x01\x0b" + KOSME + b"\xed\xa0\x80edited")
write("utf8", "above-max", b"\x01\x01\xf4\x90\x80\x80")
write("utf8", "truncated", b"\x00a\xe2\x82")

for i in range(3):
    write("mask", f"random-{i}", bytes(random.randrange(256) for _ in range(40 + 40 * i)))
for i in range(6):
    write("roundtrip", f"random-{i}", bytes(random.randrange(256) for _ in range(64 << i)))

# permessage-deflate negotiation (deflate_params): `>` + an offered element, `<` + an answered element; the rest of
# the seeds there and for inflate / roundtrip_deflate are `arbitrary` bytes (random here, plus the found-* files,
# which came from fuzzing and are kept by hand: this script neither writes nor deletes them).
OFFERS = [
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
    "client_max_window_bits=9",
    'PerMessage-Deflate ; server_max_window_bits="10" ; client_max_window_bits = 12',
    "permessage-deflate; server_max_window_bits",  # declined: needs a value
    "permessage-deflate; client_max_window_bits=16",  # declined: out of range
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",  # declined: duplicate
    "x-webkit-deflate-frame",
]
RESPONSES = [
    "permessage-deflate",
    "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
    "permessage-deflate; client_max_window_bits",  # refused: a response needs the value
    "permessage-deflate; server_max_window_bits=8; client_no_context_takeover",
]
for i, o in enumerate(OFFERS):
    write("deflate_params", f"offer-{i}", b">" + o.encode())
for i, r in enumerate(RESPONSES):
    write("deflate_params", f"response-{i}", b"<" + r.encode())
for i in range(3):
    write("deflate_params", f"structured-{i}", bytes([0]) + bytes(random.randrange(256) for _ in range(200)))
for i in range(3):
    write("inflate", f"random-{i}", bytes(random.randrange(256) for _ in range(128 << i)))
    write("roundtrip_deflate", f"random-{i}", bytes(random.randrange(256) for _ in range(128 << i)))

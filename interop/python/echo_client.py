#!/usr/bin/env python3
"""python `websockets` echo client for wsproto's interop tests.

    echo_client.py [--mode default|no-context-takeover|small-windows|plain] URL SCRIPT

Connects to URL (websockets offers permessage-deflate by default), prints the negotiated
Sec-WebSocket-Extensions, then for each line of SCRIPT sends one message and waits for its echo:

    text PATH [FRAGMENT]      the bytes of PATH (UTF-8) as a text message
    binary PATH [FRAGMENT]    the bytes of PATH as a binary message

With FRAGMENT the message goes out in frames of FRAGMENT bytes (text is split at byte boundaries, so a
frame may end inside a code point), with a ping between the first two frames. Blank lines and lines
starting with # are ignored.

Prints `extensions: VALUE`, then `ok N KIND LEN bytes` per echo, `pongs: N` (pongs to the pings between
fragments), then `closed CODE REASON`; on a wrong
echo prints `MISMATCH ...` and exits 1. Any other failure (handshake, timeout, closed connection) exits
non-zero with a traceback.
"""

import argparse
import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

MAX_SIZE = 64 * 2**20
TIMEOUT = 30


def options(mode):
    if mode == "default":
        # compression="deflate" (the default): permessage-deflate with websockets' default settings.
        return {}
    if mode == "plain":
        return {"compression": None}
    if mode == "no-context-takeover":
        factory = ClientPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=10,
            client_max_window_bits=10,
        )
        return {"compression": None, "extensions": [factory]}
    if mode == "small-windows":
        # The smallest windows websockets supports: it cannot compress with 8 bits (zlib refuses wbits=-8), but
        # may ask the server to.
        factory = ClientPerMessageDeflateFactory(server_max_window_bits=8, client_max_window_bits=9)
        return {"compression": None, "extensions": [factory]}
    raise SystemExit(f"unknown mode {mode!r}")


def read_script(path):
    steps = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if parts[0] not in ("text", "binary") or len(parts) not in (2, 3):
                raise SystemExit(f"{path}:{n}: expected `text|binary PATH [FRAGMENT]`, got {line!r}")
            with open(parts[1], "rb") as g:
                data = g.read()
            fragment = int(parts[2]) if len(parts) == 3 else None
            if fragment is not None and (fragment <= 0 or not data):
                raise SystemExit(f"{path}:{n}: a fragmented message needs a positive size and some data")
            steps.append((parts[0], data, fragment))
    return steps


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


async def fragments(ws, data, size, pongs):
    """The frames of a fragmented message, with a ping sent after the first one (a control frame in the
    middle of a compressed message)."""
    for j in range(0, len(data), size):
        yield data[j : j + size]
        if j == 0:
            pongs.append(await ws.ping(b"mid-fragment"))


async def run(url, script, mode):
    steps = read_script(script)
    pongs = []
    async with connect(url, max_size=MAX_SIZE, open_timeout=TIMEOUT, close_timeout=TIMEOUT, **options(mode)) as ws:
        print("extensions:", ws.response.headers.get("Sec-WebSocket-Extensions", ""), flush=True)
        for i, (kind, data, fragment) in enumerate(steps, 1):
            text = kind == "text"
            if fragment:
                await ws.send(fragments(ws, data, fragment, pongs), text=text)
            else:
                await ws.send(data, text=text)
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
            got_kind = "text" if isinstance(got, str) else "binary"
            got_bytes = got.encode() if isinstance(got, str) else bytes(got)
            if got_kind != kind or got_bytes != data:
                print(
                    f"MISMATCH {i}: sent {kind} {len(data)} bytes, received {got_kind} {len(got_bytes)} bytes, "
                    f"first difference at byte {first_difference(data, got_bytes)}",
                    flush=True,
                )
                return 1
            how = f" in frames of {fragment}" if fragment else ""
            print(f"ok {i} {kind} {len(data)} bytes{how}", flush=True)
        for waiter in pongs:
            await asyncio.wait_for(waiter, TIMEOUT)
        print(f"pongs: {len(pongs)}", flush=True)
        await ws.close(1000, "done")
        print(f"closed {ws.close_code} {ws.close_reason}", flush=True)
        return 0 if ws.close_code == 1000 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", default="default", choices=["default", "no-context-takeover", "small-windows", "plain"])
    p.add_argument("url")
    p.add_argument("script")
    a = p.parse_args()
    sys.exit(asyncio.run(run(a.url, a.script, a.mode)))


if __name__ == "__main__":
    main()

//! permessage-deflate (RFC 7692) through real handshakes: negotiation, compressed round trips both ways,
//! framing rules for RSV1, limits on the inflated size, fail-fast UTF-8 on inflated text.
#![cfg(feature = "deflate")]

mod common;

use common::*;
use wsproto::handshake::{Accept, ClientHandshake, ClientOutcome, ClientRequest, Incoming, ServerHandshake};
use wsproto::{Compress, Config, Connection, DataKind, DeflateConfig, Event, ProtocolError, ReceiveMode};

/// The core compresses only when asked (its default config never does, whatever features are on).
fn deflating() -> Config {
    Config::default().with_deflate(Some(DeflateConfig::default()))
}

/// Runs both handshakes in memory; returns (client, server, the server's Sec-WebSocket-Extensions answer).
fn pair(client_cfg: Config, server_cfg: Config) -> (Connection, Connection, Option<String>) {
    let mut client_hs = ClientHandshake::new(ClientRequest::new("h", "/"), client_cfg, [7; 32]).unwrap();
    let mut request = Vec::new();
    client_hs.write_request(&mut request).unwrap();
    let mut server_hs = ServerHandshake::new(server_cfg).unwrap();
    server_hs.feed(&request);
    let Some(Incoming::Upgrade(req)) = server_hs.poll_request().unwrap() else { panic!("not an upgrade") };
    let mut response = Vec::new();
    let server = server_hs.accept(&req, Accept::default(), &mut response).unwrap();
    client_hs.feed(&response);
    let Some(ClientOutcome::Accepted { connection, response, .. }) = client_hs.poll_response().unwrap() else {
        panic!("rejected")
    };
    let ext = response.header("sec-websocket-extensions").map(|v| String::from_utf8(v.to_vec()).unwrap());
    (connection, server, ext)
}

fn with_deflate(d: DeflateConfig) -> Config {
    let mut c = deflating();
    c.deflate = Some(d);
    c
}

/// Sends `msgs` from `from` to `to`, returning the received events and the wire bytes.
fn exchange(from: &mut Connection, to: &mut Connection, msgs: &[(DataKind, Vec<u8>)]) -> (Vec<Event>, Vec<u8>) {
    let mut wire = Vec::new();
    for (kind, data) in msgs {
        from.send(*kind, data, Compress::Auto, &mut wire).unwrap();
    }
    to.feed(&wire).unwrap();
    (drain(to), wire)
}

fn json_like(i: usize) -> Vec<u8> {
    format!(
        "{{\"id\":{i},\"user\":\"user{i}\",\"tags\":[\"a\",\"b\",\"c\"],\"text\":\"{}\"}}",
        "lorem ipsum ".repeat(20)
    )
    .into_bytes()
}

#[test]
fn negotiated_by_default_and_compresses_both_ways() {
    let (mut client, mut server, ext) = pair(deflating(), deflating());
    assert_eq!(ext.as_deref(), Some("permessage-deflate"));
    assert!(client.is_deflate_enabled() && server.is_deflate_enabled());
    let msgs: Vec<_> = (0..20).map(|i| (DataKind::Text, json_like(i))).collect();
    let plain: usize = msgs.iter().map(|(_, m)| m.len()).sum();
    let (events, wire) = exchange(&mut client, &mut server, &msgs);
    assert!(wire.len() * 4 < plain, "context takeover compresses repeated JSON well: {} of {plain}", wire.len());
    let frames = parse_frames(&wire);
    assert!(frames.iter().all(|f| f.rsv == 0b100), "RSV1 on every compressed message");
    for (ev, (_, m)) in events.iter().zip(&msgs) {
        assert_eq!(ev, &Event::Text(String::from_utf8(m.clone()).unwrap().into()));
    }
    let (events, _) = exchange(&mut server, &mut client, &[(DataKind::Binary, vec![42u8; 100_000])]);
    assert_eq!(events, vec![Event::Binary(vec![42u8; 100_000].into())]);
}

#[test]
fn small_messages_and_never_go_uncompressed() {
    let (mut client, mut server, _) = pair(deflating(), deflating());
    let mut wire = Vec::new();
    client.send(DataKind::Text, b"hi", Compress::Auto, &mut wire).unwrap();
    client.send(DataKind::Binary, &[0u8; 5000], Compress::Never, &mut wire).unwrap();
    client.send(DataKind::Text, b"tiny", Compress::Always, &mut wire).unwrap();
    let frames = parse_frames(&wire);
    assert_eq!(frames.iter().map(|f| f.rsv).collect::<Vec<_>>(), vec![0, 0, 0b100]);
    server.feed(&wire).unwrap();
    let events = drain(&mut server);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2], Event::Text("tiny".into()));
}

#[test]
fn no_context_takeover_and_window_bits_are_honoured() {
    let mut d = DeflateConfig::default();
    d.server_no_context_takeover = true;
    d.client_no_context_takeover = true;
    d.server_max_window_bits = Some(10);
    d.client_max_window_bits = Some(9);
    let client_cfg = with_deflate(d);
    let (mut client, mut server, ext) = pair(client_cfg, deflating());
    assert_eq!(
        ext.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9")
    );
    let msgs: Vec<_> = (0..10).map(|i| (DataKind::Text, json_like(i))).collect();
    let (events, wire) = exchange(&mut client, &mut server, &msgs);
    assert_eq!(events.len(), 10);
    // Without context takeover every message compresses alone: identical messages give identical bytes.
    let same = vec![(DataKind::Text, json_like(1)), (DataKind::Text, json_like(1))];
    let (_, wire2) = exchange(&mut server, &mut client, &same);
    let f = parse_frames(&wire2);
    assert_eq!(f[0].payload, f[1].payload);
    assert!(!wire.is_empty());
}

#[test]
fn window_of_8_bits_sends_uncompressed_but_still_receives() {
    let mut d = DeflateConfig::default();
    d.server_max_window_bits = Some(8);
    let client_cfg = with_deflate(d);
    let (mut client, mut server, ext) = pair(client_cfg, deflating());
    assert_eq!(ext.as_deref(), Some("permessage-deflate; server_max_window_bits=8"));
    let (events, wire) = exchange(&mut server, &mut client, &[(DataKind::Text, json_like(3))]);
    assert_eq!(parse_frames(&wire)[0].rsv, 0, "zlib cannot honour an 8-bit window: sent plain");
    assert_eq!(events.len(), 1);
    let (events, wire) = exchange(&mut client, &mut server, &[(DataKind::Text, json_like(3))]);
    assert_eq!(parse_frames(&wire)[0].rsv, 0b100);
    assert_eq!(events.len(), 1);
}

#[test]
fn fragmented_compressed_send_and_streaming_receive() {
    let mut scfg = deflating();
    scfg.receive_mode = ReceiveMode::Streaming;
    let (mut client, mut server, _) = pair(deflating(), scfg);
    let body: Vec<u8> = (0..300_000u32).flat_map(|i| (i % 1000).to_string().into_bytes()).collect();
    let mut wire = Vec::new();
    for (i, chunk) in body.chunks(70_000).enumerate() {
        let last = (i + 1) * 70_000 >= body.len();
        client.send_fragment(DataKind::Binary, chunk, last, &mut wire).unwrap();
    }
    let frames = parse_frames(&wire);
    assert_eq!(frames[0].rsv, 0b100);
    assert!(frames[1..].iter().all(|f| f.rsv == 0), "RSV1 only on the first frame");
    // Byte stream fed in odd pieces.
    let mut got = Vec::new();
    for piece in wire.chunks(1777) {
        server.feed(piece).unwrap();
        for ev in drain(&mut server) {
            let Event::Fragment(f) = ev else { panic!("{ev:?}") };
            assert!(f.data.len() <= 64 * 1024);
            got.extend_from_slice(&f.data);
        }
    }
    assert_eq!(got, body);
}

#[test]
fn rsv1_rules() {
    let (_, mut server, _) = pair(deflating(), deflating());
    // RSV1 on a continuation frame.
    server.feed(&raw_frame(0x41, Some(KEY), b"\x00")).unwrap();
    server.feed(&raw_frame(0xc0, Some(KEY), b"\x00")).unwrap();
    assert_eq!(drain_until_error(&mut server).1, Some(ProtocolError::MisplacedCompressionBit));
    // RSV1 on a ping.
    let (_, mut server, _) = pair(deflating(), deflating());
    server.feed(&raw_frame(0xc9, Some(KEY), b"")).unwrap();
    assert_eq!(drain_until_error(&mut server).1, Some(ProtocolError::MisplacedCompressionBit));
    // RSV1 without the extension.
    let mut plain = deflating();
    plain.deflate = None;
    let (_, mut server, ext) = pair(plain.clone(), plain);
    assert_eq!(ext, None);
    server.feed(&raw_frame(0xc1, Some(KEY), b"\x00")).unwrap();
    assert_eq!(drain_until_error(&mut server).1, Some(ProtocolError::ReservedBits(0b100)));
    // Garbage deflate data → 1007.
    let (_, mut server, _) = pair(deflating(), deflating());
    server.feed(&raw_frame(0xc2, Some(KEY), &[0xff; 20])).unwrap();
    let err = drain_until_error(&mut server).1.unwrap();
    assert_eq!(err, ProtocolError::InvalidCompressedData);
    assert_eq!(err.close_code().0, 1007);
}

#[test]
fn decompression_bomb_stops_at_the_limit() {
    let mut scfg = deflating();
    scfg.max_message_size = 1 << 20;
    let (mut client, mut server, _) = pair(deflating(), scfg);
    let mut wire = Vec::new();
    client.send(DataKind::Binary, &vec![0u8; 16 << 20], Compress::Always, &mut wire).unwrap();
    assert!(wire.len() < 128 * 1024, "16 MiB of zeros compresses to {} bytes", wire.len());
    let mut error = None;
    for piece in wire.chunks(4096) {
        if server.feed(piece).is_err() {
            break;
        }
        let (events, e) = drain_until_error(&mut server);
        assert!(events.is_empty());
        assert!(server.buffered_len() <= (1 << 20) + 64 * 1024, "memory stays near the limit");
        if e.is_some() {
            error = e;
            break;
        }
    }
    assert_eq!(error, Some(ProtocolError::MessageTooLarge { max: 1 << 20 }));
}

#[test]
fn invalid_utf8_inside_compressed_text_fails_fast() {
    let (mut client, mut server, _) = pair(deflating(), deflating());
    let mut text = "ok ".repeat(50_000).into_bytes();
    text[1000] = 0xff;
    let mut wire = Vec::new();
    // Sent as "binary" bytes in a text frame: build a compressed text message by hand via fragments.
    client.send_fragment(DataKind::Text, &text, true, &mut wire).unwrap();
    // Feed only the first part of the frame: the error comes before the rest arrives.
    let cut = wire.len() / 3;
    server.feed(&wire[..cut]).unwrap();
    let (_, err) = drain_until_error(&mut server);
    assert_eq!(err, Some(ProtocolError::InvalidUtf8 { valid_up_to: 1000 }));
}

#[test]
fn compressed_message_with_an_empty_last_frame_then_an_empty_message() {
    let (mut client, mut server, _) = pair(deflating(), deflating());
    let mut wire = Vec::new();
    client.send_fragment(DataKind::Binary, &b"abc".repeat(100), false, &mut wire).unwrap();
    client.send_fragment(DataKind::Binary, b"", true, &mut wire).unwrap();
    client.send(DataKind::Binary, b"", Compress::Always, &mut wire).unwrap();
    client.send(DataKind::Text, b"after", Compress::Always, &mut wire).unwrap();
    let frames = parse_frames(&wire);
    assert_eq!(frames[1].payload, [0x00], "an empty last frame carries an empty stored block's first byte");
    assert_eq!(frames[2].payload, [0x00], "an empty compressed message is 0x00 (RFC 7692 7.2.3.6)");
    server.feed(&wire).unwrap();
    let events = drain(&mut server);
    assert_eq!(
        events,
        vec![
            Event::Binary(b"abc".repeat(100).into()),
            Event::Binary(wsproto::Bytes::new()),
            Event::Text("after".into())
        ]
    );
}

#[test]
fn bfinal_block_message_from_rfc_7692() {
    // RFC 7692 §7.2.3.4: "Hello" compressed with BFINAL set, then an empty stored block; the receiver
    // appends the tail after the end of the stream and must ignore it, then start afresh.
    let (_, mut server, _) = pair(deflating(), deflating());
    server.feed(&raw_frame(0xc1, Some(KEY), &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00])).unwrap();
    server.feed(&raw_frame(0xc1, Some(KEY), &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])).unwrap();
    assert_eq!(drain(&mut server), vec![Event::Text("Hello".into()), Event::Text("Hello".into())]);
}

/// A prepared message compressed once for every server that resets its compressor per message (RFC 7692
/// §7.1.1.1), per distinct parameters; a server with context takeover compresses its own. Every client decodes it.
#[test]
fn prepared_message_is_compressed_once_per_parameter_set() {
    let text = "the same market data for every subscriber ".repeat(50);
    let msg = wsproto::PreparedMessage::new(DataKind::Text, &text);
    let mut stateless = DeflateConfig::default();
    stateless.server_no_context_takeover = true;
    let mut narrow = stateless.clone();
    narrow.server_max_window_bits = Some(10);
    let mut shared = Vec::new();
    for (server_cfg, expect_shared) in [
        (stateless.clone(), true),
        (stateless, true),
        (narrow.clone(), true),
        (narrow, true),
        (DeflateConfig::default(), false),
    ] {
        let (mut client, mut server, _) = pair(deflating(), with_deflate(server_cfg));
        let mut out = Vec::new();
        let frame = server.send_prepared(&msg, &mut out).unwrap();
        assert_eq!(frame.is_some(), expect_shared);
        if let Some(frame) = &frame {
            assert_eq!(frame[0] & 0x40, 0x40, "RSV1: compressed");
            assert!(frame.len() < text.len() / 4, "compressed: {} bytes", frame.len());
            shared.push(frame.clone());
            client.feed(&out).unwrap();
            client.feed(frame).unwrap();
        } else {
            client.feed(&out).unwrap();
        }
        assert_eq!(drain(&mut client), [Event::Text(text.clone().into())]);
    }
    // Two parameter sets, two compressions: each shared by the two servers that have it.
    assert_eq!(shared[0].as_ptr(), shared[1].as_ptr());
    assert_eq!(shared[2].as_ptr(), shared[3].as_ptr());
    assert_ne!(shared[0].as_ptr(), shared[2].as_ptr());
}

//! RFC 6455 §5.7 example frames, end to end through a `Connection`, and the encoder's output.

mod common;

use common::*;
use wsproto::{Bytes, Config, Connection, DataKind, Event, Fragment, Role};

/// Feeds `bytes` in every chunking from all-at-once down to byte-at-a-time, and checks the events are the same.
fn events_any_chunking(role: Role, config: Config, bytes: &[u8]) -> Vec<Event> {
    let mut reference = None;
    for chunk in [bytes.len().max(1), 7, 3, 2, 1] {
        let mut c = conn_with(role, config.clone());
        let mut evs = Vec::new();
        for piece in bytes.chunks(chunk) {
            c.feed(piece).unwrap();
            evs.extend(drain(&mut c));
        }
        match &reference {
            None => reference = Some(evs),
            Some(r) if config.receive_mode == wsproto::ReceiveMode::Whole => assert_eq!(r, &evs, "chunk {chunk}"),
            Some(_) => {}
        }
    }
    reference.unwrap()
}

const UNMASKED_HELLO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const MASKED_HELLO: [u8; 11] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

#[test]
fn unmasked_hello_to_client() {
    let evs = events_any_chunking(Role::Client, Config::default(), &UNMASKED_HELLO);
    assert_eq!(evs, vec![Event::Text("Hello".into())]);
}

#[test]
fn masked_hello_to_server() {
    let evs = events_any_chunking(Role::Server, Config::default(), &MASKED_HELLO);
    assert_eq!(evs, vec![Event::Text("Hello".into())]);
}

#[test]
fn fragmented_hello() {
    let bytes = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let evs = events_any_chunking(Role::Client, Config::default(), &bytes);
    assert_eq!(evs, vec![Event::Text("Hello".into())]);

    // Streaming mode: the chunks as they arrive, first and last marked.
    let mut c = conn_with(Role::Client, streaming());
    c.feed(&bytes).unwrap();
    let evs = drain(&mut c);
    assert_eq!(
        evs,
        vec![
            Event::Fragment(Fragment {
                kind: DataKind::Text,
                data: Bytes::from_static(b"Hel"),
                first: true,
                last: false
            }),
            Event::Fragment(Fragment {
                kind: DataKind::Text,
                data: Bytes::from_static(b"lo"),
                first: false,
                last: true
            }),
        ]
    );
    // Byte at a time in streaming mode: the concatenation is still "Hello".
    let mut c = conn_with(Role::Client, streaming());
    let mut text = Vec::new();
    let mut firsts = 0;
    let mut lasts = 0;
    for b in bytes {
        c.feed(&[b]).unwrap();
        for e in drain(&mut c) {
            let Event::Fragment(f) = e else { panic!("{e:?}") };
            text.extend_from_slice(&f.data);
            firsts += f.first as u32;
            lasts += f.last as u32;
        }
    }
    assert_eq!((text.as_slice(), firsts, lasts), (&b"Hello"[..], 1, 1));
}

#[test]
fn unmasked_ping_to_client_is_answered_with_masked_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let evs = events_any_chunking(Role::Client, Config::default(), &ping);
    assert_eq!(evs, vec![Event::Ping(Bytes::from_static(b"Hello"))]);

    let mut c = conn(Role::Client);
    c.feed(&ping).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Ping(Bytes::from_static(b"Hello"))]);
    assert!(c.has_pending_transmit());
    let out = transmit(&mut c);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].fin, out[0].opcode, out[0].payload.as_slice()), (true, OP_PONG, &b"Hello"[..]));
    assert!(out[0].mask.is_some());
    // Answered once.
    assert!(transmit(&mut c).is_empty());
    assert!(!c.has_pending_transmit());
}

#[test]
fn masked_ping_to_server_is_answered_with_unmasked_pong() {
    let ping = [0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    let mut c = conn(Role::Server);
    c.feed(&ping).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Ping(Bytes::from_static(b"Hello"))]);
    let mut out = Vec::new();
    assert!(c.poll_transmit(&mut out));
    // RFC 6455 §5.7: the unmasked pong.
    assert_eq!(out, [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
}

#[test]
fn pending_pong_goes_out_before_the_next_command() {
    let mut c = conn(Role::Server);
    c.feed(&frame_to(Role::Server, true, OP_PING, b"p")).unwrap();
    drain(&mut c);
    let mut out = Vec::new();
    c.send_text("after", &mut out).unwrap();
    let frames = parse_frames(&out);
    assert_eq!(frames.len(), 2);
    assert_eq!((frames[0].opcode, frames[0].payload.as_slice()), (OP_PONG, &b"p"[..]));
    assert_eq!((frames[1].opcode, frames[1].payload.as_slice()), (OP_TEXT, &b"after"[..]));
    assert!(!c.has_pending_transmit());
}

#[test]
fn every_ping_gets_its_pong_in_order_up_to_the_queue_limit() {
    use wsproto::MAX_PENDING_PONGS;
    let mut c = conn(Role::Server);
    for i in 0..3u8 {
        c.feed(&frame_to(Role::Server, true, OP_PING, &[i])).unwrap();
    }
    assert_eq!(drain(&mut c).len(), 3);
    let pongs: Vec<_> = transmit(&mut c).into_iter().map(|f| (f.opcode, f.payload)).collect();
    assert_eq!(pongs, vec![(OP_PONG, vec![0]), (OP_PONG, vec![1]), (OP_PONG, vec![2])]);

    // A flood: every ping is reported, only the latest MAX_PENDING_PONGS are answered, oldest dropped.
    let n = MAX_PENDING_PONGS + 10;
    for i in 0..n {
        c.feed(&frame_to(Role::Server, true, OP_PING, &(i as u32).to_be_bytes())).unwrap();
    }
    assert_eq!(drain(&mut c).len(), n);
    let pongs: Vec<_> = transmit(&mut c).into_iter().map(|f| f.payload).collect();
    let expected: Vec<_> = (10..n).map(|i| (i as u32).to_be_bytes().to_vec()).collect();
    assert_eq!(pongs, expected);
}

#[test]
fn auto_pong_can_be_disabled() {
    let mut config = Config::default();
    config.auto_pong = false;
    let mut c = conn_with(Role::Server, config);
    c.feed(&frame_to(Role::Server, true, OP_PING, b"x")).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Ping(Bytes::from_static(b"x"))]);
    assert!(transmit(&mut c).is_empty());
}

#[test]
fn masked_pong_to_server() {
    let pong = [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    let evs = events_any_chunking(Role::Server, Config::default(), &pong);
    assert_eq!(evs, vec![Event::Pong(Bytes::from_static(b"Hello"))]);
    let mut c = conn(Role::Server);
    c.feed(&pong).unwrap();
    drain(&mut c);
    assert!(transmit(&mut c).is_empty(), "a pong is not answered");
}

#[test]
fn binary_256_bytes_16_bit_length() {
    let payload: Vec<u8> = (0..256u32).map(|i| i as u8).collect();
    let mut bytes = vec![0x82, 0x7e, 0x01, 0x00];
    bytes.extend_from_slice(&payload);
    let evs = events_any_chunking(Role::Client, Config::default(), &bytes);
    assert_eq!(evs, vec![Event::Binary(payload.clone().into())]);

    // And the server encodes it with exactly that header.
    let mut s = conn(Role::Server);
    let mut out = Vec::new();
    s.send_binary(&payload, &mut out).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn binary_64k_64_bit_length() {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut bytes = vec![0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    bytes.extend_from_slice(&payload);
    let mut c = conn(Role::Client);
    c.feed(&bytes).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Binary(payload.clone().into())]);
    // Arbitrary chunking.
    let mut c = conn(Role::Client);
    let mut evs = Vec::new();
    for piece in bytes.chunks(4093) {
        c.feed(piece).unwrap();
        evs.extend(drain(&mut c));
    }
    assert_eq!(evs, vec![Event::Binary(payload.clone().into())]);
    // The same frame masked, to a server.
    let masked = raw_frame(0x82, Some(KEY), &payload);
    // Same header with the MASK bit and the key.
    assert_eq!(masked[..14], [0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0x37, 0xfa, 0x21, 0x3d]);
    let mut s = conn(Role::Server);
    for piece in masked.chunks(1001) {
        s.feed(piece).unwrap();
    }
    assert_eq!(drain(&mut s), vec![Event::Binary(payload.clone().into())]);

    let mut out = Vec::new();
    conn(Role::Server).send_binary(&payload, &mut out).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn length_form_boundaries() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
        let payload = vec![0xa5u8; len];
        let mut out = Vec::new();
        conn(Role::Server).send_binary(&payload, &mut out).unwrap();
        let header_len = match len {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        };
        assert_eq!(out.len(), header_len + len, "len {len}");
        let frames = parse_frames(&out);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].payload, payload);
        // And the client's masked encoding is read back by a server.
        let mut client = conn(Role::Client);
        let mut out = Vec::new();
        client.send_binary(&payload, &mut out).unwrap();
        assert_eq!(out.len(), header_len + 4 + len);
        let mut server = conn(Role::Server);
        server.feed(&out).unwrap();
        assert_eq!(drain(&mut server), vec![Event::Binary(payload.into())]);
    }
}

#[test]
fn server_send_text_hello_is_the_rfc_bytes() {
    let mut s = conn(Role::Server);
    let mut out = Vec::new();
    s.send_text("Hello", &mut out).unwrap();
    assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
}

#[test]
fn client_output_is_masked_and_unmasks_to_the_payload() {
    let mut c = conn(Role::Client);
    let mut out = Vec::new();
    c.send_text("Hello", &mut out).unwrap();
    assert_eq!(out.len(), 2 + 4 + 5);
    assert_eq!(out[0], 0x81);
    assert_eq!(out[1], 0x85, "MASK bit set, length 5");
    let frames = parse_frames(&out);
    assert_eq!(frames.len(), 1);
    assert!(frames[0].mask.is_some());
    assert_eq!(frames[0].payload, b"Hello");
    assert_ne!(&out[6..], b"Hello", "payload on the wire is masked");
}

#[test]
fn client_frames_use_fresh_masking_keys() {
    let mut c = conn(Role::Client);
    let mut keys = Vec::new();
    for i in 0..16 {
        let mut out = Vec::new();
        match i % 4 {
            0 => c.send_text("same", &mut out).unwrap(),
            1 => c.send_binary(b"same", &mut out).unwrap(),
            2 => c.send_ping(b"same", &mut out).unwrap(),
            _ => c.send_pong(b"same", &mut out).unwrap(),
        }
        let f = parse_frames(&out).remove(0);
        assert_eq!(f.payload, b"same");
        keys.push(f.mask.unwrap());
    }
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "masking keys repeat: {keys:?}");
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let script = |seed: [u8; 32]| {
        let mut c = Connection::new(Role::Client, Config::default(), seed).unwrap();
        let mut out = Vec::new();
        c.send_text("Hello", &mut out).unwrap();
        c.send_binary(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &mut out).unwrap();
        c.send_fragment(DataKind::Text, b"ab", false, &mut out).unwrap();
        c.send_ping(b"p", &mut out).unwrap();
        c.send_fragment(DataKind::Text, b"cd", true, &mut out).unwrap();
        c.close(wsproto::CloseCode::NORMAL, "bye", &mut out).unwrap();
        out
    };
    assert_eq!(script([1; 32]), script([1; 32]));
    assert_ne!(script([1; 32]), script([2; 32]));
    // Both decode to the same frames.
    let a = parse_frames(&script([1; 32]));
    let b = parse_frames(&script([2; 32]));
    let strip = |v: Vec<Wire>| v.into_iter().map(|f| (f.fin, f.opcode, f.payload)).collect::<Vec<_>>();
    assert_eq!(strip(a), strip(b));
}

#[test]
fn send_fragment_encodes_continuations_with_interleaved_control() {
    let mut s = conn(Role::Server);
    let mut out = Vec::new();
    s.send_fragment(DataKind::Binary, b"ab", false, &mut out).unwrap();
    s.send_ping(b"!", &mut out).unwrap();
    s.send_fragment(DataKind::Binary, b"", false, &mut out).unwrap();
    s.send_fragment(DataKind::Binary, b"cd", true, &mut out).unwrap();
    let f: Vec<_> = parse_frames(&out).into_iter().map(|f| (f.fin, f.opcode, f.payload)).collect();
    assert_eq!(
        f,
        vec![
            (false, OP_BINARY, b"ab".to_vec()),
            (true, OP_PING, b"!".to_vec()),
            (false, OP_CONT, vec![]),
            (true, OP_CONT, b"cd".to_vec()),
        ]
    );
    // A client reassembles it, reporting the ping in between.
    let mut c = conn(Role::Client);
    c.feed(&out).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Ping(Bytes::from_static(b"!")), Event::Binary(Bytes::from_static(b"abcd"))]);
}

#[test]
fn empty_messages() {
    let mut c = conn(Role::Client);
    c.feed(&frame_to(Role::Client, true, OP_TEXT, b"")).unwrap();
    c.feed(&frame_to(Role::Client, true, OP_BINARY, b"")).unwrap();
    c.feed(&frame_to(Role::Client, false, OP_TEXT, b"")).unwrap();
    c.feed(&frame_to(Role::Client, true, OP_CONT, b"")).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Text("".into()), Event::Binary(Bytes::new()), Event::Text("".into())]);
    let mut c = conn_with(Role::Client, streaming());
    c.feed(&frame_to(Role::Client, true, OP_BINARY, b"")).unwrap();
    assert_eq!(
        drain(&mut c),
        vec![Event::Fragment(Fragment { kind: DataKind::Binary, data: Bytes::new(), first: true, last: true })]
    );
}

#[test]
fn many_frames_in_one_feed() {
    let mut bytes = Vec::new();
    for i in 0..100 {
        bytes.extend(frame_to(Role::Server, true, OP_TEXT, format!("m{i}").as_bytes()));
    }
    let mut s = conn(Role::Server);
    s.feed(&bytes).unwrap();
    let evs = drain(&mut s);
    assert_eq!(evs.len(), 100);
    for (i, e) in evs.into_iter().enumerate() {
        assert_eq!(e, Event::Text(format!("m{i}").into()));
    }
    assert_eq!(s.buffered_len(), 0);
}

#[test]
fn read_buf_feeds_without_a_copy_and_respects_the_capacity() {
    use bytes::BufMut;
    let mut config = Config::default();
    config.receive_mode = wsproto::ReceiveMode::Streaming;
    config.max_buffered = 1000;
    let mut server = Connection::new(Role::Server, config, [0; 32]).unwrap();
    let frame = raw_frame(0x82, Some(KEY), &[9u8; 600]);
    let mut buf = server.read_buf(usize::MAX).expect("room to read");
    assert_eq!(buf.remaining_mut(), 1000, "capped by max_buffered");
    buf.put_slice(&frame[..300]);
    assert_eq!(server.recv_capacity(), 700);
    let mut got = Vec::new();
    for ev in drain(&mut server) {
        let Event::Fragment(f) = ev else { panic!("{ev:?}") };
        got.extend_from_slice(&f.data);
    }
    server.read_buf(4096).unwrap().put_slice(&frame[300..]);
    for ev in drain(&mut server) {
        let Event::Fragment(f) = ev else { panic!("{ev:?}") };
        got.extend_from_slice(&f.data);
    }
    assert_eq!(got, vec![9u8; 600]);
    // Once the peer's close arrived nothing more is read.
    server.read_buf(100).unwrap().put_slice(&close_to(Role::Server, 1000, b""));
    assert!(matches!(server.poll_event(), Ok(Some(Event::Close(_)))));
    assert!(server.read_buf(100).is_none());
}

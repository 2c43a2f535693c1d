//! The closing handshake (RFC 6455 §5.5.1, §7.1): who replies, what is echoed, who closes the transport.

mod common;

use common::*;
use wsproto::{Bytes, CloseCode, CloseFrame, CloseOutcome, Connection, DataKind, Event, Role, SendError};

fn frame(code: Option<u16>, reason: &str) -> CloseFrame {
    CloseFrame { code: code.map(CloseCode), reason: reason.into() }
}

/// Moves `bytes` into `to` and returns its events.
fn deliver(to: &mut Connection, bytes: &[u8]) -> Vec<Event> {
    to.feed(bytes).unwrap();
    drain(to)
}

#[test]
fn peer_initiated_close_to_server() {
    let mut s = conn(Role::Server);
    s.feed(&close_to(Role::Server, 1000, b"bye")).unwrap();
    assert!(!s.wants_transport_closed(), "nothing processed yet");
    assert_eq!(drain(&mut s), vec![Event::Close(frame(Some(1000), "bye"))]);
    assert!(s.is_finished());
    assert!(s.is_closing());
    assert!(s.has_pending_transmit());
    // The reply echoes the code.
    let out = transmit(&mut s);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].close().0, Some(1000));
    assert!(s.wants_transport_closed());
    assert_eq!(
        s.close_outcome(),
        Some(&CloseOutcome::Clean { remote: frame(Some(1000), "bye"), initiated_locally: false })
    );
    assert_eq!(s.close_outcome().unwrap().code(), CloseCode::NORMAL);
    // No more events, no more sends.
    assert_eq!(s.poll_event(), Ok(None));
    let mut buf = Vec::new();
    assert_eq!(s.send_text("late", &mut buf), Err(SendError::Closing));
    assert_eq!(s.close(CloseCode::NORMAL, "", &mut buf), Err(SendError::Closing));
    assert!(buf.is_empty());
    assert!(transmit(&mut s).is_empty());
}

#[test]
fn peer_initiated_close_to_client_waits_for_eof() {
    let mut c = conn(Role::Client);
    c.feed(&close_to(Role::Client, 4001, b"custom")).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Close(frame(Some(4001), "custom"))]);
    let out = transmit(&mut c);
    assert_eq!(out.len(), 1);
    assert!(out[0].mask.is_some());
    assert_eq!(out[0].close().0, Some(4001));
    // RFC 6455 §7.1.1: the server closes TCP first; the client waits.
    assert!(!c.wants_transport_closed());
    c.feed_eof();
    assert!(c.wants_transport_closed());
    assert_eq!(c.poll_event(), Ok(None), "EOF after a clean close is not an error");
    assert_eq!(
        c.close_outcome(),
        Some(&CloseOutcome::Clean { remote: frame(Some(4001), "custom"), initiated_locally: false })
    );
}

#[test]
fn empty_close_is_echoed_empty() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role);
        c.feed(&frame_to(role, true, OP_CLOSE, b"")).unwrap();
        let evs = drain(&mut c);
        assert_eq!(evs, vec![Event::Close(frame(None, ""))]);
        let Event::Close(f) = &evs[0] else { unreachable!() };
        assert_eq!(f.code_or_no_status(), CloseCode::NO_STATUS);
        let out = transmit(&mut c);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].payload, b"");
        assert_eq!(c.close_outcome().unwrap().code(), CloseCode::NO_STATUS);
    }
}

#[test]
fn bytes_after_the_peers_close_are_ignored() {
    let mut s = conn(Role::Server);
    let mut bytes = close_to(Role::Server, 1001, b"");
    bytes.extend(frame_to(Role::Server, true, OP_TEXT, b"after close"));
    bytes.extend(frame_to(Role::Server, true, OP_PING, b"after close"));
    s.feed(&bytes).unwrap();
    assert_eq!(drain(&mut s), vec![Event::Close(frame(Some(1001), ""))]);
    s.feed(&frame_to(Role::Server, true, OP_TEXT, b"later")).unwrap();
    assert_eq!(drain(&mut s), vec![]);
    assert_eq!(s.buffered_len(), 0);
    let out = transmit(&mut s);
    assert_eq!(out.len(), 1, "only the close reply: {out:?}");
    assert_eq!(out[0].opcode, OP_CLOSE);
}

#[test]
fn locally_initiated_close_still_delivers_data_until_the_peers_close() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role);
        let mut out = Vec::new();
        c.close(CloseCode::GOING_AWAY, "leaving", &mut out).unwrap();
        let f = parse_frames(&out);
        assert_masking(role, &f);
        assert_eq!(f[0].close(), (Some(1001), "leaving".to_string()));
        assert!(c.is_closing());
        assert!(!c.is_finished());
        assert!(!c.wants_transport_closed());
        assert_eq!(c.close_outcome(), None);

        // Data in flight from the peer is still delivered.
        let mut bytes = frame_to(role, true, OP_TEXT, b"in flight");
        bytes.extend(frame_to(role, false, OP_BINARY, b"frag"));
        bytes.extend(frame_to(role, true, OP_CONT, b"ment"));
        bytes.extend(frame_to(role, true, OP_PONG, b"pong"));
        assert_eq!(
            deliver(&mut c, &bytes),
            vec![
                Event::Text("in flight".into()),
                Event::Binary(Bytes::from_static(b"fragment")),
                Event::Pong(Bytes::from_static(b"pong"))
            ]
        );
        // Then the peer's close: no reply (ours already went), outcome Clean, initiated locally.
        assert_eq!(deliver(&mut c, &close_to(role, 1000, b"ok")), vec![Event::Close(frame(Some(1000), "ok"))]);
        assert!(transmit(&mut c).is_empty());
        assert_eq!(
            c.close_outcome(),
            Some(&CloseOutcome::Clean { remote: frame(Some(1000), "ok"), initiated_locally: true })
        );
        assert_eq!(c.wants_transport_closed(), role == Role::Server);
        c.feed_eof();
        assert!(c.wants_transport_closed());
        assert_eq!(c.poll_event(), Ok(None));
    }
}

#[test]
fn full_handshake_between_a_client_and_a_server() {
    for initiator in [Role::Client, Role::Server] {
        let mut client = conn(Role::Client);
        let mut server = conn(Role::Server);
        let (a, b) = match initiator {
            Role::Client => (&mut client, &mut server),
            Role::Server => (&mut server, &mut client),
        };
        let mut out = Vec::new();
        a.close(CloseCode::NORMAL, "done", &mut out).unwrap();
        assert_eq!(deliver(b, &out), vec![Event::Close(frame(Some(1000), "done"))]);
        let mut reply = Vec::new();
        assert!(b.poll_transmit(&mut reply));
        assert_eq!(deliver(a, &reply), vec![Event::Close(frame(Some(1000), ""))]);
        assert_eq!(
            a.close_outcome(),
            Some(&CloseOutcome::Clean { remote: frame(Some(1000), ""), initiated_locally: true })
        );
        assert_eq!(
            b.close_outcome(),
            Some(&CloseOutcome::Clean { remote: frame(Some(1000), "done"), initiated_locally: false })
        );
        assert!(server.wants_transport_closed());
        assert!(!client.wants_transport_closed());
        client.feed_eof();
        assert!(client.wants_transport_closed());
    }
}

#[test]
fn simultaneous_close() {
    let mut client = conn(Role::Client);
    let mut server = conn(Role::Server);
    let mut from_client = Vec::new();
    let mut from_server = Vec::new();
    client.close(CloseCode::NORMAL, "c", &mut from_client).unwrap();
    server.close(CloseCode::GOING_AWAY, "s", &mut from_server).unwrap();
    assert_eq!(deliver(&mut server, &from_client), vec![Event::Close(frame(Some(1000), "c"))]);
    assert_eq!(deliver(&mut client, &from_server), vec![Event::Close(frame(Some(1001), "s"))]);
    assert!(transmit(&mut client).is_empty());
    assert!(transmit(&mut server).is_empty());
    assert_eq!(
        client.close_outcome(),
        Some(&CloseOutcome::Clean { remote: frame(Some(1001), "s"), initiated_locally: true })
    );
    assert_eq!(
        server.close_outcome(),
        Some(&CloseOutcome::Clean { remote: frame(Some(1000), "c"), initiated_locally: true })
    );
    assert!(server.wants_transport_closed());
}

#[test]
fn close_without_code() {
    let mut client = conn(Role::Client);
    let mut server = conn(Role::Server);
    let mut out = Vec::new();
    client.close_without_code(&mut out).unwrap();
    assert_eq!(parse_frames(&out)[0].payload, b"");
    assert_eq!(deliver(&mut server, &out), vec![Event::Close(frame(None, ""))]);
    let reply = transmit(&mut server);
    assert_eq!(reply[0].payload, b"");
    let mut reply = Vec::new();
    assert!(!server.poll_transmit(&mut reply), "already taken");
}

#[test]
fn peer_closes_during_an_incoming_fragmented_message() {
    for mode in [wsproto::Config::default(), streaming()] {
        let mut s = conn_with(Role::Server, mode);
        let mut bytes = frame_to(Role::Server, false, OP_TEXT, b"unfinished ");
        bytes.extend(close_to(Role::Server, 1000, b""));
        s.feed(&bytes).unwrap();
        let evs = drain(&mut s);
        // The unfinished message is never delivered as a whole (in streaming mode, its first chunk may be).
        assert!(!evs.iter().any(|e| matches!(e, Event::Text(_))), "{evs:?}");
        assert_eq!(evs.last(), Some(&Event::Close(frame(Some(1000), ""))));
        assert_eq!(transmit(&mut s)[0].close().0, Some(1000));
        // The rest of the message, if it comes, is ignored.
        s.feed(&frame_to(Role::Server, true, OP_CONT, b"message")).unwrap();
        assert_eq!(drain(&mut s), vec![]);
        assert_eq!(s.buffered_len(), 0);
    }
}

#[test]
fn we_close_during_an_incoming_fragmented_message() {
    let mut s = conn(Role::Server);
    s.feed(&frame_to(Role::Server, false, OP_BINARY, b"ab")).unwrap();
    assert_eq!(drain(&mut s), vec![]);
    let mut out = Vec::new();
    s.close(CloseCode::NORMAL, "", &mut out).unwrap();
    // The peer finishes its message, then closes: the message is delivered.
    s.feed(&frame_to(Role::Server, true, OP_CONT, b"cd")).unwrap();
    s.feed(&close_to(Role::Server, 1000, b"")).unwrap();
    assert_eq!(drain(&mut s), vec![Event::Binary(Bytes::from_static(b"abcd")), Event::Close(frame(Some(1000), ""))]);
}

#[test]
fn close_during_an_outgoing_fragmented_message() {
    // We close in the middle of sending a fragmented message (control frames may interleave, §5.4).
    let mut client = conn(Role::Client);
    let mut server = conn(Role::Server);
    let mut out = Vec::new();
    client.send_fragment(DataKind::Text, b"half a ", false, &mut out).unwrap();
    client.close(CloseCode::NORMAL, "abandon", &mut out).unwrap();
    assert_eq!(client.send_fragment(DataKind::Text, b"message", true, &mut Vec::new()), Err(SendError::Closing));
    let evs = deliver(&mut server, &out);
    assert_eq!(evs, vec![Event::Close(frame(Some(1000), "abandon"))]);
    let mut reply = Vec::new();
    server.poll_transmit(&mut reply);
    assert_eq!(deliver(&mut client, &reply), vec![Event::Close(frame(Some(1000), ""))]);
    assert!(matches!(client.close_outcome(), Some(CloseOutcome::Clean { initiated_locally: true, .. })));

    // The peer closes while we are in the middle of sending: we reply, and the rest cannot be sent.
    let mut server = conn(Role::Server);
    let mut out = Vec::new();
    server.send_fragment(DataKind::Binary, b"12", false, &mut out).unwrap();
    server.feed(&close_to(Role::Server, 1001, b"")).unwrap();
    assert_eq!(drain(&mut server), vec![Event::Close(frame(Some(1001), ""))]);
    assert_eq!(server.send_fragment(DataKind::Binary, b"34", true, &mut out), Err(SendError::Closing));
    let f = transmit(&mut server);
    assert_eq!(f[0].close().0, Some(1001));
    assert!(server.wants_transport_closed());
}

#[test]
fn ping_after_our_close_is_reported_but_not_answered() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role);
        let mut out = Vec::new();
        c.close(CloseCode::NORMAL, "", &mut out).unwrap();
        assert_eq!(
            deliver(&mut c, &frame_to(role, true, OP_PING, b"late")),
            vec![Event::Ping(Bytes::from_static(b"late"))]
        );
        assert!(!c.has_pending_transmit());
        assert!(transmit(&mut c).is_empty());
    }
}

#[test]
fn pending_pong_is_flushed_before_our_close() {
    let mut s = conn(Role::Server);
    s.feed(&frame_to(Role::Server, true, OP_PING, b"first")).unwrap();
    drain(&mut s);
    let mut out = Vec::new();
    s.close(CloseCode::NORMAL, "", &mut out).unwrap();
    let f = parse_frames(&out);
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].opcode, f[0].payload.as_slice()), (OP_PONG, &b"first"[..]));
    assert_eq!(f[1].opcode, OP_CLOSE);
    assert!(transmit(&mut s).is_empty());
}

#[test]
fn pending_pong_is_dropped_when_the_peer_closes() {
    // The peer's close ends what we may send: only the close reply goes out.
    let mut s = conn(Role::Server);
    let mut bytes = frame_to(Role::Server, true, OP_PING, b"p");
    bytes.extend(close_to(Role::Server, 1000, b""));
    s.feed(&bytes).unwrap();
    assert_eq!(drain(&mut s), vec![Event::Ping(Bytes::from_static(b"p")), Event::Close(frame(Some(1000), ""))]);
    let f = transmit(&mut s);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].opcode, OP_CLOSE);
}

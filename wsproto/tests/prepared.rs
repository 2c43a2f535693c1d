//! `PreparedMessage`: framed once; every server connection sends the same bytes, with no copy; a client
//! masks its own; what each peer receives is the message.

mod common;

use common::*;
use wsproto::{Config, DataKind, Event, PreparedMessage, Role, SendError};

fn plain() -> Config {
    Config::default().with_deflate(None)
}

#[test]
fn servers_share_one_frame_and_peers_receive_the_message() {
    let msg = PreparedMessage::new(DataKind::Binary, vec![9u8; 70_000]);
    let mut expected = Vec::new();
    conn_with(Role::Server, plain()).send_binary(msg.payload(), &mut expected).unwrap();
    assert_eq!(&msg.frame()[..], &expected[..], "the prepared frame is what send_binary encodes");
    for _ in 0..3 {
        let mut server = conn_with(Role::Server, plain());
        let mut out = Vec::new();
        let frame = server.send_prepared(&msg, &mut out).unwrap().expect("shared");
        assert_eq!(frame.as_ptr(), msg.frame().as_ptr(), "no copy per connection");
        let mut client = conn_with(Role::Client, plain());
        client.feed(&out).unwrap();
        client.feed(&frame).unwrap();
        assert_eq!(drain(&mut client), [Event::Binary(vec![9u8; 70_000].into())]);
    }
}

#[test]
fn pending_frames_go_first_and_the_rules_of_send_hold() {
    let msg = PreparedMessage::new(DataKind::Text, "hello");
    let mut server = conn_with(Role::Server, plain());
    server.feed(&frame_to(Role::Server, true, OP_PING, b"p")).unwrap();
    drain(&mut server);
    let mut out = Vec::new();
    let frame = server.send_prepared(&msg, &mut out).unwrap().unwrap();
    let mut wire = out.clone();
    wire.extend_from_slice(&frame);
    let frames = parse_frames(&wire);
    assert_eq!((frames[0].opcode, frames[1].opcode), (OP_PONG, OP_TEXT), "the queued pong first");
    out.clear();
    server.send_fragment(DataKind::Binary, b"a", false, &mut out).unwrap();
    assert_eq!(server.send_prepared(&msg, &mut out), Err(SendError::FragmentInProgress));
}

#[test]
fn a_client_masks_its_own_copy() {
    let msg = PreparedMessage::new(DataKind::Text, "to the server");
    let mut client = conn_with(Role::Client, plain());
    let mut out = Vec::new();
    assert_eq!(client.send_prepared(&msg, &mut out), Ok(None));
    let frames = parse_frames(&out);
    assert!(frames[0].mask.is_some());
    assert_eq!(frames[0].payload, b"to the server");
}

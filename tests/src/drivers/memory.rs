//! The core's in-memory pair: a client and a server connection with bytes moved between them by hand, on a
//! virtual clock that jumps to the next deadline whenever neither end can make progress. No sockets, no
//! threads, no real time: a conversation with a 300 ms deadline takes microseconds.

use std::collections::VecDeque;

use wsproto::Instant;

use crate::machine::{ClientMachine, Machine, ServerMachine};
use crate::{Conversation, Driver, Report};

/// The in-memory pair.
pub struct Memory;

/// One direction of the pipe: bytes in flight, and whether the writer closed it.
#[derive(Default)]
struct Pipe {
    bytes: VecDeque<u8>,
    closed: bool,
    eof_delivered: bool,
}

/// Moves one end's output into its pipe, and the other pipe's bytes (or EOF) into it. Whether anything moved.
fn step(end: &mut dyn Machine, ended: &mut bool, outgoing: &mut Pipe, incoming: &mut Pipe, now: Instant) -> bool {
    if *ended {
        incoming.bytes.clear(); // writes to a closed transport go nowhere
        return false;
    }
    let mut moved = false;
    end.handle_timeout(now);
    end.poll();
    let out = end.take_output();
    if !out.is_empty() && !outgoing.closed {
        outgoing.bytes.extend(out);
        moved = true;
    }
    if end.wants_transport_closed() {
        outgoing.closed = true;
        *ended = true;
        return true;
    }
    if !incoming.bytes.is_empty() {
        let n = end.recv_capacity().min(incoming.bytes.len());
        let chunk: Vec<u8> = incoming.bytes.drain(..n).collect();
        end.feed(&chunk);
        moved |= n > 0;
    } else if incoming.closed && !incoming.eof_delivered {
        incoming.eof_delivered = true;
        end.feed_eof();
        moved = true;
    }
    moved
}

impl Driver for Memory {
    const NAME: &'static str = "memory";

    fn run(conversation: &Conversation) -> Report {
        let mut client = ClientMachine::new(conversation, "memory.test");
        let mut server = ServerMachine::new(conversation);
        let (mut c2s, mut s2c) = (Pipe::default(), Pipe::default());
        let (mut client_ended, mut server_ended) = (false, false);
        let mut now = Instant::ZERO;
        for _ in 0..1_000_000 {
            let a = step(&mut client, &mut client_ended, &mut c2s, &mut s2c, now);
            let b = step(&mut server, &mut server_ended, &mut s2c, &mut c2s, now);
            if client_ended && server_ended {
                break;
            }
            if !a && !b {
                // Nothing moves: time passes, to the next deadline of either end.
                let next = [client.poll_timeout(), server.poll_timeout()].into_iter().flatten().min();
                match next {
                    Some(t) if t > now => now = t,
                    Some(_) => {}
                    None => break, // stuck: the checks say what is missing
                }
            }
        }
        Report { client: client.report().clone(), server: server.report().clone() }
    }
}

//! `batch`: [`Connection::poll_batch`] (borrowed, batched, with its in-place fast path for whole and
//! gathered fragmented messages) against [`Connection::poll_event`] (owned, one at a time), on arbitrary bytes.
//!
//! Input: the [`prelude`](crate::prelude) of the connection targets (same flags and presets, see
//! [`conn`](crate::conn)), plus flag bit 4: client role (else server), and bits 5–6: the handler breaks after
//! every k-th event (k = 0: never). Every data message is echoed, so the output covers the send side too.
//!
//! Invariants, for the input's chunks and for all at once: no panic; both drives see the same events (as owned
//! copies), the same final error, and write the same bytes (echoes, pongs, close frames); `poll_batch`
//! returns the number of events it handled.

use std::ops::ControlFlow;

use wsproto::{Connection, Event, EventRef, ProtocolError, Role};

use crate::conn::config_for;
use crate::prelude::Prelude;

#[derive(Debug, PartialEq)]
struct Seen {
    events: Vec<Event>,
    error: Option<ProtocolError>,
    out: Vec<u8>,
}

pub fn batch(input: &[u8]) {
    let Some(p) = Prelude::parse(input) else { return };
    let role = if p.flags & 0x10 != 0 { Role::Client } else { Role::Server };
    let stop_every = ((p.flags >> 5) & 3) as usize;
    for chunks in [p.chunks(), vec![p.data]] {
        let owned = drive(role, p.flags, p.preset, &chunks, None);
        let batched = drive(role, p.flags, p.preset, &chunks, Some(stop_every));
        assert_eq!(batched, owned, "poll_batch and poll_event disagree");
    }
}

/// Feeds `chunks` (each in pieces of at most `recv_capacity`), draining events after every piece with
/// `poll_event` (`batched` None) or `poll_batch` breaking every k-th event (`Some(k)`, 0: never).
fn drive(role: Role, flags: u8, preset: u8, chunks: &[&[u8]], batched: Option<usize>) -> Seen {
    let mut conn = Connection::new(role, config_for(flags, preset), [9; 32]).expect("valid config");
    let mut seen = Seen { events: Vec::new(), error: None, out: Vec::new() };
    'feed: for chunk in chunks {
        let mut rest = *chunk;
        loop {
            let n = rest.len().min(conn.recv_capacity());
            if conn.is_finished() {
                break 'feed;
            }
            conn.feed(&rest[..n]).expect("within recv_capacity");
            rest = &rest[n..];
            if let Err(e) = drain(&mut conn, &mut seen, batched) {
                seen.error = Some(e);
                break 'feed;
            }
            if rest.is_empty() {
                break;
            }
            assert!(conn.recv_capacity() > 0 || conn.is_finished(), "a full buffer yields an event");
        }
    }
    conn.poll_transmit(&mut seen.out);
    seen
}

fn drain(conn: &mut Connection, seen: &mut Seen, batched: Option<usize>) -> Result<(), ProtocolError> {
    let Some(k) = batched else {
        while let Some(ev) = conn.poll_event()? {
            match &ev {
                Event::Text(t) => conn.send_text(t, &mut seen.out).unwrap_or(()),
                Event::Binary(b) => conn.send_binary(b, &mut seen.out).unwrap_or(()),
                _ => {}
            }
            seen.events.push(ev);
        }
        return Ok(());
    };
    loop {
        let mut handled = 0;
        let events = &mut seen.events;
        let n = conn.poll_batch(&mut seen.out, |ev, tx| {
            match ev {
                EventRef::Text(t) => tx.send_text(t).unwrap_or(()),
                EventRef::Binary(b) => tx.send_binary(b).unwrap_or(()),
                _ => {}
            }
            events.push(ev.to_event());
            handled += 1;
            if k > 0 && handled % k == 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        assert_eq!(n, handled, "poll_batch counts the events it handled");
        if n == 0 || k == 0 || n % k != 0 {
            return Ok(());
        }
    }
}

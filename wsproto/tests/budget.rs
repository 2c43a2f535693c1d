//! A memory budget shared by connections (`Config::budget`): past its floor, a connection draws from the pool;
//! one that would grow while the pool is spent fails with 1013, the others keep working, and everything drawn
//! comes back when a connection ends.

mod common;

use common::*;
use wsproto::{Budget, CloseCode, Config, Event, ProtocolError, Role};

const KIB: usize = 1 << 10;

fn budgeted(budget: &Budget) -> Config {
    Config::default().with_budget(Some(budget.clone())).with_budget_floor(64 * KIB)
}

#[test]
fn a_greedy_peer_gets_1013_and_the_others_keep_working() {
    let budget = Budget::new(1024 * KIB);
    let mut greedy = conn_with(Role::Server, budgeted(&budget));
    let mut honest = conn_with(Role::Server, budgeted(&budget));

    // The greedy peer starts a 4 MiB message (one frame) and sends it 64 KiB at a time.
    let frame = frame_to(Role::Server, true, OP_BINARY, &vec![7u8; 4096 * KIB]);
    let mut failed = None;
    for chunk in frame.chunks(64 * KIB) {
        greedy.feed(chunk).unwrap();
        match greedy.poll_event() {
            Ok(_) => {}
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        assert!(budget.used() <= budget.limit());
        // Meanwhile the honest peer's small messages go through, within its floor.
        honest.feed(&frame_to(Role::Server, true, OP_TEXT, b"still here")).unwrap();
        assert_eq!(drain(&mut honest), [Event::Text("still here".into())]);
    }
    assert_eq!(failed, Some(ProtocolError::BudgetExhausted));
    let close = transmit(&mut greedy);
    assert_eq!(close[0].close().0, Some(CloseCode::TRY_AGAIN_LATER.0));
    assert_eq!(budget.used(), 0, "the failed connection gave everything back");

    // With the pool free again, the honest peer can take a large message.
    let big = frame_to(Role::Server, true, OP_BINARY, &vec![1u8; 512 * KIB]);
    for chunk in big.chunks(64 * KIB) {
        honest.feed(chunk).unwrap();
    }
    assert!(matches!(drain(&mut honest).as_slice(), [Event::Binary(b)] if b.len() == 512 * KIB));
}

#[test]
fn what_is_drawn_comes_back_when_a_connection_ends_or_is_dropped() {
    let budget = Budget::new(4096 * KIB);
    let mut a = conn_with(Role::Client, budgeted(&budget));
    let half = frame_to(Role::Client, true, OP_BINARY, &vec![3u8; 1024 * KIB]);
    a.feed(&half[..900 * KIB]).unwrap();
    assert_eq!(a.poll_event(), Ok(None));
    let drawn = budget.used();
    assert!(drawn >= 800 * KIB, "past the floor, the receive buffer is drawn from the pool: {drawn}");
    drop(a);
    assert_eq!(budget.used(), 0);
}

#[test]
fn small_traffic_never_touches_the_pool() {
    let budget = Budget::new(0);
    let mut conns: Vec<_> = (0..100).map(|_| conn_with(Role::Server, budgeted(&budget))).collect();
    for c in &mut conns {
        for _ in 0..10 {
            c.feed(&frame_to(Role::Server, true, OP_BINARY, &[0; 1000])).unwrap();
        }
        assert_eq!(drain(c).len(), 10);
    }
    assert_eq!(budget.used(), 0);
}

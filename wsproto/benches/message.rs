//! Whole messages through the core: encode (`send_binary` / `send_text` into a reused `Vec`) and decode
//! (`feed` + `poll_event`), both roles, 16 B to 1 MiB. Decode also takes each message in 8 fragments
//! (`feed_poll_*_8frames`: the reassembly cost, to compare with the unfragmented case).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsproto::{Config, Connection, DataKind, Event, EventRef, Role};

/// Fragments per message in the `_8frames` decode cases.
const FRAMES: usize = 8;

const SIZES: [(usize, &str); 4] = [(16, "16B"), (1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

fn conn(role: Role) -> Connection {
    Connection::new(role, Config::default(), [7; 32]).unwrap()
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Client => "client",
        Role::Server => "server",
    }
}

/// ASCII payload (valid as text and binary).
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn encode(c: &mut Criterion) {
    for (len, label) in SIZES {
        let mut g = c.benchmark_group(format!("encode/{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        let data = payload(len);
        let text = String::from_utf8(data.clone()).unwrap();
        for role in [Role::Server, Role::Client] {
            let mut conn = conn(role);
            let mut out = Vec::with_capacity(len + 14);
            g.bench_function(BenchmarkId::new("send_binary", role_name(role)), |b| {
                b.iter(|| {
                    out.clear();
                    conn.send_binary(black_box(&data), &mut out).unwrap();
                    black_box(out.len())
                })
            });
            g.bench_function(BenchmarkId::new("send_text", role_name(role)), |b| {
                b.iter(|| {
                    out.clear();
                    conn.send_text(black_box(&text), &mut out).unwrap();
                    black_box(out.len())
                })
            });
        }
        g.finish();
    }
}

fn decode(c: &mut Criterion) {
    for (len, label) in SIZES {
        let mut g = c.benchmark_group(format!("decode/{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        let data = payload(len);
        let text = String::from_utf8(data.clone()).unwrap();
        for role in [Role::Server, Role::Client] {
            // The wire bytes come from the other role (a server decodes masked frames).
            let peer_role = if role == Role::Server { Role::Client } else { Role::Server };
            let mut peer = conn(peer_role);
            let mut binary_wire = Vec::new();
            peer.send_binary(&data, &mut binary_wire).unwrap();
            let mut text_wire = Vec::new();
            peer.send_text(&text, &mut text_wire).unwrap();
            let fragmented = |kind: DataKind, peer: &mut Connection| {
                let mut wire = Vec::new();
                let chunk = len.div_ceil(FRAMES);
                let mut pieces = data.chunks(chunk).peekable();
                while let Some(piece) = pieces.next() {
                    peer.send_fragment(kind, piece, pieces.peek().is_none(), &mut wire).unwrap();
                }
                wire
            };
            let binary_frag = fragmented(DataKind::Binary, &mut peer);
            let text_frag = fragmented(DataKind::Text, &mut peer);
            for (kind, wire) in [
                ("binary", binary_wire),
                ("text", text_wire),
                ("binary_8frames", binary_frag),
                ("text_8frames", text_frag),
            ] {
                let mut conn = conn(role);
                g.bench_function(BenchmarkId::new(format!("feed_poll_{kind}"), role_name(role)), |b| {
                    b.iter(|| {
                        conn.feed(black_box(&wire)).unwrap();
                        let mut n = 0;
                        while let Some(ev) = conn.poll_event().unwrap() {
                            match ev {
                                Event::Binary(b) => n += b.len(),
                                Event::Text(t) => n += t.len(),
                                _ => unreachable!(),
                            }
                        }
                        assert_eq!(n, len);
                    })
                });
            }
        }
        g.finish();
    }
}

/// A server echoing a batch of 128 small masked messages read at once (the deep-pipelining case): the owned
/// `poll_event` + `send_binary` loop vs the borrowed `poll_batch`. Throughput is in messages.
fn echo_batch(c: &mut Criterion) {
    const BATCH: usize = 128;
    for (len, label) in [(16usize, "16B"), (1024, "1KiB")] {
        let mut g = c.benchmark_group(format!("echo_batch/{label}"));
        g.throughput(Throughput::Elements(BATCH as u64));
        let mut peer = conn(Role::Client);
        let mut wire = Vec::new();
        for _ in 0..BATCH {
            peer.send_binary(&payload(len), &mut wire).unwrap();
        }
        let mut server = conn(Role::Server);
        let mut out = Vec::with_capacity(BATCH * (len + 4));
        g.bench_function("poll_event", |b| {
            b.iter(|| {
                server.feed(black_box(&wire)).unwrap();
                out.clear();
                while let Some(ev) = server.poll_event().unwrap() {
                    if let Event::Binary(b) = ev {
                        server.send_binary(&b, &mut out).unwrap();
                    }
                }
                black_box(&out);
            })
        });
        g.bench_function("poll_batch", |b| {
            b.iter(|| {
                server.feed(black_box(&wire)).unwrap();
                out.clear();
                let n = server
                    .poll_batch(&mut out, |ev, tx| {
                        if let EventRef::Binary(b) = ev {
                            tx.send_binary(b).unwrap();
                        }
                        std::ops::ControlFlow::Continue(())
                    })
                    .unwrap();
                assert_eq!(n, BATCH);
                black_box(&out);
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs (the defaults are 3 s + 5 s per benchmark); override with --warm-up-time / --measurement-time.
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = encode, decode, echo_batch
}
criterion_main!(benches);

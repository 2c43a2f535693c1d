//! UTF-8 validation: the incremental `Utf8Validator` vs `std::str::from_utf8`, on ASCII and on mixed
//! multi-byte text, whole and in TCP-segment-sized chunks (code points split across chunks).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsproto::internal::utf8::Utf8Validator;

/// `len` bytes of text: ASCII only, or a mix of 1-, 2-, 3- and 4-byte code points.
pub fn text(len: usize, mixed: bool) -> Vec<u8> {
    let pattern =
        if mixed { "héllo wörld κόσμε こんにちは 🎉 ✓ " } else { "hello world, the quick brown fox. " };
    let mut s = String::with_capacity(len + 8);
    'outer: loop {
        for ch in pattern.chars() {
            if s.len() + ch.len_utf8() > len {
                break 'outer;
            }
            s.push(ch);
        }
    }
    while s.len() < len {
        s.push(' ');
    }
    s.into_bytes()
}

fn validate(c: &mut Criterion) {
    for (len, label) in [(1usize << 10, "1KiB"), (64 << 10, "64KiB")] {
        let mut g = c.benchmark_group(format!("utf8/{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        for (mixed, kind) in [(false, "ascii"), (true, "mixed")] {
            let data = text(len, mixed);
            assert!(std::str::from_utf8(&data).is_ok());
            g.bench_with_input(BenchmarkId::new("std_from_utf8", kind), &data, |b, d| {
                b.iter(|| std::str::from_utf8(black_box(d)).is_ok())
            });
            g.bench_with_input(BenchmarkId::new("validator_whole", kind), &data, |b, d| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    v.feed(black_box(d)).unwrap();
                    v.finish().is_ok()
                })
            });
            g.bench_with_input(BenchmarkId::new("validator_1448B_chunks", kind), &data, |b, d| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    for chunk in black_box(d).chunks(1448) {
                        v.feed(chunk).unwrap();
                    }
                    v.finish().is_ok()
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs (the defaults are 3 s + 5 s per benchmark); override with --warm-up-time / --measurement-time.
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = validate
}
criterion_main!(benches);

//! Unmasking in place vs a `memcpy` (`copy_from_slice`) of the same buffer, aligned and unaligned starts; and
//! the client's fused copy-and-mask (`extend_masked`) vs a plain append (`extend_from_slice`).
//!
//! The target: `apply_mask` at least as fast as the copy (it touches one buffer, the copy two).
//! `apply_mask` picks an AVX-512 / AVX2 build of its loop at run time (see `mask.rs`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsproto::internal::mask::{apply_mask, extend_masked};

const SIZES: [(usize, &str); 4] = [(64, "64B"), (1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];
/// Start offsets into a 64-byte-aligned allocation: 0 is aligned, 1 and 3 are not.
const STARTS: [usize; 3] = [0, 1, 3];

/// A buffer whose start is 64-byte aligned, with room for `len` bytes after any start in `STARTS`.
fn aligned(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len + 128];
    let pad = v.as_ptr().align_offset(64);
    v.drain(..pad);
    v.iter_mut().enumerate().for_each(|(i, b)| *b = (i * 31 + 7) as u8);
    v
}

fn mask_vs_memcpy(c: &mut Criterion) {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    for (len, label) in SIZES {
        let mut g = c.benchmark_group(format!("mask/{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        for start in STARTS {
            let mut buf = aligned(len);
            g.bench_with_input(BenchmarkId::new("apply_mask", format!("start+{start}")), &start, |b, &s| {
                b.iter(|| apply_mask(black_box(&mut buf[s..s + len]), key, 0))
            });
            let src = aligned(len);
            let mut dst = aligned(len);
            g.bench_with_input(BenchmarkId::new("memcpy", format!("start+{start}")), &start, |b, &s| {
                b.iter(|| dst[s..s + len].copy_from_slice(black_box(&src[s..s + len])))
            });
        }
        // A key rotated by a non-zero payload offset (unmasking a frame in pieces as it arrives).
        let mut buf = aligned(len);
        g.bench_function("apply_mask/offset+1", |b| b.iter(|| apply_mask(black_box(&mut buf[..len]), key, 1)));
        // Small inputs over 16 buffers in turn. Unmasking the same buffer again and again (the rows above)
        // makes every call wait for the previous call's stores to be forwarded to its loads: at 64 bytes that
        // latency (about 10 cycles) is all that is measured. A received frame is not unmasked again right after,
        // so these rows are the ones to compare with `memcpy` at small sizes.
        if len <= 1 << 10 {
            let stride = len + 64 * 3; // not a multiple of 4 KiB: no false aliasing between the buffers
            for start in [0usize, 1] {
                let mut bufs = aligned(stride * 16);
                let mut k = 0;
                g.bench_function(BenchmarkId::new("apply_mask/16-buffers", format!("start+{start}")), |b| {
                    b.iter(|| {
                        k = (k + 1) % 16;
                        let at = k * stride + start;
                        apply_mask(black_box(&mut bufs[at..at + len]), key, 0)
                    })
                });
            }
        }
        g.finish();
    }
}

/// A client's send path: the payload appended to an output buffer after a (here 2-byte) frame header, so the
/// output start is not 64-byte aligned. `copy` is the unmasked append (a server's send path, the floor);
/// `copy_then_mask` is what `encode_frame` did before `extend_masked` (append, then XOR in place).
fn extend_vs_copy(c: &mut Criterion) {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    for (len, label) in SIZES {
        let mut g = c.benchmark_group(format!("extend/{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        let payload = aligned(len);
        let payload = &payload[..len];
        let mut out: Vec<u8> = Vec::with_capacity(len + 16);
        g.bench_function("extend_masked", |b| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(&[0x82, 0x7e]);
                extend_masked(&mut out, black_box(payload), key);
                black_box(out.len())
            })
        });
        g.bench_function("copy", |b| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(&[0x82, 0x7e]);
                out.extend_from_slice(black_box(payload));
                black_box(out.len())
            })
        });
        g.bench_function("copy_then_mask", |b| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(&[0x82, 0x7e]);
                out.extend_from_slice(black_box(payload));
                apply_mask(&mut out[2..], key, 0);
                black_box(out.len())
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs (the defaults are 3 s + 5 s per benchmark); override with --warm-up-time / --measurement-time.
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = mask_vs_memcpy, extend_vs_copy
}
criterion_main!(benches);

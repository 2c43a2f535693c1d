//! Unmasking in place vs a `memcpy` (`copy_from_slice`) of the same buffer, aligned and unaligned starts.
//!
//! The target: `apply_mask` at least as fast as the copy (it touches one buffer, the copy two).
//!
//! `candidate_dispatch` is kept here as evidence for changing `mask.rs` (the crate does not use it): the same
//! safe word loop as `apply_mask`, compiled with `#[target_feature(enable = "avx512f")]` / `"avx2"` and chosen
//! at run time, as glibc does for `memcpy` (the only `unsafe` is the call after `is_x86_feature_detected!`).
//! `apply_mask` itself is compiled for the x86-64 baseline (SSE2, 16-byte vectors).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsproto::mask::apply_mask;

const SIZES: [(usize, &str); 4] = [(64, "64B"), (1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];
/// Start offsets into a 64-byte-aligned allocation: 0 is aligned, 1 and 3 are not.
const STARTS: [usize; 3] = [0, 1, 3];

/// The key rotated for `offset`, and repeated into an 8-byte word.
#[inline(always)]
fn rotated(key: [u8; 4], offset: usize) -> ([u8; 4], u64) {
    let rot = offset % 4;
    let key = [key[rot], key[(rot + 1) % 4], key[(rot + 2) % 4], key[(rot + 3) % 4]];
    (key, u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]))
}

/// The same loop as `apply_mask`: 8-byte words (which the compiler vectorises as wide as the target allows),
/// then bytes. Whole words keep the key aligned (8 is a multiple of 4).
#[inline(always)]
fn xor_words(buf: &mut [u8], key: [u8; 4], word: u64) {
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let arr: &mut [u8; 8] = w.try_into().expect("8 bytes");
        *arr = (u64::from_ne_bytes(*arr) ^ word).to_ne_bytes();
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn xor_words_avx2(buf: &mut [u8], key: [u8; 4], word: u64) {
    xor_words(buf, key, word)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn xor_words_avx512(buf: &mut [u8], key: [u8; 4], word: u64) {
    xor_words(buf, key, word)
}

/// Candidate: `apply_mask`'s loop compiled for AVX-512 or AVX2 when the CPU has them (`is_x86_feature_detected!`
/// caches its answer), else for the baseline.
#[inline]
pub fn candidate_dispatch(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let (key, word) = rotated(key, offset);
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= 32 {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { xor_words_avx512(buf, key, word) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { xor_words_avx2(buf, key, word) };
        }
    }
    xor_words(buf, key, word)
}

/// A zeroed buffer whose start is 64-byte aligned, with room for `len` bytes after any start in `STARTS`.
fn aligned(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len + 128];
    let pad = v.as_ptr().align_offset(64);
    v.drain(..pad);
    v.iter_mut().enumerate().for_each(|(i, b)| *b = (i * 31 + 7) as u8);
    v
}

fn mask_vs_memcpy(c: &mut Criterion) {
    check_candidate();
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
        for start in [0usize, 1] {
            let mut buf = aligned(len);
            g.bench_function(BenchmarkId::new("candidate_dispatch", format!("start+{start}")), |b| {
                b.iter(|| candidate_dispatch(black_box(&mut buf[start..start + len]), key, 0))
            });
        }
        // A key rotated by a non-zero payload offset (unmasking a frame in pieces as it arrives).
        let mut buf = aligned(len);
        g.bench_function("apply_mask/offset+1", |b| b.iter(|| apply_mask(black_box(&mut buf[..len]), key, 1)));
        g.finish();
    }
}

/// The candidate computes what `apply_mask` does (checked before timing it; `#[test]` does not run in a
/// `harness = false` target).
fn check_candidate() {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    for len in [0usize, 1, 5, 15, 16, 17, 63, 64, 65, 200, 1000] {
        for offset in 0..5 {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut want = data.clone();
            apply_mask(&mut want, key, offset);
            let mut c = data.clone();
            candidate_dispatch(&mut c, key, offset);
            assert_eq!(c, want, "dispatch len {len} offset {offset}");
        }
    }
}

criterion_group! {
    name = benches;
    // Short runs (the defaults are 3 s + 5 s per benchmark); override with --warm-up-time / --measurement-time.
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = mask_vs_memcpy
}
criterion_main!(benches);

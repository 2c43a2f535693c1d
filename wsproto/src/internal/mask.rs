//! Payload masking, RFC 6455 §5.3.
//!
//! Masking is an XOR of the payload with a 4-byte key, repeated. It is its own inverse, so the same function
//! masks (client side, encoding) and unmasks (server side, decoding). [`extend_masked`] copies and masks in
//! one pass (a client's send path).
//!
//! The loops are safe code on 8-byte words, which the compiler turns into SIMD XORs as wide as the target
//! allows. The x86-64 baseline only has SSE2 (16-byte vectors), so on x86-64 the same loops are also compiled
//! with AVX-512F and AVX2 enabled, and the widest build the CPU supports is picked at run time
//! (`is_x86_feature_detected!` caches its answer: one atomic load), as glibc does for `memcpy`. Inputs
//! shorter than `WIDE_MIN` (128) bytes skip the dispatch and run the baseline loop inline: small frames are
//! the common case, and a few 16-byte XORs cost less than the check and a call.
//!
//! `unsafe` is allowed item by item here, in two kinds of places: calling a `#[target_feature]` function
//! right after checking that the CPU has the feature, and `Vec::set_len` in [`extend_masked`] after the loop
//! has written every byte of the spare capacity it exposes (what saves the zero-fill).

#[allow(unused_imports)]
use crate::prelude::*;

use core::mem::MaybeUninit;

/// Inputs at least this long go to the AVX-512 / AVX2 loops when the CPU has them; shorter ones take the
/// baseline loop inline (a few 16-, 8- and 4-byte steps cost less than the dispatch and a call).
#[cfg_attr(not(all(target_arch = "x86_64", feature = "std")), allow(dead_code))]
const WIDE_MIN: usize = 128;

/// XORs `buf` in place with `key`, as if `buf` started at byte `offset` of the masked payload.
///
/// `offset` matters when a payload is unmasked in pieces as it arrives: pass the number of payload bytes that
/// were already unmasked, and the key lines up again (RFC 6455 §5.3: octet `i` is XORed with `key[i % 4]`).
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if buf.len() >= WIDE_MIN {
        return x86::apply_mask(buf, key);
    }
    xor_in_place(buf, key)
}

/// [`apply_mask`], and whether every unmasked byte is ASCII (so that the bytes are UTF-8 as they stand): the
/// check rides along in the same pass, which makes validating ASCII text (RFC 6455 §8.1) nearly free.
#[inline]
pub fn apply_mask_ascii(buf: &mut [u8], key: [u8; 4], offset: usize) -> bool {
    let key = rotate(key, offset);
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if buf.len() >= WIDE_MIN {
        return x86::apply_mask_ascii(buf, key) & 0x8080_8080_8080_8080 == 0;
    }
    let acc = xor_in_place_acc::<true>(buf, key);
    acc & 0x8080_8080_8080_8080 == 0
}

/// Appends `payload` XOR `key` (the key starting at `payload[0]`) to `out`, in one pass: the masked bytes are
/// written once, straight into `out`'s spare capacity, with no zero-fill or copy before the XOR.
#[inline]
pub fn extend_masked(out: &mut Vec<u8>, payload: &[u8], key: [u8; 4]) {
    out.reserve(payload.len());
    let len = out.len();
    let dst = &mut out.spare_capacity_mut()[..payload.len()];
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if payload.len() >= WIDE_MIN {
        x86::xor_copy(dst, payload, key);
    } else {
        xor_copy(dst, payload, key);
    }
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    xor_copy(dst, payload, key);
    #[allow(unsafe_code)]
    // SAFETY: `xor_copy` wrote every byte of `dst`, the first `payload.len()` bytes of the spare capacity
    // (`reserve` made room for them), so the first `len + payload.len()` bytes of `out` are initialised.
    unsafe {
        out.set_len(len + payload.len())
    };
}

/// `key` as seen from byte `offset` of the payload: `rotate(key, o)[i] == key[(o + i) % 4]`.
#[inline(always)]
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32).to_le_bytes()
}

/// `key` repeated over 8 bytes (the same bytes in either byte order).
#[inline(always)]
fn word(key: [u8; 4]) -> u64 {
    let k = u32::from_ne_bytes(key) as u64;
    k | (k << 32)
}

/// The in-place loop: whole 256-byte blocks as a flat loop of 8-byte words (the compiler vectorises it as
/// wide as the target allows and unrolls it; a loop over `[u8; 64]` blocks instead gets vectorised *across*
/// blocks with gathers and scatters under AVX-512, ten times slower), then a tail of at most 255 bytes in
/// halving steps of known size (each one or a few vector XORs). Every step is a multiple of 4 bytes until the
/// last 0–3, so the key stays aligned.
#[inline(always)]
fn xor_in_place(buf: &mut [u8], key: [u8; 4]) {
    xor_in_place_acc::<false>(buf, key);
}

/// [`xor_in_place`], also returning, when `ACC`, the OR of every byte it wrote (spread over a word): its high
/// bits say whether any unmasked byte is not ASCII. Without `ACC` the accumulation compiles away.
#[inline(always)]
fn xor_in_place_acc<const ACC: bool>(buf: &mut [u8], key: [u8; 4]) -> u64 {
    let w = word(key);
    let (body, mut rest) = buf.split_at_mut(buf.len() & !255);
    let mut acc = xor_words::<ACC>(body, w);
    macro_rules! step {
        ($n:literal) => {
            if rest.len() >= $n {
                let (head, tail) = rest.split_at_mut($n);
                acc |= xor_words::<ACC>(head, w);
                rest = tail;
            }
        };
    }
    step!(128);
    step!(64);
    step!(32);
    step!(16);
    step!(8);
    if rest.len() >= 4 {
        let (head, tail) = rest.split_at_mut(4);
        let head: &mut [u8; 4] = head.try_into().expect("4 bytes");
        let x = u32::from_ne_bytes(*head) ^ w as u32;
        *head = x.to_ne_bytes();
        if ACC {
            acc |= x as u64;
        }
        rest = tail;
    }
    for (b, k) in rest.iter_mut().zip(key) {
        *b ^= k;
        if ACC {
            acc |= *b as u64;
        }
    }
    acc
}

/// [`xor_in_place`] for long inputs: the bytes up to the first 64-byte boundary first, so that the blocks
/// after them are whole cache lines. An unaligned vector store spans two lines, and a load of bytes still in
/// flight from such a store is not forwarded (unmasking a buffer just written, or unmasking in pieces).
#[inline(always)]
#[cfg_attr(not(all(target_arch = "x86_64", feature = "std")), allow(dead_code))]
fn xor_in_place_aligned(buf: &mut [u8], key: [u8; 4]) {
    xor_in_place_aligned_acc::<false>(buf, key);
}

#[inline(always)]
#[cfg_attr(not(all(target_arch = "x86_64", feature = "std")), allow(dead_code))]
fn xor_in_place_aligned_acc<const ACC: bool>(buf: &mut [u8], key: [u8; 4]) -> u64 {
    let head = buf.as_ptr().align_offset(64).min(buf.len());
    let (head, rest) = buf.split_at_mut(head);
    xor_in_place_acc::<ACC>(head, key) | xor_in_place_acc::<ACC>(rest, rotate(key, head.len()))
}

/// XORs a buffer whose length is a multiple of 8 word by word.
#[inline(always)]
fn xor_words<const ACC: bool>(buf: &mut [u8], w: u64) -> u64 {
    let mut acc = 0;
    for chunk in buf.chunks_exact_mut(8) {
        let arr: &mut [u8; 8] = chunk.try_into().expect("8 bytes");
        let x = u64::from_ne_bytes(*arr) ^ w;
        *arr = x.to_ne_bytes();
        if ACC {
            acc |= x;
        }
    }
    acc
}

/// The fused copy-and-XOR loop, `dst[i] = src[i] ^ key[i % 4]`, with the same shape as [`xor_in_place`].
/// `dst` and `src` have the same length; every byte of `dst` is written.
#[inline(always)]
fn xor_copy(mut dst: &mut [MaybeUninit<u8>], mut src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len());
    let w = word(key);
    let body = src.len() & !255;
    let (dst_body, dst_rest) = dst.split_at_mut(body);
    let (src_body, src_rest) = src.split_at(body);
    copy_words(dst_body, src_body, w);
    (dst, src) = (dst_rest, src_rest);
    macro_rules! step {
        ($n:literal) => {
            if src.len() >= $n {
                let (dst_head, dst_tail) = dst.split_at_mut($n);
                let (src_head, src_tail) = src.split_at($n);
                copy_words(dst_head, src_head, w);
                (dst, src) = (dst_tail, src_tail);
            }
        };
    }
    step!(128);
    step!(64);
    step!(32);
    step!(16);
    step!(8);
    if src.len() >= 4 {
        let (dst_head, dst_tail) = dst.split_at_mut(4);
        let s: [u8; 4] = src[..4].try_into().expect("4 bytes");
        for (d, m) in dst_head.iter_mut().zip((u32::from_ne_bytes(s) ^ w as u32).to_ne_bytes()) {
            *d = MaybeUninit::new(m);
        }
        (dst, src) = (dst_tail, &src[4..]);
    }
    for ((d, s), k) in dst.iter_mut().zip(src).zip(key) {
        *d = MaybeUninit::new(s ^ k);
    }
}

/// Copies `src` XOR `w` into `dst` word by word; both have the same length, a multiple of 8.
#[inline(always)]
fn copy_words(dst: &mut [MaybeUninit<u8>], src: &[u8], w: u64) {
    for (d, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
        let s: [u8; 8] = s.try_into().expect("8 bytes");
        for (d, m) in d.iter_mut().zip((u64::from_ne_bytes(s) ^ w).to_ne_bytes()) {
            *d = MaybeUninit::new(m);
        }
    }
}

/// The loops above compiled with AVX-512F or AVX2 enabled, and the run-time choice between them.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod x86 {
    use core::mem::MaybeUninit;

    #[inline]
    pub(super) fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
        if std::arch::is_x86_feature_detected!("avx512f") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU supports AVX-512F (checked just above), the only requirement of `apply_mask_avx512`.
            return unsafe { apply_mask_avx512(buf, key) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of `apply_mask_avx2`.
            return unsafe { apply_mask_avx2(buf, key) };
        }
        super::xor_in_place_aligned(buf, key)
    }

    #[inline]
    pub(super) fn apply_mask_ascii(buf: &mut [u8], key: [u8; 4]) -> u64 {
        if std::arch::is_x86_feature_detected!("avx512f") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU supports AVX-512F (checked just above), the only requirement of the callee.
            return unsafe { apply_mask_ascii_avx512(buf, key) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of the callee.
            return unsafe { apply_mask_ascii_avx2(buf, key) };
        }
        super::xor_in_place_aligned_acc::<true>(buf, key)
    }

    #[inline]
    pub(super) fn xor_copy(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4]) {
        if std::arch::is_x86_feature_detected!("avx512f") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU supports AVX-512F (checked just above), the only requirement of `xor_copy_avx512`.
            return unsafe { xor_copy_avx512(dst, src, key) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of `xor_copy_avx2`.
            return unsafe { xor_copy_avx2(dst, src, key) };
        }
        super::xor_copy(dst, src, key)
    }

    // These are `unsafe fn` only because `#[target_feature]` on a safe fn needs Rust 1.86 (the crate's MSRV
    // is older); their bodies are the safe loops above.

    /// # Safety
    /// The CPU must support AVX-512F.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn apply_mask_avx512(buf: &mut [u8], key: [u8; 4]) {
        super::xor_in_place_aligned(buf, key)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn apply_mask_avx2(buf: &mut [u8], key: [u8; 4]) {
        super::xor_in_place_aligned(buf, key)
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn apply_mask_ascii_avx512(buf: &mut [u8], key: [u8; 4]) -> u64 {
        super::xor_in_place_aligned_acc::<true>(buf, key)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn apply_mask_ascii_avx2(buf: &mut [u8], key: [u8; 4]) -> u64 {
        super::xor_in_place_aligned_acc::<true>(buf, key)
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn xor_copy_avx512(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4]) {
        super::xor_copy(dst, src, key)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn xor_copy_avx2(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4]) {
        super::xor_copy(dst, src, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    /// Every implementation this CPU can run, by name: the public entry point, the portable loops, and the
    /// AVX-512 / AVX2 builds where the CPU has them (called directly, bypassing the length threshold).
    #[allow(clippy::type_complexity)]
    #[cfg_attr(not(all(target_arch = "x86_64", feature = "std")), allow(unused_mut))]
    fn in_place_variants() -> Vec<(&'static str, Box<dyn Fn(&mut [u8], [u8; 4], usize)>)> {
        let mut v: Vec<(&'static str, Box<dyn Fn(&mut [u8], [u8; 4], usize)>)> = vec![
            ("apply_mask", Box::new(apply_mask)),
            (
                "apply_mask_ascii",
                Box::new(|b: &mut [u8], k, o| {
                    let _ = apply_mask_ascii(b, k, o);
                }),
            ),
            ("portable", Box::new(|b: &mut [u8], k, o| xor_in_place(b, rotate(k, o)))),
            ("portable_aligned", Box::new(|b: &mut [u8], k, o| xor_in_place_aligned(b, rotate(k, o)))),
        ];
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        {
            v.push(("dispatch", Box::new(|b: &mut [u8], k, o| x86::apply_mask(b, rotate(k, o)))));
            if std::arch::is_x86_feature_detected!("avx512f") {
                #[allow(unsafe_code)]
                // SAFETY: AVX-512F is supported (checked just above).
                v.push(("avx512", Box::new(|b: &mut [u8], k, o| unsafe { x86::apply_mask_avx512(b, rotate(k, o)) })));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                #[allow(unsafe_code)]
                // SAFETY: AVX2 is supported (checked just above).
                v.push(("avx2", Box::new(|b: &mut [u8], k, o| unsafe { x86::apply_mask_avx2(b, rotate(k, o)) })));
            }
        }
        v
    }

    /// Every build of the copy-and-mask loop this CPU can run, by name.
    #[allow(clippy::type_complexity)]
    #[cfg_attr(not(all(target_arch = "x86_64", feature = "std")), allow(unused_mut))]
    fn copy_variants() -> Vec<(&'static str, Box<dyn Fn(&mut [MaybeUninit<u8>], &[u8], [u8; 4])>)> {
        let mut v: Vec<(&'static str, Box<dyn Fn(&mut [MaybeUninit<u8>], &[u8], [u8; 4])>)> =
            vec![("portable", Box::new(|d: &mut [MaybeUninit<u8>], s: &[u8], k| xor_copy(d, s, k)))];
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        {
            v.push(("dispatch", Box::new(|d: &mut [MaybeUninit<u8>], s: &[u8], k| x86::xor_copy(d, s, k))));
            if std::arch::is_x86_feature_detected!("avx512f") {
                #[allow(unsafe_code)]
                // SAFETY: AVX-512F is supported (checked just above).
                v.push((
                    "avx512",
                    Box::new(|d: &mut [MaybeUninit<u8>], s: &[u8], k| unsafe { x86::xor_copy_avx512(d, s, k) }),
                ));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                #[allow(unsafe_code)]
                // SAFETY: AVX2 is supported (checked just above).
                v.push((
                    "avx2",
                    Box::new(|d: &mut [MaybeUninit<u8>], s: &[u8], k| unsafe { x86::xor_copy_avx2(d, s, k) }),
                ));
            }
        }
        v
    }

    /// The wide builds this CPU runs, as the variant lists name them.
    fn wide_builds_detected() -> Vec<&'static str> {
        #[allow(unused_mut)]
        let mut v = Vec::new();
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push("avx512");
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push("avx2");
            }
        }
        v
    }

    #[test]
    fn every_family_tests_each_build_this_cpu_runs() {
        let in_place: Vec<_> = in_place_variants().into_iter().map(|(n, _)| n).collect();
        let copy: Vec<_> = copy_variants().into_iter().map(|(n, _)| n).collect();
        let ascii: Vec<_> = ascii_variants().into_iter().map(|(n, _)| n).collect();
        let wide = wide_builds_detected();
        for (family, names) in [("in-place", &in_place), ("copy", &copy), ("ascii", &ascii)] {
            assert!(names.contains(&"portable"), "{family}: the scalar loop is not among {names:?}");
            for w in &wide {
                assert!(names.contains(w), "{family}: this CPU runs {w}, but the tests call only {names:?}");
            }
        }
        // `WSPROTO_REQUIRE_MASK_VARIANTS=avx512,avx2` (run-tests sets it from /proc/cpuinfo, a source independent
        // of `is_x86_feature_detected!`): each named build must be among those tested, or this fails.
        if let Ok(required) = std::env::var("WSPROTO_REQUIRE_MASK_VARIANTS") {
            for r in required.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                assert!(in_place.contains(&r), "{r} is required but not tested here: {in_place:?}");
            }
        }
        // Which builds ran, written past libtest's capture so `cargo test` output shows it.
        use std::io::Write;
        let _ = std::io::stderr().write_all(format!("mask variants tested: {in_place:?}\n").as_bytes());
    }

    /// A small deterministic generator (xorshift64*): reproducible inputs without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn every_build_matches_the_scalar_loop_on_random_lengths_alignments_and_offsets() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut backing: Vec<u8> = (0..9000 + 128).map(|_| rng.next() as u8).collect();
        let pad = backing.as_ptr().align_offset(64);
        backing.drain(..pad);
        let (in_place, copy, ascii) = (in_place_variants(), copy_variants(), ascii_variants());
        for round in 0..1500 {
            // Half short (around WIDE_MIN and the vector widths), half long (up to 8 KiB plus a tail).
            let len = if round % 2 == 0 { rng.below(300) } else { rng.below(9000) };
            let start = rng.below(64);
            let offset = rng.next() as usize;
            let key = (rng.next() as u32).to_le_bytes();
            let input = &backing[start..start + len];
            let mut want = input.to_vec();
            naive(&mut want, key, offset);
            let want_ascii = want.iter().all(u8::is_ascii);
            let what = format!("len {len} start {start} offset {offset} key {key:02x?}");
            for (name, f) in &in_place {
                let mut buf = backing.clone();
                f(&mut buf[start..start + len], key, offset);
                assert!(buf[start..start + len] == want[..], "{name}: {what}");
                assert!(buf[..start] == backing[..start] && buf[start + len..] == backing[start + len..], "{name}");
            }
            for (name, f) in &ascii {
                let mut buf = backing.clone();
                let got = f(&mut buf[start..start + len], key, offset);
                assert!(buf[start..start + len] == want[..], "{name}: {what}");
                assert_eq!(got, want_ascii, "{name}: ASCII verdict, {what}");
            }
            // The copy loops take the key from the payload's first byte.
            let mut want_copy = input.to_vec();
            naive(&mut want_copy, key, 0);
            let dst_start = rng.below(64);
            for (name, f) in &copy {
                let mut dst = vec![MaybeUninit::new(0xa5u8); dst_start + len + 3];
                f(&mut dst[dst_start..dst_start + len], input, key);
                #[allow(unsafe_code)]
                // SAFETY: every element was initialised by `vec!` above.
                let got: Vec<u8> = dst.iter().map(|b| unsafe { b.assume_init() }).collect();
                assert!(got[dst_start..dst_start + len] == want_copy[..], "{name}: dst {dst_start} {what}");
                assert!(got[..dst_start].iter().chain(&got[dst_start + len..]).all(|&b| b == 0xa5), "{name}");
            }
        }
    }

    #[test]
    fn every_variant_matches_naive_at_every_length_offset_and_start() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        // 64-byte aligned backing, and starts 0..8 and 60..64 into it: every alignment mod 8, and heads of
        // 0-7 and 57-64 bytes before the first 64-byte boundary.
        let mut backing: Vec<u8> = (0..512usize).map(|i| (i * 7 + 3) as u8).collect();
        let pad = backing.as_ptr().align_offset(64);
        backing.drain(..pad);
        for (name, f) in &in_place_variants() {
            for start in (0..8).chain(60..64) {
                for len in 0..300 {
                    for offset in 0..8 {
                        let mut a = backing.clone();
                        let mut b = backing.clone();
                        f(&mut a[start..start + len], key, offset);
                        naive(&mut b[start..start + len], key, offset);
                        assert_eq!(a, b, "{name}: start {start} len {len} offset {offset}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_copy_variant_matches_naive_at_every_length_and_start() {
        let key = [0x9c, 0x01, 0xee, 0x42];
        let backing: Vec<u8> = (0..400usize).map(|i| (i * 13 + 5) as u8).collect();
        for (name, f) in &copy_variants() {
            for src_start in 0..8 {
                for dst_start in [0, 1, 5, 60] {
                    for len in 0..300 {
                        let payload = &backing[src_start..src_start + len];
                        let mut want = payload.to_vec();
                        naive(&mut want, key, 0);
                        // Initialised up front, so reading it back is sound whatever the variant wrote.
                        let mut dst = vec![MaybeUninit::new(0xa5u8); dst_start + len + 3];
                        f(&mut dst[dst_start..dst_start + len], payload, key);
                        #[allow(unsafe_code)]
                        // SAFETY: every element was initialised by `vec!` above.
                        let got: Vec<u8> = dst.iter().map(|b| unsafe { b.assume_init() }).collect();
                        assert_eq!(
                            &got[dst_start..dst_start + len],
                            &want[..],
                            "{name}: {src_start}/{dst_start}/{len}"
                        );
                        assert!(got[..dst_start].iter().chain(&got[dst_start + len..]).all(|&b| b == 0xa5), "{name}");
                    }
                }
            }
        }
    }

    #[test]
    fn extend_masked_matches_naive_at_every_length_and_start() {
        let key = [0x9c, 0x01, 0xee, 0x42];
        let backing: Vec<u8> = (0..400usize).map(|i| (i * 13 + 5) as u8).collect();
        for start in 0..8 {
            for len in 0..300 {
                let payload = &backing[start..start + len];
                let mut want = payload.to_vec();
                naive(&mut want, key, 0);
                // Into an empty Vec, and appended to non-empty ones (odd lengths: the output is unaligned), with
                // and without spare capacity already there.
                for prefix in [&b""[..], &b"header"[..], &b"abc"[..]] {
                    for spare in [0, 7, 400] {
                        let mut out = Vec::with_capacity(prefix.len() + spare);
                        out.extend_from_slice(prefix);
                        extend_masked(&mut out, payload, key);
                        assert_eq!(&out[..prefix.len()], prefix, "prefix changed");
                        assert_eq!(&out[prefix.len()..], &want[..], "start {start} len {len} prefix {prefix:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn extend_masked_is_apply_mask_after_a_copy() {
        let key = [1, 2, 3, 4];
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut want = b"hdr".to_vec();
        want.extend_from_slice(&payload);
        apply_mask(&mut want[3..], key, 0);
        let mut got = b"hdr".to_vec();
        extend_masked(&mut got, &payload, key);
        assert_eq!(got, want);
    }

    #[test]
    fn rotate_matches_indexing() {
        let key = [10, 20, 30, 40];
        for offset in 0..12 {
            let r = rotate(key, offset);
            for (i, &b) in r.iter().enumerate() {
                assert_eq!(b, key[(offset + i) % 4], "offset {offset} byte {i}");
            }
        }
        assert_eq!(rotate(key, usize::MAX), [40, 10, 20, 30]);
    }

    type AsciiVariant = (&'static str, Box<dyn Fn(&mut [u8], [u8; 4], usize) -> bool>);

    /// Every ASCII-reporting variant: the public entry point, the portable loop, and the wide ones this CPU has.
    fn ascii_variants() -> Vec<AsciiVariant> {
        let high = |acc: u64| acc & 0x8080_8080_8080_8080 == 0;
        #[allow(unused_mut)]
        let mut v: Vec<AsciiVariant> = vec![
            ("apply_mask_ascii", Box::new(apply_mask_ascii)),
            ("portable", Box::new(move |b: &mut [u8], k, o| high(xor_in_place_acc::<true>(b, rotate(k, o))))),
        ];
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        {
            v.push(("dispatch", Box::new(move |b: &mut [u8], k, o| high(x86::apply_mask_ascii(b, rotate(k, o))))));
            if std::arch::is_x86_feature_detected!("avx512f") {
                #[allow(unsafe_code)]
                // SAFETY: checked just above.
                v.push((
                    "avx512",
                    Box::new(move |b: &mut [u8], k, o| high(unsafe { x86::apply_mask_ascii_avx512(b, rotate(k, o)) })),
                ));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                #[allow(unsafe_code)]
                // SAFETY: checked just above.
                v.push((
                    "avx2",
                    Box::new(move |b: &mut [u8], k, o| high(unsafe { x86::apply_mask_ascii_avx2(b, rotate(k, o)) })),
                ));
            }
        }
        v
    }

    #[test]
    fn the_ascii_verdict_is_right_wherever_a_high_byte_is() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for (name, f) in ascii_variants() {
            for len in (0..300).chain([1000, 4096 + 7]) {
                for start in [0, 1, 5] {
                    for high_at in (0..len).step_by(len / 37 + 1).map(Some).chain([None, len.checked_sub(1)]) {
                        let mut plain: Vec<u8> = (0..start + len).map(|i| b'a' + (i % 26) as u8).collect();
                        if let Some(h) = high_at {
                            plain[start + h] = 0x80 | (h as u8);
                        }
                        let offset = len % 4;
                        let mut buf = plain.clone();
                        naive(&mut buf[start..], key, offset); // mask
                        let ascii = f(&mut buf[start..], key, offset); // unmask
                        assert_eq!(buf, plain, "{name}: len {len} start {start}");
                        assert_eq!(ascii, high_at.is_none(), "{name}: len {len} start {start} high at {high_at:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn rfc_example_hello() {
        // RFC 6455 §5.7: masked "Hello" with key 37 fa 21 3d.
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        let mut out = Vec::new();
        extend_masked(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_at_once() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = data.clone();
        let mut at = 0;
        for step in [1usize, 3, 17, 64, 5, 910] {
            let end = (at + step).min(pieces.len());
            apply_mask(&mut pieces[at..end], key, at);
            at = end;
        }
        assert_eq!(whole, pieces);
    }
}

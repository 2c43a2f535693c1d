#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::run(|| {
    wsproto_fuzz::simple::mask(data);
    extend_masked(data);
}));

/// `extend_masked` against a copy and a byte-at-a-time XOR: the input's first 4 bytes are the key, the next
/// one the length of what `out` already holds (the appended bytes start at any alignment), the rest the payload.
/// The bytes already in `out` are unchanged and exactly `payload.len()` are appended.
fn extend_masked(data: &[u8]) {
    let Some((&key, rest)) = data.split_first_chunk::<4>() else { return };
    let Some((&prefix_len, payload)) = rest.split_first() else { return };
    let prefix: Vec<u8> = (0..prefix_len).collect();
    let mut want = prefix.clone();
    want.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    let mut out = prefix;
    wsproto::mask::extend_masked(&mut out, payload, key);
    assert_eq!(out, want, "extend_masked vs naive, len {} prefix {prefix_len}", payload.len());
}

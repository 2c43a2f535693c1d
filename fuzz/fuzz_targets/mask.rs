#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::run(|| wsproto_fuzz::simple::mask(data)));

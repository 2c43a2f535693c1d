#![no_main]
use wsproto_fuzz::alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::run(|| wsproto_fuzz::inflate::inflate(data)));

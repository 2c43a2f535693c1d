#![no_main]
use wsproto::Role;
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::run(|| wsproto_fuzz::conn::connection_target(
    Role::Server,
    data
)));

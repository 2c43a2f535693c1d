//! Replays the committed inputs through the same checks the fuzz targets run, on stable, without libFuzzer:
//!
//! - `corpus/<target>/*`: seed inputs; they must pass.
//! - `regressions/<target>/*`: inputs that once found a bug (see regressions/README.md); they must pass once the
//!   bug is fixed, and fail (listing the inputs) while it is not. Each must also finish within
//!   [`TIME_BUDGET`] in a release build (some bugs are quadratic time, not wrong answers).
//!
//! `cargo test --release --manifest-path fuzz/Cargo.toml`

use std::panic;
use std::path::Path;
use std::time::{Duration, Instant};

use wsproto::Role;
use wsproto_fuzz::{batch, conn, deflate, handshake, inflate, roundtrip, roundtrip_deflate, simple};

/// Most time one input may take (release build; not checked in debug builds).
const TIME_BUDGET: Duration = Duration::from_secs(2);

#[global_allocator]
static ALLOC: wsproto_fuzz::alloc::CountingAlloc = wsproto_fuzz::alloc::CountingAlloc;

fn target(name: &str) -> fn(&[u8]) {
    match name {
        "frame_header" => simple::frame_header,
        "utf8" => simple::utf8,
        "mask" => simple::mask,
        "roundtrip" => roundtrip::roundtrip,
        "batch" => batch::batch,
        "server_connection" => |d| conn::connection_target(Role::Server, d),
        "client_connection" => |d| conn::connection_target(Role::Client, d),
        "server_handshake" => handshake::server_handshake,
        "client_handshake" => handshake::client_handshake,
        "deflate_params" => deflate::deflate_params,
        "inflate" => inflate::inflate,
        "roundtrip_deflate" => roundtrip_deflate::roundtrip_deflate,
        other => panic!("unknown target directory {other}"),
    }
}

/// Runs every file under `dir/<target>/`; returns the failures as (path, panic message).
fn replay(dir: &str) -> (usize, Vec<(String, String)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut failures = Vec::new();
    let mut count = 0;
    let Ok(targets) = std::fs::read_dir(&root) else { return (0, failures) };
    let mut targets: Vec<_> = targets.flatten().filter(|e| e.path().is_dir()).collect();
    targets.sort_by_key(|e| e.file_name());
    for t in targets {
        let f = target(&t.file_name().to_string_lossy());
        let mut files: Vec<_> = std::fs::read_dir(t.path()).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            if !path.is_file() || path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            count += 1;
            let start = Instant::now();
            let r = panic::catch_unwind(|| f(&data));
            let took = start.elapsed();
            if r.is_ok() && !cfg!(debug_assertions) && took > TIME_BUDGET {
                let path = path.strip_prefix(&root).unwrap().display().to_string();
                failures.push((path, format!("took {took:?} (budget {TIME_BUDGET:?})")));
            }
            if let Err(e) = r {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push((path.strip_prefix(&root).unwrap().display().to_string(), msg));
            }
        }
    }
    (count, failures)
}

#[test]
fn corpus_seeds_pass() {
    let (n, failures) = replay("corpus");
    assert!(n > 0, "no seed inputs found");
    assert!(failures.is_empty(), "{} of {n} seed inputs fail:\n{failures:#?}", failures.len());
}

#[test]
fn regressions_pass() {
    let (n, failures) = replay("regressions");
    assert!(failures.is_empty(), "{} of {n} regression inputs fail (open bugs?):\n{failures:#?}", failures.len());
}

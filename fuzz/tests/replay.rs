//! Replays the committed inputs through the same checks the fuzz targets run, on stable, without libFuzzer:
//!
//! - `corpus/<target>/*`: seed inputs; they must pass.
//! - `regressions/<target>/*`: inputs that once found a bug (see regressions/README.md); they must pass once the
//!   bug is fixed, and fail (listing the inputs) while it is not. Each must also finish within
//!   [`TIME_BUDGET`] in a release build (some bugs are quadratic time, not wrong answers).
//!
//! `cargo test --release --manifest-path fuzz/Cargo.toml`

use std::collections::BTreeMap;
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

/// The fuzz targets `Cargo.toml` declares (`[[bin]]` sections' `name`).
fn declared_targets() -> Vec<String> {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if let Some(v) = line.strip_prefix("name").map(str::trim).and_then(|l| l.strip_prefix('=')) {
            if in_bin {
                names.push(v.trim().trim_matches('"').to_owned());
            }
        }
    }
    names
}

/// What a replay found: inputs replayed per target directory, and the failures as (path, panic message).
struct Replayed {
    per_target: BTreeMap<String, usize>,
    failures: Vec<(String, String)>,
}

impl Replayed {
    fn count(&self) -> usize {
        self.per_target.values().sum()
    }
}

/// Runs every file under `dir/<target>/`. A missing `dir`, or a target directory with no input in it, fails:
/// a replay of nothing must not pass.
fn replay(dir: &str) -> Replayed {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut failures = Vec::new();
    let mut per_target = BTreeMap::new();
    let targets = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}: nothing to replay", root.display()));
    let mut targets: Vec<_> = targets.flatten().filter(|e| e.path().is_dir()).collect();
    targets.sort_by_key(|e| e.file_name());
    for t in targets {
        let name = t.file_name().to_string_lossy().into_owned();
        let f = target(&name);
        let mut files: Vec<_> = std::fs::read_dir(t.path()).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        let mut count = 0;
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
        assert!(count > 0, "{}/{name} holds no input: a directory that replays nothing", root.display());
        per_target.insert(name, count);
    }
    assert!(!per_target.is_empty(), "{} holds no target directory: nothing replayed", root.display());
    Replayed { per_target, failures }
}

#[test]
fn corpus_seeds_pass() {
    let r = replay("corpus");
    let n = r.count();
    // Every declared target has seeds (so a target added without a corpus, or a corpus folder renamed, fails).
    let declared = declared_targets();
    assert_eq!(declared.len(), 12, "fuzz/Cargo.toml declares {declared:?}; update this count and fuzz/README.md");
    let unseeded: Vec<_> = declared.iter().filter(|t| !r.per_target.contains_key(*t)).collect();
    assert!(unseeded.is_empty(), "fuzz targets without seed inputs in corpus/: {unseeded:?}");
    let failures = r.failures;
    assert!(failures.is_empty(), "{} of {n} seed inputs fail:\n{failures:#?}", failures.len());
}

#[test]
fn regressions_pass() {
    let r = replay("regressions");
    let n = r.count();
    let failures = r.failures;
    assert!(failures.is_empty(), "{} of {n} regression inputs fail (open bugs?):\n{failures:#?}", failures.len());
}

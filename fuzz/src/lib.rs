//! Harness code shared by the wsproto fuzz targets.
//!
//! Every target in `fuzz_targets/` is a one-line call into a function here, so `cargo test` in this crate
//! (`tests/replay.rs`) replays the committed seed corpora and regression inputs on stable without libFuzzer.
//!
//! Each target asserts invariants (see the module docs); a violated invariant panics with a message that says
//! which one, and libFuzzer records the input as a crash.
//!
//! ## Input prelude
//!
//! The byte-stream targets (`server_connection`, `client_connection`, `server_handshake`, `client_handshake`)
//! start with a small prelude so seed files stay readable (see [`prelude`]):
//!
//! ```text
//! flags:u8  preset:u8  n:u8  split[n % 9]:u8...  data...
//! ```
//!
//! `roundtrip`, `mask` and the deflate targets (`deflate_params`, `inflate`, `roundtrip_deflate`) build their
//! input with `arbitrary`; `deflate_params` also takes two readable forms (`>` + an offered extension element,
//! `<` + an answered one).
//!
//! ## Skipping known bugs while exploring
//!
//! With `WSPROTO_FUZZ_SKIP="substring,substring"` in the environment, a panic whose message contains one of
//! the substrings is swallowed (the input counts as uninteresting) so fuzzing can go on past a bug that is
//! already reported. Leave it unset for real runs: `run-all.sh` does.

pub mod alloc;
pub mod batch;
pub mod conn;
pub mod deflate;
pub mod handshake;
pub mod inflate;
pub mod prelude;
pub mod roundtrip;
pub mod roundtrip_deflate;
pub mod simple;

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;

fn skip_list() -> &'static [String] {
    static SKIP: OnceLock<Vec<String>> = OnceLock::new();
    SKIP.get_or_init(|| {
        std::env::var("WSPROTO_FUZZ_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
}

thread_local! {
    static GUARDING: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs one fuzz iteration. Without `WSPROTO_FUZZ_SKIP` this is just `f()`; with it, panics whose message
/// contains a listed substring are swallowed.
pub fn run(f: impl FnOnce()) {
    let skip = skip_list();
    if skip.is_empty() {
        f();
        return;
    }
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let guarded = GUARDING.with(|g| {
                let mut g = g.borrow_mut();
                if let Some(slot) = g.as_mut() {
                    *slot = format!("{info}");
                    true
                } else {
                    false
                }
            });
            if !guarded {
                prev(info);
            }
        }));
    });
    GUARDING.with(|g| *g.borrow_mut() = Some(String::new()));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    let msg = GUARDING.with(|g| g.borrow_mut().take()).unwrap_or_default();
    if r.is_err() {
        if skip.iter().any(|s| msg.contains(s.as_str())) {
            return;
        }
        eprintln!("{msg}");
        std::process::abort();
    }
}

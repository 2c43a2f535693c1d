//! Helpers for the tests that run the example programs: start one on an ephemeral port, read its output with
//! timeouts, kill it at the end; a tiny HTTP GET; a self-signed certificate in a temporary directory.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The bound on every single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// Runs `fut`, failing the test if it takes longer than `WAIT`.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// The path of example `name`, built by `cargo test` next to the test binaries (`target/<profile>/examples`).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test binary> → target/<profile>/examples/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>").join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let how = "`cargo test -p wsproto-tokio` builds the examples first; when running a single test target \
               (`--test NAME`), build them with `cargo build -p wsproto-tokio --examples`";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("example binary {} is missing: {how}", path.display()));
    // A single test target does not rebuild the examples: refuse to test a binary older than its sources.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [crate_dir.join("src"), crate_dir.join("examples"), crate_dir.join("../wsproto/src")] {
        if let Some(source) = newest_file(&dir).filter(|(t, _)| *t > built) {
            panic!("example binary {} is older than {}: {how}", path.display(), source.1.display());
        }
    }
    path
}

/// The most recently modified file under `dir`.
fn newest_file(dir: &Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_file(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok().map(|t| (t, path))
        };
        if let Some(c) = candidate {
            if newest.as_ref().is_none_or(|n| c.0 > n.0) {
                newest = Some(c);
            }
        }
    }
    newest
}

/// A running example. Killed when dropped.
pub struct Example {
    pub name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
    /// Everything it wrote to stderr so far (for failure messages and log assertions).
    log: Arc<Mutex<Vec<String>>>,
}

fn forward_lines(
    name: &'static str,
    r: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    keep: Option<Arc<Mutex<Vec<String>>>>,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if std::env::var_os("WSPROTO_TEST_VERBOSE").is_some() {
                eprintln!("[{name}] {line}");
            }
            if let Some(keep) = &keep {
                keep.lock().unwrap().push(line.clone());
            }
            let _ = tx.send(line);
        }
    });
    rx
}

impl Example {
    /// Starts example `name` with `args`, its stdin, stdout and stderr piped.
    pub fn start(name: &'static str, args: &[&str]) -> Example {
        let mut child = Command::new(example_path(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = forward_lines(name, child.stdout.take().unwrap(), None);
        let stderr = forward_lines(name, child.stderr.take().unwrap(), Some(log.clone()));
        let stdin = child.stdin.take();
        Example { name, child, stdin, stdout, stderr, log }
    }

    /// Its process id (to read `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the example is running")
    }

    /// What it logged so far, one line each.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits for a stderr line containing `needle` and returns it.
    pub async fn stderr_line(&mut self, needle: &str) -> String {
        let what = format!("{} to log {needle:?}", self.name);
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.stderr.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{what}: it ended its stderr first; it logged:\n{}", self.log()),
            Err(_) => panic!("timed out after {WAIT:?} waiting for {what}; it logged:\n{}", self.log()),
        }
    }

    /// Waits for the next `listening on ws://ADDR` (or `wss://`) line and returns the address.
    pub async fn listening(&mut self) -> SocketAddr {
        let line = self.stderr_line("listening on ").await;
        let url = line.split("listening on ").nth(1).unwrap().trim();
        let addr = url.split("://").nth(1).unwrap_or_else(|| panic!("no address in {line:?}"));
        addr.parse().unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"))
    }

    /// The next stdout line.
    pub async fn stdout_line(&mut self) -> String {
        let what = format!("a line on {}'s stdout", self.name);
        match tokio::time::timeout(WAIT, self.stdout.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{what}: stdout ended; stderr was:\n{}", self.log()),
            Err(_) => panic!("timed out after {WAIT:?} waiting for {what}; stderr was:\n{}", self.log()),
        }
    }

    /// Writes a line to its stdin.
    pub async fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Closes its stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for it to exit; returns the status and the rest of its stdout.
    pub async fn wait(&mut self) -> (ExitStatus, Vec<String>) {
        let what = format!("{} to exit", self.name);
        let status = match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(s) => s.unwrap(),
            Err(_) => panic!("timed out after {WAIT:?} waiting for {what}; stderr was:\n{}", self.log()),
        };
        let mut rest = Vec::new();
        while let Ok(Some(line)) = tokio::time::timeout(WAIT, self.stdout.recv()).await {
            rest.push(line);
        }
        (status, rest)
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        // kill_on_drop also kills it; this reaps it too, so no process outlives the test.
        let _ = self.child.start_kill();
        let pid = self.child.id();
        if let Some(pid) = pid {
            // Bounded: the process was just sent SIGKILL.
            for _ in 0..200 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            eprintln!("example {} (pid {pid}) did not exit after SIGKILL", self.name);
        }
    }
}

/// A response to [`http_get`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// `GET path` over a fresh connection (`Connection: close`), reading the whole response.
pub async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    within("an HTTP response", async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.unwrap();
        let raw = String::from_utf8(raw).expect("a UTF-8 response");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete head");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
        HttpResponse { status, head: head.to_owned(), body: body.to_owned() }
    })
    .await
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wsproto-tokio-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as `cert.pem` and `key.pem` in a fresh
/// temporary directory. Returns the directory, the two paths and the certificate PEM.
pub struct SelfSigned {
    pub dir: TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_pem: String,
}

pub fn self_signed() -> SelfSigned {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let dir = TempDir::new("tls");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let cert_pem = ck.cert.pem();
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    SelfSigned { dir, cert, key, cert_pem }
}

/// `len` incompressible bytes (permessage-deflate is on by default: sizes on the wire must stay near the
/// payload's for the backpressure tests to mean anything).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// True under `CI=true` (or `CI=1`): then a test that cannot run its subject fails instead of skipping.
pub fn under_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// A test that cannot run its subject: under CI it fails (panics with `why`); otherwise it writes
/// `SKIPPED <test>: <why>` straight to this process's stderr, past libtest's capture (which only takes
/// `print!`/`eprint!`), so the skip shows in `cargo test` output, and the caller returns.
pub fn cannot_run(test: &str, why: &str) {
    if under_ci() {
        panic!("{test} cannot run under CI=true: {why}");
    }
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {why}\n").as_bytes());
}

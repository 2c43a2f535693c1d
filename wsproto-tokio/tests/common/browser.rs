//! Headless Chromium driven over the DevTools protocol, for the browser tests (`browser.rs`, `axum.rs`):
//! include with `#[path = "common/browser.rs"] mod browser;` next to `mod common;`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::common::{self, within, TempDir};
use tokio::io::{AsyncBufReadExt, BufReader};
use wsproto_tokio::{connect, MaybeTlsStream, Message, WebSocket};

/// How long Chromium may take to start (slow on a loaded machine).
const BROWSER_START: Duration = Duration::from_secs(60);

/// The Chromium binary, or `None` (with a notice) when it is missing and `WSPROTO_SKIP_BROWSER=1`.
pub fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("WSPROTO_SKIP_BROWSER").as_deref() == Ok("1") {
        // Fails under CI=true; otherwise a SKIPPED line that libtest does not swallow.
        common::cannot_run("browser test", &format!("{} not found and WSPROTO_SKIP_BROWSER=1", path.display()));
        return None;
    }
    panic!(
        "the browser tests need headless Chromium at {}: install it (Debian: `apt-get update && apt-get install -y \
         chromium`; CI installs it), point CHROMIUM at it, or set WSPROTO_SKIP_BROWSER=1 to skip these tests",
        path.display()
    );
}

/// A headless Chromium driven over its DevTools WebSocket. Killed when dropped.
pub struct Browser {
    devtools: WebSocket<MaybeTlsStream>,
    next_id: u64,
    /// Messages of the alert boxes the page opened (each accepted).
    pub alerts: Vec<String>,
    _child: tokio::process::Child,
    _profile: TempDir,
}

/// A page open in the browser: its DevTools session.
pub struct Page {
    session: String,
}

impl Browser {
    pub async fn launch(chromium: PathBuf) -> Browser {
        Self::launch_with(chromium, &[]).await
    }

    /// [`launch`](Self::launch) with extra command-line switches.
    pub async fn launch_with(chromium: PathBuf, extra: &[&str]) -> Browser {
        let profile = TempDir::new("chromium");
        let mut child = tokio::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
            ])
            .args(extra)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
        // It prints `DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID` once it is ready.
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let find = async {
            let mut seen = Vec::new();
            while let Ok(Some(line)) = stderr.next_line().await {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return Ok(url.trim().to_owned());
                }
                seen.push(line);
            }
            Err(seen.join("\n"))
        };
        let url = match tokio::time::timeout(BROWSER_START, find).await {
            Ok(Ok(url)) => url,
            Ok(Err(log)) => panic!("Chromium exited without a DevTools endpoint:\n{log}"),
            Err(_) => panic!("Chromium did not start within {BROWSER_START:?}"),
        };
        // Keep draining its stderr so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        let (devtools, _) = within("the DevTools handshake", connect(&url)).await.unwrap();
        Browser { devtools, next_id: 0, alerts: Vec::new(), _child: child, _profile: profile }
    }

    /// Sends a DevTools command and returns its response (the raw JSON). Accepts alert boxes meanwhile: an open
    /// one would hold up every command to its page.
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: &str) -> String {
        self.next_id += 1;
        let id = self.next_id;
        let session_field = session.map(|s| format!(",\"sessionId\":\"{s}\"")).unwrap_or_default();
        let cmd = format!("{{\"id\":{id}{session_field},\"method\":\"{method}\",\"params\":{params}}}");
        self.devtools.send(cmd).await.unwrap();
        let reply_prefix = format!("{{\"id\":{id},");
        within(&format!("the DevTools reply to {method}"), async {
            loop {
                let text = match self.devtools.recv().await {
                    Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => panic!("DevTools connection failed: {e}"),
                    None => panic!("DevTools connection closed"),
                };
                if text.starts_with(&reply_prefix) {
                    assert!(!text.contains("\"error\":{"), "{method} failed: {text}");
                    return text;
                }
                if text.contains("\"method\":\"Page.javascriptDialogOpening\"") {
                    self.alerts.push(string_field(&text, "message").to_owned());
                    let session = string_field(&text, "sessionId").to_owned();
                    self.next_id += 1;
                    let accept = format!(
                        "{{\"id\":{},\"sessionId\":\"{session}\",\"method\":\"Page.handleJavaScriptDialog\",\
                         \"params\":{{\"accept\":true}}}}",
                        self.next_id
                    );
                    self.devtools.send(accept).await.unwrap();
                }
            }
        })
        .await
    }

    /// Opens a tab on `url` (events on, so alert boxes are seen).
    pub async fn open(&mut self, url: &str) -> Page {
        let created = self.call(None, "Target.createTarget", r#"{"url":"about:blank"}"#).await;
        let target = string_field(&created, "targetId").to_owned();
        let params = format!("{{\"targetId\":\"{target}\",\"flatten\":true}}");
        let attached = self.call(None, "Target.attachToTarget", &params).await;
        let session = string_field(&attached, "sessionId").to_owned();
        self.call(Some(&session), "Page.enable", "{}").await;
        self.call(Some(&session), "Page.navigate", &format!("{{\"url\":\"{url}\"}}")).await;
        Page { session }
    }

    /// The page's DOM, serialized.
    pub async fn dom(&mut self, page: &Page) -> String {
        // encodeURIComponent: the value needs no JSON unescaping here.
        let params =
            r#"{"expression":"encodeURIComponent(document.documentElement?.outerHTML ?? '')","returnByValue":true}"#;
        let reply = self.call(Some(&page.session), "Runtime.evaluate", params).await;
        percent_decode(string_field(&reply, "value"))
    }

    /// Polls the DOM until it contains every one of `lines`; returns it.
    pub async fn wait_for(&mut self, page: &Page, lines: &[&str]) -> String {
        let deadline = tokio::time::Instant::now() + common::WAIT;
        loop {
            let dom = self.dom(page).await;
            if lines.iter().all(|l| dom.contains(l)) {
                return dom;
            }
            if tokio::time::Instant::now() > deadline {
                let missing: Vec<_> = lines.iter().filter(|l| !dom.contains(**l)).collect();
                panic!("after {:?} the page still lacks {missing:?}:\n{dom}", common::WAIT);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The string value of the first `"key":"…"` in `json` (for values without escapes: ids, encoded text).
pub fn string_field<'a>(json: &'a str, key: &str) -> &'a str {
    let start = json.find(&format!("\"{key}\":\"")).unwrap_or_else(|| panic!("no {key} in {json}")) + key.len() + 4;
    let len = json[start..].find('"').unwrap_or_else(|| panic!("unterminated {key} in {json}"));
    &json[start..start + len]
}

pub fn percent_decode(s: &str) -> String {
    let (b, mut out, mut i) = (s.as_bytes(), Vec::with_capacity(s.len()), 0);
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("a percent escape"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

//! What the examples share: argument parsing, the listen loop (plain or TLS), pages on the WebSocket port, and
//! an access log on stderr.
//!
//! Each example includes it with `mod common;`. Not every example uses every item.
#![allow(dead_code)]

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use wsproto_tokio::wsproto::handshake::UPGRADE_REQUIRED;
use wsproto_tokio::{
    accept_with, tls, Accept, Accepted, CloseOutcome, Config, ConnectOptions, Error, Message, Reject, UpgradeRequest,
    WebSocket,
};

/// A connection as the examples see it: plain TCP or TLS over TCP.
pub type Stream = Box<dyn Io>;

/// A byte stream the examples can serve on.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + ?Sized> Io for T {}

/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// One log line on stderr, stamped with the time since start.
pub fn log(msg: impl Display) {
    let t = start().elapsed();
    eprintln!("[{:>4}.{:03}s] {msg}", t.as_secs(), t.subsec_millis());
}

/// The command line: positional arguments and the options an example accepts.
#[derive(Debug, Default)]
pub struct Args {
    /// Listen addresses (servers) or the URL (clients).
    pub positional: Vec<String>,
    /// `--cert PATH`: PEM certificate chain (servers; serve `wss://`).
    pub cert: Option<PathBuf>,
    /// `--key PATH`: PEM private key (servers).
    pub key: Option<PathBuf>,
    /// `--ca PATH`: PEM certificate(s) to trust (clients; e.g. a self-signed server's certificate).
    pub ca: Option<PathBuf>,
    /// `--max-fragments N`: most frames in one message ([`wsproto::Config::max_fragments`]).
    pub max_fragments: Option<u64>,
    /// `--max-message BYTES`: largest message ([`wsproto::Config::max_message_size`]).
    pub max_message: Option<u64>,
    /// `--handshake-timeout SECS` (fractions allowed; `off` for none): [`Config::handshake_timeout`].
    pub handshake_timeout: Option<Option<Duration>>,
    /// `--keepalive SECS`: ping after SECS of silence from the peer, drop it if no pong within SECS more
    /// ([`Config::keepalive`]; default off).
    pub keepalive: Option<Duration>,
    /// `--budget BYTES`: a memory pool shared by every connection of the server ([`wsproto::Budget`],
    /// [`wsproto::Config::budget`]; default none).
    pub budget: Option<u64>,
}

/// The options that set a server's limits ([`Args::config`]); add them to an example's option list.
pub const LIMIT_OPTIONS: &[&str] =
    &["--max-fragments", "--max-message", "--handshake-timeout", "--keepalive", "--budget"];

impl Args {
    /// The `i`th positional argument, or `default`.
    pub fn positional_or<'a>(&'a self, i: usize, default: &'a str) -> &'a str {
        self.positional.get(i).map(String::as_str).unwrap_or(default)
    }

    /// The connection settings: the defaults with the limits given by [`LIMIT_OPTIONS`].
    pub fn config(&self) -> Config {
        let mut protocol = Config::default().protocol;
        if let Some(n) = self.max_fragments {
            protocol.max_fragments = n;
        }
        if let Some(n) = self.max_message {
            protocol.max_message_size = n;
        }
        if let Some(n) = self.budget {
            // One pool: every connection's config is a clone of this one, and clones share it.
            protocol.budget = Some(wsproto_tokio::wsproto::Budget::new(n as usize));
        }
        let mut config = Config::default().protocol(protocol);
        if let Some(t) = self.handshake_timeout {
            config = config.handshake_timeout(t);
        }
        if let Some(t) = self.keepalive {
            config = config.keepalive(t, t);
        }
        config
    }
}

/// Parses the command line. `options` lists the accepted options (`--cert`, `--key`, `--ca`, and
/// [`LIMIT_OPTIONS`]), `max_positional` the number of positional arguments. On a mistake prints `usage` and
/// exits with status 2.
pub fn parse_args(usage: &str, options: &[&str], max_positional: usize) -> Args {
    let fail = |msg: &str| -> ! {
        eprintln!("{msg}\n\nusage: {usage}");
        std::process::exit(2)
    };
    let number = |a: &str, v: &str| -> u64 {
        v.replace('_', "").parse().unwrap_or_else(|_| fail(&format!("{a} needs a whole number, not {v:?}")))
    };
    let seconds = |a: &str, v: &str| -> Duration {
        match v.parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()) {
            Some(t) if !t.is_zero() => t,
            _ => fail(&format!("{a} needs a positive number of seconds, not {v:?}")),
        }
    };
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "-h" || a == "--help" {
            println!("usage: {usage}");
            std::process::exit(0);
        }
        if a.starts_with("--") {
            if !options.contains(&a.as_str()) {
                fail(&format!("unknown option {a}"));
            }
            let Some(v) = it.next() else { fail(&format!("{a} needs a value")) };
            match a.as_str() {
                "--cert" => args.cert = Some(PathBuf::from(v)),
                "--key" => args.key = Some(PathBuf::from(v)),
                "--ca" => args.ca = Some(PathBuf::from(v)),
                "--max-fragments" => args.max_fragments = Some(number(&a, &v)),
                "--max-message" => args.max_message = Some(number(&a, &v)),
                "--handshake-timeout" if v == "off" => args.handshake_timeout = Some(None),
                "--handshake-timeout" => args.handshake_timeout = Some(Some(seconds(&a, &v))),
                "--keepalive" => args.keepalive = Some(seconds(&a, &v)),
                "--budget" => args.budget = Some(number(&a, &v)),
                _ => unreachable!("{a} is listed in `options` but not handled"),
            }
        } else if args.positional.len() < max_positional {
            args.positional.push(a);
        } else {
            fail(&format!("unexpected argument {a}"));
        }
    }
    if args.cert.is_some() != args.key.is_some() {
        fail("--cert and --key go together");
    }
    if let Err(e) = args.config().protocol.validate() {
        fail(&e.to_string());
    }
    args
}

/// The TLS acceptor for `--cert`/`--key`, if given (exits with a message if the files are unusable).
pub fn tls_acceptor(args: &Args) -> Option<TlsAcceptor> {
    let (cert, key) = (args.cert.as_ref()?, args.key.as_ref()?);
    match tls::server_config_from_files(cert, key) {
        Ok(config) => Some(tls::acceptor(config)),
        Err(e) => {
            eprintln!("cannot use {} / {}: {e}", cert.display(), key.display());
            std::process::exit(1)
        }
    }
}

/// Connect options for a client: `--ca` makes `wss://` trust that certificate (default: the web's root CAs).
pub fn connect_options(args: &Args) -> ConnectOptions {
    let mut opts = ConnectOptions::default();
    if let Some(ca) = &args.ca {
        match std::fs::read(ca).and_then(|pem| tls::client_config_trusting_pem(&pem)) {
            Ok(config) => opts.tls = Some(config),
            Err(e) => {
                eprintln!("cannot use {}: {e}", ca.display());
                std::process::exit(1)
            }
        }
    }
    opts
}

/// A bound listener, plain or TLS.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    /// The bound address (the real port when asked for port 0).
    pub addr: SocketAddr,
}

impl Listener {
    /// `ws` or `wss`.
    pub fn ws_scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "wss"
        } else {
            "ws"
        }
    }

    /// `http` or `https`.
    pub fn http_scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Binds `addr` and logs `listening on ws://ADDR` (or `wss://`) with the bound address; exits if it cannot.
pub async fn bind(addr: &str, tls: Option<TlsAcceptor>) -> Listener {
    start();
    let tcp = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1)
        }
    };
    let addr = tcp.local_addr().expect("a bound listener has an address");
    let l = Listener { tcp, tls, addr };
    log(format_args!("listening on {}://{}", l.ws_scheme(), l.addr));
    l
}

/// Who connected, and the upgrade request.
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The upgrade request (path, headers, subprotocols).
    pub request: Box<UpgradeRequest>,
}

/// What a server serves: pages for plain HTTP requests and a WebSocket handler.
pub struct Site<H> {
    /// Pages by path (`/`), served as HTML.
    pub pages: &'static [(&'static str, &'static str)],
    /// The paths that accept WebSocket upgrades; `None`: every path.
    pub ws_paths: Option<&'static [&'static str]>,
    /// The answer to a plain (non-upgrade) request on a WebSocket path that is not a page.
    pub no_upgrade: (u16, &'static str),
    /// Runs one WebSocket connection and returns how it ended.
    pub handler: H,
}

impl<H> Site<H> {
    fn accepts_ws(&self, path: &str) -> bool {
        self.ws_paths.is_none_or(|paths| paths.contains(&path))
    }

    fn page(&self, path: &str) -> Option<&'static str> {
        self.pages.iter().find(|(p, _)| *p == path).map(|(_, html)| *html)
    }
}

/// Accepts connections forever, each in its own task: TLS (if configured), then the HTTP head: pages are served,
/// upgrades go to the site's handler. Logs every request with its status and duration, and every WebSocket's end.
pub async fn serve<H, F>(listener: Listener, site: Arc<Site<H>>)
where
    H: Fn(WebSocket<Stream>, Peer) -> F + Send + Sync + 'static,
    F: Future<Output = Result<CloseOutcome, Error>> + Send + 'static,
{
    serve_with(listener, site, Config::default()).await
}

/// [`serve`] with connection settings other than the defaults (e.g. [`Args::config`]).
pub async fn serve_with<H, F>(listener: Listener, site: Arc<Site<H>>, config: Config)
where
    H: Fn(WebSocket<Stream>, Peer) -> F + Send + Sync + 'static,
    F: Future<Output = Result<CloseOutcome, Error>> + Send + 'static,
{
    let config = Arc::new(config);
    loop {
        let (tcp, peer) = match listener.tcp.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                log(format_args!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (tls, site, config) = (listener.tls.clone(), site.clone(), config.clone());
        tokio::spawn(async move {
            let stream: Stream = match tls {
                None => Box::new(tcp),
                // Boxed, as the WebSocket handshake below: the task keeps no room for a finished handshake.
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, Box::pin(acceptor.accept(tcp))).await {
                        Ok(Ok(s)) => Box::new(s),
                        Ok(Err(e)) => return log(format_args!("{peer} TLS handshake failed: {e}")),
                        Err(_) => return log(format_args!("{peer} TLS handshake timed out")),
                    }
                }
            };
            handle(stream, peer, &site, &config).await;
        });
    }
}

async fn handle<H, F>(stream: Stream, peer: SocketAddr, site: &Site<H>, config: &Config)
where
    H: Fn(WebSocket<Stream>, Peer) -> F,
    F: Future<Output = Result<CloseOutcome, Error>>,
{
    let t0 = Instant::now();
    let hook = |req: &UpgradeRequest| {
        // Routed by path: `GET /websocket` and `GET http://host/websocket` alike (RFC 9112 §3.2.2).
        if site.accepts_ws(req.request.path()) {
            Ok(Accept::default())
        } else {
            Err(Reject::new(404, "Not Found\n"))
        }
    };
    match Box::pin(accept_with(stream, config.clone(), hook)).await {
        Ok(Accepted::Http(http)) => {
            let (method, path) = (http.request.method.clone(), http.request.target.clone());
            let only = http.request.path();
            let (status, ctype, body) = match site.page(only) {
                Some(_) if method != "GET" && method != "HEAD" => (405, "text/plain", "Method Not Allowed\n"),
                Some(html) => (200, "text/html; charset=utf-8", html),
                None if site.accepts_ws(only) => (site.no_upgrade.0, "text/plain", site.no_upgrade.1),
                None => (404, "text/plain", "Not Found\n"),
            };
            let body = if method == "HEAD" { "" } else { body };
            let mut headers = vec![("Content-Type", ctype)];
            if status == 426 {
                // RFC 9110 §15.5.22: a 426 says what to upgrade to.
                headers.extend(UPGRADE_REQUIRED);
            }
            let sent = http.respond(status, &headers, body.as_bytes()).await;
            let err = sent.err().map(|e| format!(" (send failed: {e})")).unwrap_or_default();
            log(format_args!("{peer} {method} {path} {status} in {:.1?}{err}", t0.elapsed()));
        }
        Ok(Accepted::WebSocket(ws, request)) => {
            let path = request.request.target.clone();
            log(format_args!("{peer} GET {path} 101 in {:.1?}: WebSocket open", t0.elapsed()));
            let t1 = Instant::now();
            let end = match (site.handler)(ws, Peer { addr: peer, request }).await {
                Ok(outcome) => describe(&outcome),
                Err(e) => format!("error: {e}"),
            };
            log(format_args!("{peer} GET {path} WebSocket closed after {:.1?}: {end}", t1.elapsed()));
        }
        Ok(Accepted::Rejected(request, status)) => {
            let r = &request.request;
            log(format_args!("{peer} {} {} {status} in {:.1?}: upgrade refused", r.method, r.target, t0.elapsed()));
        }
        Err(e) => log(format_args!("{peer} bad request after {:.1?}: {e}", t0.elapsed())),
    }
}

/// A close outcome in words: `1000 (normal) "bye", closed by the client`.
pub fn describe(outcome: &CloseOutcome) -> String {
    match outcome {
        CloseOutcome::Clean { remote, initiated_locally: true } => format!("{remote}, closed by the server"),
        CloseOutcome::Clean { remote, initiated_locally: false } => format!("{remote}, closed by the client"),
        CloseOutcome::Failed(e) => format!("failed: {e}"),
        CloseOutcome::Abnormal => "1006 (abnormal closure): the connection dropped without a close frame".into(),
        other => format!("{}", other.code()),
    }
}

/// The next text or binary message, skipping pings and pongs (pings are answered automatically). `Ok(None)`
/// when the peer closed or the connection ended: call [`WebSocket::close`] to finish and get the outcome.
pub async fn recv_data<S>(ws: &mut WebSocket<S>) -> Result<Option<Message>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match ws.recv().await {
            Some(Ok(m)) if m.is_data() => return Ok(Some(m)),
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
        }
    }
}

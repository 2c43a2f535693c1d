//! The load generator's engine: one thread, raw non-blocking TCP sockets under `epoll`, a hand-made handshake,
//! and messages masked once before the run.
//!
//! Each of C connections keeps P messages in flight: every echoed message that completes is answered by
//! one more, written with the others that completed in the same read (one `send` per connection per wake-up,
//! from a buffer of P + 1 copies of the message, so nothing is encoded or copied in user space). Echoes are
//! parsed in place from one shared receive buffer; their lengths are checked and the first bytes of each
//! payload chunk compared with what was sent. Long payloads are dropped in the kernel with
//! `recv(MSG_TRUNC)` (no copy), keeping the last 16 bytes to compare.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use flate2::{Decompress, FlushDecompress};
use wsproto::internal::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use wsproto::{DeflateConfig, DeflateParams};

use crate::util::{proc_cpu, self_cpu, thread_cpu};
use crate::wire::{self, Kind};

/// Bytes read per `recv` into the shared buffer.
const RECV_BUF: usize = 256 * 1024;
/// A payload remainder longer than this is dropped in the kernel (`MSG_TRUNC`) instead of copied.
const TRUNC_MIN: usize = 16 * 1024;
/// Payload bytes compared per chunk seen (and kept for the tail of a dropped payload).
const SAMPLE: usize = 16;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The echo server.
    pub addr: SocketAddr,
    /// Connections.
    pub conns: usize,
    /// Messages in flight per connection.
    pub inflight: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Payload kind.
    pub kind: Kind,
    /// Frames per message (fragmentation).
    pub frames: usize,
    /// Time before the measurement window.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub secs: Duration,
    /// Most messages counted in the window (the window ends early when reached).
    pub max_msgs: u64,
    /// The server's pid, for its CPU time.
    pub server_pid: Option<u32>,
    /// Count only this thread's CPU time (in-process benchmarks), not the whole process's.
    pub thread_cpu_only: bool,
    /// Negotiate permessage-deflate with this offer (see [`deflate_offer`]) and send the message pre-compressed
    /// (RSV1, one frame, compressed once: our side has no context takeover); the echoes are inflated (with
    /// the server's context takeover) and compared in full.
    pub deflate: Option<DeflateConfig>,
}

/// The generator's permessage-deflate offer: `client_no_context_takeover` always (each pre-compressed message
/// stands alone), plus `server_no_context_takeover` and both window limits if asked for; without `bits` the
/// offer is `permessage-deflate; client_no_context_takeover; client_max_window_bits`.
pub fn deflate_offer(server_no_context_takeover: bool, bits: Option<u8>) -> DeflateConfig {
    let mut c = DeflateConfig::default();
    c.client_no_context_takeover = true;
    c.server_no_context_takeover = server_no_context_takeover;
    c.server_max_window_bits = bits;
    c.client_max_window_bits = bits;
    c
}

/// What a run measured (over the window).
#[derive(Debug, Clone)]
pub struct Report {
    /// Echoed messages completed.
    pub msgs: u64,
    /// Window length in seconds.
    pub secs: f64,
    /// Generator CPU seconds.
    pub gen_cpu: f64,
    /// Server CPU seconds, if its pid was given.
    pub server_cpu: Option<f64>,
    /// `recv` and `send` calls of the generator.
    pub syscalls: u64,
    /// Bytes received (frames as on the wire) over the window.
    pub rx_bytes: u64,
    /// Bytes on the wire of one sent message (headers included).
    pub msg_wire_len: usize,
    /// The negotiated permessage-deflate parameters, if any.
    pub deflate: Option<DeflateParams>,
    /// With one message in flight per connection: every round trip in the window (µs), sorted.
    pub latency_us: Vec<u32>,
}

/// The window's start and end, for callers that measure something else over it (allocations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The window starts.
    Start,
    /// The window ends.
    End,
}

/// Opens a WebSocket connection by hand: TCP, `TCP_NODELAY`, the request, a checked 101 response.
pub fn connect_ws(addr: SocketAddr) -> io::Result<TcpStream> {
    connect_ws_with(addr, None).map(|(s, _)| s)
}

/// [`connect_ws`], offering permessage-deflate as `deflate` says; the server's answer must accept it and is
/// validated against the offer (RFC 7692 §7.1).
pub fn connect_ws_with(
    addr: SocketAddr,
    deflate: Option<&DeflateConfig>,
) -> io::Result<(TcpStream, Option<DeflateParams>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let offer = deflate.map(DeflateConfig::offer);
    s.write_all(&wire::handshake_request_with(&addr.to_string(), offer.as_deref()))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the handshake"));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = wire::head_end(&head) {
            wire::check_handshake_response(&head[..end]).map_err(io::Error::other)?;
            if end != head.len() {
                return Err(io::Error::other("bytes after the 101 response before any frame was sent"));
            }
            let ext = wire::response_extensions(&head[..end]);
            let params = match (deflate, ext) {
                (None, None) => None,
                (None, Some(e)) => return Err(io::Error::other(format!("extension {e:?} not offered"))),
                (Some(_), None) => return Err(io::Error::other("the server declined permessage-deflate")),
                (Some(cfg), Some(e)) => Some(cfg.accept_response(&e).map_err(io::Error::other)?),
            };
            return Ok((s, params));
        }
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("handshake response too long"));
        }
    }
}

/// One connection's state.
struct Conn {
    /// Kept open until the run ends (closed on drop).
    _stream: TcpStream,
    fd: i32,
    /// Bytes still to send, and where in the message stream the next byte is (mod the message length).
    owed: usize,
    pos: usize,
    epollout: bool,
    /// A partial frame header carried between reads.
    hdr: [u8; MAX_HEADER_LEN],
    hlen: usize,
    in_frame: bool,
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes of the current frame still to come.
    left: usize,
    frame_off: usize,
    /// Payload bytes of the current message so far.
    msg_off: usize,
    msg_started: bool,
    /// Deflate mode: whether the current echo is compressed, its payload so far, and the inflater.
    rsv1: bool,
    zbuf: Vec<u8>,
    inflater: Option<Decompress>,
    /// One message in flight: when its last byte was sent.
    sent_at: Option<Instant>,
}

struct Engine<'a> {
    opts: &'a Options,
    expected: Vec<u8>,
    sendbuf: Vec<u8>,
    msg_len: usize,
    recvbuf: Vec<u8>,
    total: u64,
    syscalls: u64,
    rx_bytes: u64,
    /// Deflate mode: the server resets its compressor after each message; the inflated echo.
    server_reset: bool,
    inflated: Vec<u8>,
    /// In the measurement window: round trips are recorded (one message in flight per connection).
    recording: bool,
    latency_us: Vec<u32>,
}

fn errno() -> io::Error {
    io::Error::last_os_error()
}

impl Engine<'_> {
    fn read(&mut self, c: &mut Conn) -> Result<(), String> {
        for _ in 0..16 {
            if c.in_frame && c.left > TRUNC_MIN && c.inflater.is_none() {
                let want = c.left - SAMPLE;
                // SAFETY: with MSG_TRUNC the kernel drops up to `want` bytes without writing to the buffer.
                let r = unsafe { libc::recv(c.fd, std::ptr::null_mut(), want, libc::MSG_TRUNC | libc::MSG_DONTWAIT) };
                self.syscalls += 1;
                if r < 0 {
                    let e = errno();
                    if e.kind() == io::ErrorKind::WouldBlock {
                        return Ok(());
                    }
                    return Err(format!("recv: {e}"));
                }
                if r == 0 {
                    return Err("the server closed the connection".into());
                }
                let r = r as usize;
                self.rx_bytes += r as u64;
                c.left -= r;
                c.frame_off += r;
                c.msg_off += r;
                if r < want {
                    return Ok(());
                }
                continue;
            }
            // SAFETY: the buffer is ours and `RECV_BUF` long.
            let r =
                unsafe { libc::recv(c.fd, self.recvbuf.as_mut_ptr().cast(), self.recvbuf.len(), libc::MSG_DONTWAIT) };
            self.syscalls += 1;
            if r < 0 {
                let e = errno();
                if e.kind() == io::ErrorKind::WouldBlock {
                    return Ok(());
                }
                return Err(format!("recv: {e}"));
            }
            if r == 0 {
                return Err("the server closed the connection".into());
            }
            let r = r as usize;
            self.rx_bytes += r as u64;
            let data = std::mem::take(&mut self.recvbuf);
            let res = if c.inflater.is_some() { self.parse_deflate(c, &data[..r]) } else { self.parse(c, &data[..r]) };
            self.recvbuf = data;
            res?;
            if r < self.recvbuf.len() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn parse(&mut self, c: &mut Conn, data: &[u8]) -> Result<(), String> {
        let mut i = 0;
        while i < data.len() {
            if !c.in_frame && c.hlen == 0 {
                if let Some(used) = self.small_frame(c, &data[i..])? {
                    i += used;
                    continue;
                }
            }
            if !c.in_frame {
                let (h, used) = if c.hlen == 0 {
                    match FrameHeader::parse(&data[i..]) {
                        Ok(Some(x)) => x,
                        Ok(None) => {
                            let rest = &data[i..];
                            c.hdr[..rest.len()].copy_from_slice(rest);
                            c.hlen = rest.len();
                            return Ok(());
                        }
                        Err(e) => return Err(format!("bad frame header from the server: {e}")),
                    }
                } else {
                    let take = (MAX_HEADER_LEN - c.hlen).min(data.len() - i);
                    c.hdr[c.hlen..c.hlen + take].copy_from_slice(&data[i..i + take]);
                    match FrameHeader::parse(&c.hdr[..c.hlen + take]) {
                        Ok(Some((h, n))) => {
                            let used = n - c.hlen;
                            c.hlen = 0;
                            (h, used)
                        }
                        Ok(None) => {
                            c.hlen += take;
                            return Ok(());
                        }
                        Err(e) => return Err(format!("bad frame header from the server: {e}")),
                    }
                };
                i += used;
                self.header(c, h)?;
                if c.left == 0 {
                    self.frame_end(c)?;
                }
                continue;
            }
            let take = c.left.min(data.len() - i);
            let n = take.min(SAMPLE);
            let exp = &self.expected[c.msg_off..c.msg_off + n];
            for k in 0..n {
                let mut b = data[i + k];
                if let Some(key) = c.mask {
                    b ^= key[(c.frame_off + k) & 3];
                }
                if b != exp[k] {
                    return Err(format!("payload byte {} differs from what was sent", c.msg_off + k));
                }
            }
            c.left -= take;
            c.frame_off += take;
            c.msg_off += take;
            i += take;
            if c.left == 0 {
                self.frame_end(c)?;
            }
        }
        Ok(())
    }

    /// Deflate mode: every echo's frames are collected (unmasked if need be) and the message inflated when it
    /// ends, then compared in full with what was sent. An echo without RSV1 is compared as it is.
    fn parse_deflate(&mut self, c: &mut Conn, data: &[u8]) -> Result<(), String> {
        let mut i = 0;
        while i < data.len() {
            if !c.in_frame {
                let take = (MAX_HEADER_LEN - c.hlen).min(data.len() - i);
                c.hdr[c.hlen..c.hlen + take].copy_from_slice(&data[i..i + take]);
                let (h, n) = match FrameHeader::parse(&c.hdr[..c.hlen + take]) {
                    Ok(Some(x)) => x,
                    Ok(None) => {
                        c.hlen += take;
                        return Ok(());
                    }
                    Err(e) => return Err(format!("bad frame header from the server: {e}")),
                };
                i += n - c.hlen;
                c.hlen = 0;
                let first = !c.msg_started;
                if h.rsv & 0x3 != 0 || (!first && h.rsv != 0) {
                    return Err(format!("reserved bits {:#x} on an echo frame", h.rsv));
                }
                self.header(c, h)?;
                if first {
                    c.rsv1 = h.rsv & 0x4 != 0;
                }
                if c.zbuf.len() + c.left > 2 * self.opts.size + 1024 {
                    return Err("compressed echo far longer than the message sent".into());
                }
                if c.left == 0 {
                    self.deflate_frame_end(c)?;
                }
                continue;
            }
            let take = c.left.min(data.len() - i);
            let start = c.zbuf.len();
            c.zbuf.extend_from_slice(&data[i..i + take]);
            if let Some(key) = c.mask {
                wsproto::internal::mask::apply_mask(&mut c.zbuf[start..], key, c.frame_off);
            }
            c.left -= take;
            c.frame_off += take;
            i += take;
            if c.left == 0 {
                self.deflate_frame_end(c)?;
            }
        }
        Ok(())
    }

    fn deflate_frame_end(&mut self, c: &mut Conn) -> Result<(), String> {
        c.in_frame = false;
        if !c.fin {
            return Ok(());
        }
        let size = self.opts.size;
        let got: &[u8] = if c.rsv1 {
            c.zbuf.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let d = c.inflater.as_mut().expect("deflate mode");
            let out = &mut self.inflated;
            out.clear();
            let mut input = &c.zbuf[..];
            while !input.is_empty() {
                let before = d.total_in();
                d.decompress_vec(input, out, FlushDecompress::Sync).map_err(|e| format!("inflate: {e}"))?;
                let used = (d.total_in() - before) as usize;
                input = &input[used..];
                if out.len() > size {
                    return Err(format!("echo inflates to more than the {size} bytes sent"));
                }
                if used == 0 && !input.is_empty() {
                    return Err("inflate made no progress".into());
                }
            }
            if self.server_reset {
                d.reset(false);
            }
            out
        } else {
            &c.zbuf
        };
        if got != &self.expected[..] {
            return Err(format!("echo of {} bytes differs from the {size} bytes sent", got.len()));
        }
        c.zbuf.clear();
        c.msg_off = 0;
        c.msg_started = false;
        self.echoed(c);
        Ok(())
    }

    /// The fast path for small frames: a whole frame with a 7-bit length (masked or not) at the start of `d`,
    /// checked and counted without building a header. Returns the bytes it used, or `None` to take the
    /// general path (a partial frame, a long one, a control frame, reserved bits).
    #[inline]
    fn small_frame(&mut self, c: &mut Conn, d: &[u8]) -> Result<Option<usize>, String> {
        if d.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (d[0], d[1]);
        let len = (b1 & 0x7f) as usize;
        let hl = if b1 & 0x80 != 0 { 6 } else { 2 };
        if len >= 126 || b0 & 0x70 != 0 || d.len() < hl + len {
            return Ok(None);
        }
        let data_op = if self.opts.kind.is_text() { 0x1 } else { 0x2 };
        match b0 & 0x0f {
            op if op == data_op && !c.msg_started => c.msg_started = true,
            0 if c.msg_started => {}
            _ => return Ok(None),
        }
        if c.msg_off + len > self.opts.size {
            return Err(format!("echo longer than the {} bytes sent", self.opts.size));
        }
        let n = len.min(SAMPLE);
        let got = &d[hl..hl + n];
        let exp = &self.expected[c.msg_off..c.msg_off + n];
        let ok = if hl == 6 {
            got.iter().zip(exp).enumerate().all(|(k, (b, e))| b ^ d[2 + (k & 3)] == *e)
        } else {
            got == exp
        };
        if !ok {
            return Err(format!("payload byte near {} differs from what was sent", c.msg_off));
        }
        c.msg_off += len;
        if b0 & 0x80 != 0 {
            if c.msg_off != self.opts.size {
                return Err(format!("echo of {} bytes, {} sent", c.msg_off, self.opts.size));
            }
            c.msg_off = 0;
            c.msg_started = false;
            self.echoed(c);
        }
        Ok(Some(hl + len))
    }

    fn header(&mut self, c: &mut Conn, h: FrameHeader) -> Result<(), String> {
        match h.opcode {
            OpCode::Text | OpCode::Binary => {
                if c.msg_started {
                    return Err("a new message started before the last one ended".into());
                }
                if (h.opcode == OpCode::Text) != self.opts.kind.is_text() {
                    return Err(format!("echo has opcode {:?}", h.opcode));
                }
                c.msg_started = true;
            }
            OpCode::Continuation if c.msg_started => {}
            op => return Err(format!("unexpected {op:?} frame from the server")),
        }
        let len = h.payload_len as usize;
        if c.msg_off + len > self.opts.size {
            return Err(format!("echo longer than the {} bytes sent", self.opts.size));
        }
        c.in_frame = true;
        c.fin = h.fin;
        c.mask = h.mask;
        c.left = len;
        c.frame_off = 0;
        Ok(())
    }

    fn frame_end(&mut self, c: &mut Conn) -> Result<(), String> {
        c.in_frame = false;
        if !c.fin {
            return Ok(());
        }
        if c.msg_off != self.opts.size {
            return Err(format!("echo of {} bytes, {} sent", c.msg_off, self.opts.size));
        }
        c.msg_off = 0;
        c.msg_started = false;
        self.echoed(c);
        Ok(())
    }

    /// A whole echo arrived: count it, owe the next message, and with one message in flight per connection
    /// record its round trip (from the end of its send).
    fn echoed(&mut self, c: &mut Conn) {
        self.total += 1;
        c.owed += self.msg_len;
        if let (true, Some(t)) = (self.recording, c.sent_at.take()) {
            self.latency_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        }
    }

    fn write(&mut self, ep: i32, idx: usize, c: &mut Conn) -> Result<(), String> {
        while c.owed > 0 {
            let len = c.owed.min(self.sendbuf.len() - c.pos);
            // SAFETY: the range is inside `sendbuf`.
            let r = unsafe {
                libc::send(c.fd, self.sendbuf.as_ptr().add(c.pos).cast(), len, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
            };
            self.syscalls += 1;
            if r < 0 {
                let e = errno();
                if e.kind() == io::ErrorKind::WouldBlock {
                    break;
                }
                return Err(format!("send: {e}"));
            }
            let r = r as usize;
            c.owed -= r;
            c.pos = (c.pos + r) % self.msg_len;
            if c.owed == 0 && self.opts.inflight == 1 {
                c.sent_at = Some(Instant::now());
            }
            if r < len {
                break;
            }
        }
        let want_out = c.owed > 0;
        if want_out != c.epollout {
            c.epollout = want_out;
            let events = libc::EPOLLIN as u32 | if want_out { libc::EPOLLOUT as u32 } else { 0 };
            let mut ev = libc::epoll_event { events, u64: idx as u64 };
            // SAFETY: plain epoll_ctl on descriptors we own.
            if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, c.fd, &mut ev) } < 0 {
                return Err(format!("epoll_ctl: {}", errno()));
            }
        }
        Ok(())
    }
}

/// Runs the load; `mark` is called when the measurement window starts and ends.
pub fn run(opts: &Options, mark: &mut dyn FnMut(Mark)) -> Result<Report, String> {
    if opts.conns == 0 || opts.inflight == 0 {
        return Err("need at least one connection and one message in flight".into());
    }
    let expected = wire::payload(opts.size, opts.kind);
    let mut params = None;
    let mut streams = Vec::with_capacity(opts.conns);
    for _ in 0..opts.conns {
        let (stream, p) =
            connect_ws_with(opts.addr, opts.deflate.as_ref()).map_err(|e| format!("connect {}: {e}", opts.addr))?;
        if params.is_some() && params != p {
            return Err("the server negotiated different deflate parameters on different connections".into());
        }
        params = p;
        streams.push(stream);
    }
    let message = match params {
        Some(p) => {
            if opts.frames != 1 {
                return Err("deflate mode sends one frame per message".into());
            }
            let z = wire::deflate_payload(&expected, p.client_max_window_bits, 6);
            wire::client_compressed_message(&z, opts.kind)
        }
        None => wire::client_message(&expected, opts.kind, opts.frames),
    };
    let msg_len = message.len();
    // P + 1 copies: `owed` (at most P messages) fits after any start position in the first copy.
    let sendbuf: Vec<u8> = message.iter().copied().cycle().take(msg_len * (opts.inflight + 1)).collect();

    let mut conns = Vec::with_capacity(opts.conns);
    for stream in streams {
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        let fd = stream.as_raw_fd();
        conns.push(Conn {
            _stream: stream,
            fd,
            owed: msg_len * opts.inflight,
            pos: 0,
            epollout: false,
            hdr: [0; MAX_HEADER_LEN],
            hlen: 0,
            in_frame: false,
            fin: false,
            mask: None,
            left: 0,
            frame_off: 0,
            msg_off: 0,
            msg_started: false,
            rsv1: false,
            zbuf: Vec::new(),
            // A 15-bit window inflates whatever window the server uses.
            inflater: params.map(|_| Decompress::new(false)),
            sent_at: None,
        });
    }
    // SAFETY: epoll_create1 has no preconditions; the descriptor is closed below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(format!("epoll_create1: {}", errno()));
    }
    for (i, c) in conns.iter().enumerate() {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: i as u64 };
        // SAFETY: registering a descriptor we own.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, c.fd, &mut ev) } < 0 {
            return Err(format!("epoll_ctl: {}", errno()));
        }
    }
    let mut eng = Engine {
        opts,
        expected,
        sendbuf,
        msg_len,
        recvbuf: vec![0u8; RECV_BUF],
        total: 0,
        syscalls: 0,
        rx_bytes: 0,
        server_reset: params.is_some_and(|p| p.server_no_context_takeover),
        inflated: Vec::with_capacity(opts.size + 64),
        recording: false,
        latency_us: Vec::with_capacity(if opts.inflight == 1 { 1 << 20 } else { 0 }),
    };
    let result = event_loop(&mut eng, ep, &mut conns, mark).map(|mut r| {
        r.msg_wire_len = msg_len;
        r.deflate = params;
        r
    });
    // SAFETY: closing our epoll descriptor.
    unsafe { libc::close(ep) };
    drop(conns);
    result
}

fn cpu(opts: &Options) -> f64 {
    if opts.thread_cpu_only {
        thread_cpu()
    } else {
        self_cpu()
    }
}

fn event_loop(eng: &mut Engine<'_>, ep: i32, conns: &mut [Conn], mark: &mut dyn FnMut(Mark)) -> Result<Report, String> {
    let opts = eng.opts;
    for (i, c) in conns.iter_mut().enumerate() {
        eng.write(ep, i, c)?;
    }
    let start = Instant::now();
    let warm_end = start + opts.warmup;
    let end = warm_end + opts.secs;
    let mut in_window = false;
    let (mut t0, mut msgs0, mut cpu0, mut srv0, mut sys0, mut rx0) = (start, 0, 0.0, None, 0, 0);
    let mut last_total = 0;
    let mut last_progress = start;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    loop {
        let now = Instant::now();
        if !in_window && now >= warm_end {
            in_window = true;
            mark(Mark::Start);
            t0 = Instant::now();
            msgs0 = eng.total;
            cpu0 = cpu(opts);
            srv0 = opts.server_pid.and_then(proc_cpu);
            sys0 = eng.syscalls;
            rx0 = eng.rx_bytes;
            eng.recording = true;
            eng.latency_us.clear();
        }
        if in_window && (now >= end || eng.total - msgs0 >= opts.max_msgs) {
            let secs = t0.elapsed().as_secs_f64();
            let gen_cpu = cpu(opts) - cpu0;
            let server_cpu = match (srv0, opts.server_pid.and_then(proc_cpu)) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            };
            mark(Mark::End);
            return Ok(Report {
                msgs: eng.total - msgs0,
                secs,
                gen_cpu,
                server_cpu,
                syscalls: eng.syscalls - sys0,
                rx_bytes: eng.rx_bytes - rx0,
                msg_wire_len: 0,
                deflate: None,
                latency_us: {
                    let mut l = std::mem::take(&mut eng.latency_us);
                    l.sort_unstable();
                    l
                },
            });
        }
        if eng.total != last_total {
            last_total = eng.total;
            last_progress = now;
        } else if now - last_progress > Duration::from_secs(10) {
            return Err("no echo for 10 s: the server stalled".into());
        }
        let next = if in_window { end } else { warm_end };
        let timeout = next.saturating_duration_since(now).as_millis().clamp(1, 100) as i32;
        // SAFETY: the events buffer is ours and its length is passed.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, timeout) };
        if n < 0 {
            let e = errno();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("epoll_wait: {e}"));
        }
        for ev in &events[..n as usize] {
            let idx = ev.u64 as usize;
            let flags = ev.events;
            let c = &mut conns[idx];
            if flags & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                eng.read(c)?;
            }
            if c.owed > 0 {
                eng.write(ep, idx, c)?;
            }
        }
    }
}

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

use wsproto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};

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
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.write_all(&wire::handshake_request(&addr.to_string()))?;
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
            return Ok(s);
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
}

struct Engine<'a> {
    opts: &'a Options,
    expected: Vec<u8>,
    sendbuf: Vec<u8>,
    msg_len: usize,
    recvbuf: Vec<u8>,
    total: u64,
    syscalls: u64,
}

fn errno() -> io::Error {
    io::Error::last_os_error()
}

impl Engine<'_> {
    fn read(&mut self, c: &mut Conn) -> Result<(), String> {
        for _ in 0..16 {
            if c.in_frame && c.left > TRUNC_MIN {
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
            let data = std::mem::take(&mut self.recvbuf);
            let res = self.parse(c, &data[..r]);
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
            self.total += 1;
            c.owed += self.msg_len;
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
        self.total += 1;
        c.owed += self.msg_len;
        Ok(())
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
    let message = wire::client_message(&expected, opts.kind, opts.frames);
    let msg_len = message.len();
    // P + 1 copies: `owed` (at most P messages) fits after any start position in the first copy.
    let sendbuf: Vec<u8> = message.iter().copied().cycle().take(msg_len * (opts.inflight + 1)).collect();

    let mut conns = Vec::with_capacity(opts.conns);
    for _ in 0..opts.conns {
        let stream = connect_ws(opts.addr).map_err(|e| format!("connect {}: {e}", opts.addr))?;
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
    let mut eng = Engine { opts, expected, sendbuf, msg_len, recvbuf: vec![0u8; RECV_BUF], total: 0, syscalls: 0 };
    let result = event_loop(&mut eng, ep, &mut conns, mark);
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
    let (mut t0, mut msgs0, mut cpu0, mut srv0, mut sys0) = (start, 0, 0.0, None, 0);
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
        }
        if in_window && (now >= end || eng.total - msgs0 >= opts.max_msgs) {
            let secs = t0.elapsed().as_secs_f64();
            let gen_cpu = cpu(opts) - cpu0;
            let server_cpu = match (srv0, opts.server_pid.and_then(proc_cpu)) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            };
            mark(Mark::End);
            return Ok(Report { msgs: eng.total - msgs0, secs, gen_cpu, server_cpu, syscalls: eng.syscalls - sys0 });
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

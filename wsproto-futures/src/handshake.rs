//! The opening handshakes over a futures-io stream: the core's [`ServerHandshake`] and [`ClientHandshake`]
//! read the head as it arrives; their own deadline ([`wsproto::Config::handshake_timeout`]) is the only
//! timer, and the driver sleeps until it.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::Poll;

use futures_io::{AsyncRead, AsyncWrite};
use wsproto::handshake::{
    write_response, Accept, ClientHandshake, ClientOutcome, ClientRequest, HeadInput, Incoming, Negotiated, Response,
    ServerHandshake, UpgradeRequest, UPGRADE_REQUIRED,
};
use wsproto::Config;

use crate::{Clock, Error, Timer, WebSocket};

/// Accepts a WebSocket on `stream`, taking any upgrade request without a subprotocol. A refused request
/// (400, 408 at the handshake deadline, 414, 426, 431) is answered with its status and returned as
/// [`Error::Request`]; a plain HTTP request is answered with 426 ([`Error::Refused`]).
pub async fn accept<S, T>(stream: S, config: Config, timer: T) -> Result<WebSocket<S, T>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Timer,
{
    accept_with(stream, config, timer, |_| Ok(Accept::default())).await.map(|(ws, _)| ws)
}

/// Like [`accept`], with a hook that sees the upgrade request and accepts it (choosing a subprotocol, adding
/// headers) or refuses it with a status (answered with an empty body, returned as [`Error::Refused`]).
pub async fn accept_with<S, T, F>(
    mut stream: S,
    config: Config,
    timer: T,
    hook: F,
) -> Result<(WebSocket<S, T>, UpgradeRequest), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Timer,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, u16>,
{
    let clock = Clock::start();
    let mut hs = ServerHandshake::new(config)?;
    hs.handle_timeout(clock.now());
    let incoming = loop {
        match hs.poll_request() {
            Ok(Some(incoming)) => break incoming,
            Ok(None) => {}
            Err(e) => {
                let mut out = Vec::new();
                e.write_response(&mut out);
                let _ = write_and_close(&mut stream, &out).await;
                return Err(Error::Request(e));
            }
        }
        read_head(&mut stream, &mut hs, &timer, &clock).await?;
    };
    let refuse = |status: u16, headers: &[(&str, &str)], body: &[u8]| {
        let mut out = Vec::new();
        write_response(status, headers, body, &mut out);
        out
    };
    match incoming {
        Incoming::Http(_) => {
            let out = refuse(426, &UPGRADE_REQUIRED, b"WebSocket upgrade required\n");
            let _ = write_and_close(&mut stream, &out).await;
            Err(Error::Refused(426))
        }
        Incoming::Upgrade(req) => match hook(&req) {
            Ok(accept) => {
                let mut out = Vec::new();
                let conn = hs.accept(&req, accept, &mut out)?;
                write_all(&mut stream, &out).await?;
                Ok((WebSocket::with_clock(stream, conn, timer, clock), req))
            }
            Err(status) => {
                let _ = write_and_close(&mut stream, &refuse(status, &[], b"")).await;
                Err(Error::Refused(status))
            }
        },
        _ => {
            let _ = write_and_close(&mut stream, &refuse(400, &[], b"")).await;
            Err(Error::Refused(400))
        }
    }
}

/// Runs the client handshake over an established stream: writes `request`, reads and validates the response
/// within the core's handshake deadline ([`ResponseError::Timeout`](wsproto::handshake::ResponseError::Timeout)). Returns the WebSocket, the 101 response
/// and what was agreed (subprotocol, extensions).
pub async fn client_handshake<S, T>(
    mut stream: S,
    request: ClientRequest,
    config: Config,
    timer: T,
) -> Result<(WebSocket<S, T>, Response, Negotiated), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Timer,
{
    let clock = Clock::start();
    let mut hs = ClientHandshake::new(request, config, rand::random())?;
    hs.handle_timeout(clock.now());
    let mut out = Vec::new();
    hs.write_request(&mut out)?;
    write_all(&mut stream, &out).await?;
    loop {
        match hs.poll_response() {
            Ok(Some(ClientOutcome::Accepted { connection, negotiated, response })) => {
                return Ok((WebSocket::with_clock(stream, connection, timer, clock), response, negotiated));
            }
            Ok(Some(ClientOutcome::Rejected(response))) => return Err(Error::Rejected(Box::new(response))),
            Ok(Some(other)) => {
                return Err(Error::Io(std::io::Error::other(format!("unexpected handshake outcome: {other:?}"))))
            }
            Ok(None) => {}
            Err(e) => return Err(Error::Response(e)),
        }
        read_head(&mut stream, &mut hs, &timer, &clock).await?;
    }
}

/// Waits for one read or the handshake's deadline, whichever comes first; then tells the handshake the time
/// and gives it the bytes (a passed deadline shows as the handshake's timeout error when it is polled next).
async fn read_head<S, T>(stream: &mut S, hs: &mut impl HeadInput, timer: &T, clock: &Clock) -> io::Result<()>
where
    S: AsyncRead + Unpin,
    T: Timer,
{
    let mut buf = [0u8; 4096];
    let mut sleep = hs.poll_timeout().and_then(|d| clock.at(d)).map(|at| Box::pin(timer.sleep_until(at)));
    let read = poll_fn(|cx| {
        if let Poll::Ready(r) = Pin::new(&mut *stream).poll_read(cx, &mut buf) {
            return Poll::Ready(r.map(Some));
        }
        match &mut sleep {
            Some(s) => s.as_mut().poll(cx).map(|()| Ok(None)),
            None => Poll::Pending,
        }
    })
    .await?;
    hs.handle_timeout(clock.now());
    match read {
        Some(0) => hs.feed_eof(),
        Some(n) => hs.feed(&buf[..n]),
        None => {}
    }
    Ok(())
}

async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, mut data: &[u8]) -> io::Result<()> {
    poll_fn(|cx| {
        while !data.is_empty() {
            let n = std::task::ready!(Pin::new(&mut *stream).poll_write(cx, data))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            data = &data[n..];
        }
        Pin::new(&mut *stream).poll_flush(cx)
    })
    .await
}

async fn write_and_close<S: AsyncWrite + Unpin>(stream: &mut S, data: &[u8]) -> io::Result<()> {
    write_all(stream, data).await?;
    poll_fn(|cx| Pin::new(&mut *stream).poll_close(cx)).await
}

//! Driving the core's opening handshakes over a stream: the head is read as it arrives, and the handshake's
//! own deadline ([`wsproto::Config::handshake_timeout`]) is the only timer — the adapter sleeps until it.

use std::io;
use std::mem::MaybeUninit;

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use wsproto::handshake::HeadInput;

use crate::time::Clock;

/// Waits for one read from `stream` (through a small stack buffer: the handshake keeps what it needs) or the
/// handshake's deadline, whichever comes first; then tells the handshake the time and gives it the bytes. The
/// caller polls the handshake next (a passed deadline shows there as its timeout error).
pub(crate) async fn read_head_bytes<S: AsyncRead + Unpin>(
    stream: &mut S,
    hs: &mut impl HeadInput,
    clock: &Clock,
) -> io::Result<()> {
    let mut storage = [MaybeUninit::<u8>::uninit(); 4096];
    let mut rb = ReadBuf::uninit(&mut storage);
    let read = match hs.poll_timeout() {
        Some(deadline) => tokio::select! {
            r = stream.read_buf(&mut rb) => Some(r?),
            () = tokio::time::sleep_until(clock.at(deadline)) => None,
        },
        None => Some(stream.read_buf(&mut rb).await?),
    };
    hs.handle_timeout(clock.now());
    match read {
        Some(0) => hs.feed_eof(),
        Some(_) => hs.feed(rb.filled()),
        None => {}
    }
    Ok(())
}

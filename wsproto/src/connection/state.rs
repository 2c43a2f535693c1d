//! The close lifecycle (RFC 6455 §7) as one type: [`State`], with every transition in
//! [`Lifecycle::apply`] and every question the connection asks about it answered here.
//!
//! ```text
//!            LocalClose                     PeerClose
//!   Open ─────────────────▶ CloseSent ─────────────────▶ Closed { initiated_locally: true }
//!    │  PeerClose (reply queued)                          Closed { initiated_locally: false }
//!    ├──────────────────────────────────────────────────▶
//!    │  Fail (close frame queued unless the error sends none)
//!    └─────────────▶ Failed ◀──────── CloseSent (Fail: our close is already out)
//! ```
//!
//! `Closed` and `Failed` are final. The transport's end (EOF) is a separate fact: it stops sending at once,
//! and fails an open connection once the events buffered before it are drained.

use crate::close::{CloseCode, CloseFrame};
use crate::error::{ProtocolError, SendError};

use super::{CloseOutcome, Role};

/// Where a connection is in its life (RFC 6455 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Data flows both ways.
    Open,
    /// We sent a close frame first (§7.1.2): no more data may be sent, and events keep arriving until the
    /// peer's close frame does.
    CloseSent,
    /// Close frames went both ways (§7.1.2, §7.1.3): the closing handshake is done.
    Closed {
        /// The peer's close frame.
        remote: CloseFrame,
        /// Whether our close frame went first.
        initiated_locally: bool,
    },
    /// The connection failed (§7.1.7): the peer broke the protocol or a limit, missed a deadline, or the
    /// transport ended before the closing handshake ([`ProtocolError::UnexpectedEof`]).
    Failed(ProtocolError),
}

/// What happens to the state: the connection's inputs and commands, as the lifecycle sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    /// The application sends a close frame.
    LocalClose,
    /// The peer's close frame arrived (valid).
    PeerClose(CloseFrame),
    /// The connection fails with this error.
    Fail(ProtocolError),
}

/// What the connection must send because of a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing.
    None,
    /// Reply to the peer's close frame, echoing its code (§5.5.1).
    ReplyClose(Option<CloseCode>),
    /// Fail the connection with this close frame (§7.1.7).
    FailClose(CloseCode, &'static str),
}

/// The state plus the transport facts that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lifecycle {
    state: State,
    /// The transport ended (the driver called `feed_eof`).
    eof: bool,
    /// A client waited the close timeout for the server to close the transport after the closing handshake
    /// (§7.1.1), and now closes it itself.
    linger_expired: bool,
    /// The final state, summed up (set with it).
    outcome: Option<CloseOutcome>,
    /// `state` is `Open` and the transport has not ended: the one fact every command checks, kept as a
    /// plain flag (set with `state` and `eof`).
    sendable: bool,
    /// `state` is `Closed` or `Failed` (the check every poll makes, as a plain flag).
    finished: bool,
    /// Our close frame was sent or queued (first, in reply, or to fail the connection).
    close_sent: bool,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            state: State::Open,
            eof: false,
            linger_expired: false,
            outcome: None,
            sendable: true,
            finished: false,
            close_sent: false,
        }
    }

    #[inline]
    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    /// The one place the state changes.
    pub(crate) fn apply(&mut self, input: Input) -> Effect {
        let (next, effect) = match (&self.state, input) {
            (State::Open, Input::LocalClose) => (State::CloseSent, Effect::None),
            (State::Open, Input::PeerClose(remote)) => {
                let code = remote.code;
                (State::Closed { remote, initiated_locally: false }, Effect::ReplyClose(code))
            }
            (State::CloseSent, Input::PeerClose(remote)) => {
                (State::Closed { remote, initiated_locally: true }, Effect::None)
            }
            (State::Open, Input::Fail(e)) => {
                let effect =
                    if e.sends_close() { Effect::FailClose(e.close_code(), e.wire_reason()) } else { Effect::None };
                (State::Failed(e), effect)
            }
            (State::CloseSent, Input::Fail(e)) => (State::Failed(e), Effect::None),
            // A second close from us is refused before it gets here (`can_send`), and nothing is read after
            // the end: the final states stay as they are.
            (State::CloseSent, Input::LocalClose) | (State::Closed { .. } | State::Failed(_), _) => {
                return Effect::None
            }
        };
        self.outcome = match &next {
            State::Open | State::CloseSent => None,
            State::Closed { remote, initiated_locally } => {
                Some(CloseOutcome::Clean { remote: remote.clone(), initiated_locally: *initiated_locally })
            }
            State::Failed(ProtocolError::UnexpectedEof) => Some(CloseOutcome::Abnormal),
            State::Failed(e) => Some(CloseOutcome::Failed(e.clone())),
        };
        self.sendable = next == State::Open && !self.eof;
        self.close_sent |= matches!(next, State::CloseSent | State::Closed { .. })
            || matches!(effect, Effect::ReplyClose(_) | Effect::FailClose(..));
        self.finished = matches!(next, State::Closed { .. } | State::Failed(_));
        self.state = next;
        effect
    }

    /// How the connection ended, once it has.
    pub(crate) fn outcome(&self) -> Option<&CloseOutcome> {
        self.outcome.as_ref()
    }

    /// The transport ended.
    pub(crate) fn set_eof(&mut self) {
        self.eof = true;
        self.sendable = false;
    }

    #[inline]
    pub(crate) fn eof(&self) -> bool {
        self.eof
    }

    /// The deadline for closing the transport passed: a client gives up waiting for the server to close it.
    pub(crate) fn expire_linger(&mut self) {
        if self.finished {
            self.linger_expired = true;
        }
    }

    /// Whether data, pings and a close frame may be sent now (RFC 6455 §5.5.1: nothing after our close).
    #[inline]
    pub(crate) fn can_send(&self) -> Result<(), SendError> {
        if self.sendable {
            return Ok(());
        }
        self.refusal()
    }

    #[cold]
    fn refusal(&self) -> Result<(), SendError> {
        match self.state {
            State::Failed(_) => Err(SendError::Failed),
            _ if self.eof => Err(SendError::Failed),
            State::Open => Ok(()),
            State::CloseSent | State::Closed { .. } => Err(SendError::Closing),
        }
    }

    /// Whether our close frame was sent or queued (RFC 6455 §5.5.1: no data after it).
    #[inline]
    pub(crate) fn is_closing(&self) -> bool {
        self.close_sent
    }

    /// Whether automatic replies (pongs) are still sent: only while open.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// No more events: the peer's close arrived or the connection failed.
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether fed bytes are still read: not after the end, nor after the transport's end.
    #[inline]
    pub(crate) fn accepts_input(&self) -> bool {
        !self.is_finished() && !self.eof
    }

    /// Whether the driver should close the transport once its output is flushed (RFC 6455 §7.1.1).
    pub(crate) fn wants_transport_closed(&self, role: Role) -> bool {
        match self.state {
            State::Failed(_) => true,
            _ if self.eof => true,
            State::Closed { .. } => role == Role::Server || self.linger_expired,
            State::Open | State::CloseSent => false,
        }
    }

    /// The error the connection failed with, if it did.
    #[inline]
    pub(crate) fn failure(&self) -> Option<&ProtocolError> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(code: u16) -> CloseFrame {
        CloseFrame { code: Some(CloseCode(code)), reason: String::new() }
    }

    fn at(state: State) -> Lifecycle {
        Lifecycle {
            sendable: state == State::Open,
            finished: matches!(state, State::Closed { .. } | State::Failed(_)),
            close_sent: matches!(state, State::CloseSent | State::Closed { .. }),
            state,
            eof: false,
            linger_expired: false,
            outcome: None,
        }
    }

    #[test]
    fn open_local_close_goes_to_close_sent() {
        let mut l = Lifecycle::new();
        assert_eq!(l.can_send(), Ok(()));
        assert_eq!(l.apply(Input::LocalClose), Effect::None);
        assert_eq!(l.state(), &State::CloseSent);
        assert_eq!(l.can_send(), Err(SendError::Closing));
        assert!(l.is_closing() && !l.is_finished() && l.accepts_input());
        let mut failed = Lifecycle::new();
        failed.apply(Input::Fail(ProtocolError::UnexpectedEof));
        assert!(!failed.is_closing(), "no close frame goes to a vanished transport");
        assert!(!l.wants_transport_closed(Role::Server));
    }

    #[test]
    fn open_peer_close_replies_with_its_code() {
        let mut l = Lifecycle::new();
        assert_eq!(l.apply(Input::PeerClose(frame(4001))), Effect::ReplyClose(Some(CloseCode(4001))));
        assert_eq!(l.state(), &State::Closed { remote: frame(4001), initiated_locally: false });
        let mut l = Lifecycle::new();
        let empty = CloseFrame { code: None, reason: String::new() };
        assert_eq!(l.apply(Input::PeerClose(empty)), Effect::ReplyClose(None));
        assert!(l.is_finished() && !l.accepts_input());
    }

    #[test]
    fn close_sent_peer_close_is_a_clean_local_close() {
        let mut l = at(State::CloseSent);
        assert_eq!(l.apply(Input::PeerClose(frame(1000))), Effect::None);
        assert_eq!(l.state(), &State::Closed { remote: frame(1000), initiated_locally: true });
        assert_eq!(l.outcome(), Some(&CloseOutcome::Clean { remote: frame(1000), initiated_locally: true }));
    }

    #[test]
    fn open_fail_sends_the_errors_close_frame() {
        let mut l = Lifecycle::new();
        let e = ProtocolError::UnmaskedFrame;
        assert_eq!(l.apply(Input::Fail(e.clone())), Effect::FailClose(CloseCode(1002), "unmasked frame"));
        assert_eq!(l.failure(), Some(&e));
        assert_eq!(l.outcome(), Some(&CloseOutcome::Failed(e.clone())));
        assert_eq!(l.can_send(), Err(SendError::Failed));
        assert!(l.wants_transport_closed(Role::Client));
    }

    #[test]
    fn open_fail_without_close_frame() {
        let mut l = Lifecycle::new();
        assert_eq!(l.apply(Input::Fail(ProtocolError::UnexpectedEof)), Effect::None);
        assert_eq!(l.state(), &State::Failed(ProtocolError::UnexpectedEof));
        assert_eq!(l.outcome(), Some(&CloseOutcome::Abnormal));
    }

    #[test]
    fn close_sent_fail_sends_nothing_more() {
        let mut l = at(State::CloseSent);
        assert_eq!(l.apply(Input::Fail(ProtocolError::MaskedFrame)), Effect::None);
        assert_eq!(l.state(), &State::Failed(ProtocolError::MaskedFrame));
    }

    #[test]
    fn final_states_ignore_everything() {
        let finals = [
            State::Closed { remote: frame(1000), initiated_locally: false },
            State::Failed(ProtocolError::CloseTooShort),
        ];
        for state in finals {
            for input in [Input::LocalClose, Input::PeerClose(frame(1001)), Input::Fail(ProtocolError::UnmaskedFrame)] {
                let mut l = at(state.clone());
                assert_eq!(l.apply(input), Effect::None);
                assert_eq!(l.state(), &state);
            }
        }
        let mut l = at(State::CloseSent);
        assert_eq!(l.apply(Input::LocalClose), Effect::None);
        assert_eq!(l.state(), &State::CloseSent);
    }

    #[test]
    fn eof_stops_sending_and_input_at_once() {
        let mut l = Lifecycle::new();
        l.set_eof();
        assert_eq!(l.can_send(), Err(SendError::Failed));
        assert!(!l.accepts_input());
        assert!(l.wants_transport_closed(Role::Client));
        assert!(!l.is_finished(), "buffered events are still drained");
    }

    #[test]
    fn who_closes_the_transport() {
        // RFC 6455 §7.1.1: the server closes first; the client waits for it, up to its timeout.
        let closed = State::Closed { remote: frame(1000), initiated_locally: true };
        assert!(at(closed.clone()).wants_transport_closed(Role::Server));
        let mut client = at(closed);
        assert!(!client.wants_transport_closed(Role::Client));
        client.expire_linger();
        assert!(client.wants_transport_closed(Role::Client));
        let mut open = Lifecycle::new();
        open.expire_linger();
        assert!(!open.wants_transport_closed(Role::Client), "linger applies only after the closing handshake");
    }
}

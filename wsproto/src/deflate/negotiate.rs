//! permessage-deflate negotiation (RFC 7692 §5, §7.1): our policy ([`DeflateConfig`]), the client's offer, the
//! server's choice among offers, the client's check of the answer, and the parsing of extension elements
//! (RFC 6455 §9.1) with their parameters.

#[allow(unused_imports)]
use crate::prelude::*;

use core::fmt;

use crate::error::ConfigError;
use crate::http_fields::extension_name;

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// Our policy for permessage-deflate, in either role.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Client: ask the server to reset its compressor after each message. Server: always do so.
    pub server_no_context_takeover: bool,
    /// Client: reset our compressor after each message (and say so). Server: ask the client to.
    pub client_no_context_takeover: bool,
    /// Client: ask the server to use at most this window (8–15). Server: use at most this window.
    pub server_max_window_bits: Option<u8>,
    /// Client: offer to use at most this window (`None`: offer the parameter without a value, letting the
    /// server choose). Server: ask the client to use at most this window, when the client allows it.
    pub client_max_window_bits: Option<u8>,
    /// Compression level, 0–9. Default 6 (zlib's default).
    pub level: u32,
    /// Messages shorter than this are sent uncompressed. Default 64 bytes.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            level: 6,
            threshold: 64,
        }
    }
}

/// Parameters both sides agreed to (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's compression window (bits, 8–15).
    pub server_max_window_bits: u8,
    /// The client's compression window (bits, 8–15).
    pub client_max_window_bits: u8,
}

/// Why a permessage-deflate extension element could not be used (RFC 7692 §7.1). From a server's
/// [`DeflateConfig::accept_offer`], the client's offer is at fault (the offer is declined, not the
/// handshake); from a client's [`DeflateConfig::accept_response`], the server's answer is (the handshake fails,
/// RFC 7692 §7.1: "the client MUST _Fail the WebSocket Connection_"); [`Config`](Self::Config) is the
/// caller's own configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeflateParamError {
    /// The element's name is not `permessage-deflate`.
    NotPermessageDeflate,
    /// A `;` with no parameter name after it.
    EmptyParameter,
    /// A parameter given twice (RFC 7692 §7.1: the element MUST be declined / the connection failed).
    DuplicateParameter(String),
    /// A parameter this extension does not define (RFC 7692 §7.1).
    UnknownParameter(String),
    /// A quoted value without its closing quote (RFC 9110 §5.6.4).
    UnterminatedQuote,
    /// Characters after a quoted value's closing quote.
    JunkAfterQuote,
    /// A flag parameter (`server_no_context_takeover`, `client_no_context_takeover`) with a value
    /// (RFC 7692 §7.1.1).
    TakesNoValue(&'static str),
    /// A window-bits parameter without the value it needs here (`server_max_window_bits` always, RFC 7692
    /// §7.1.2.1; `client_max_window_bits` in an answer, §7.1.2.2).
    NeedsValue(&'static str),
    /// A window-bits value that is not a decimal integer without leading zeros (RFC 7692 §7.1.2).
    InvalidWindowBits(String),
    /// A window-bits value outside 8–15 (RFC 7692 §7.1.2).
    WindowBitsOutOfRange(u8),
    /// The server's answer lacks a parameter the client asked for (`server_no_context_takeover`,
    /// `server_max_window_bits` below 15; RFC 7692 §7.1.1.1, §7.1.2.1).
    NotGranted(&'static str),
    /// The server's answer has a `server_max_window_bits` above the one the client asked for
    /// (RFC 7692 §7.1.2.1).
    ServerWindowAboveRequest,
    /// The server's answer has a `client_max_window_bits` above the one the client offered
    /// (RFC 7692 §7.1.2.2).
    ClientWindowAboveOffer,
    /// The server answered permessage-deflate more than once (RFC 7692 §5: at most one element).
    AnsweredTwice,
    /// Our own [`DeflateConfig`] is invalid (the caller's mistake).
    Config(ConfigError),
}

impl fmt::Display for DeflateParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == DeflateParamError::AnsweredTwice {
            return f.write_str("permessage-deflate answered twice");
        }
        f.write_str("permessage-deflate: ")?;
        match self {
            DeflateParamError::NotPermessageDeflate => f.write_str("not permessage-deflate"),
            DeflateParamError::EmptyParameter => f.write_str("empty parameter"),
            DeflateParamError::DuplicateParameter(k) => write!(f, "duplicate parameter {k}"),
            DeflateParamError::UnknownParameter(k) => write!(f, "unknown parameter {k}"),
            DeflateParamError::UnterminatedQuote => f.write_str("unterminated quoted value"),
            DeflateParamError::JunkAfterQuote => f.write_str("junk after a quoted value"),
            DeflateParamError::TakesNoValue(k) => write!(f, "{k} takes no value"),
            DeflateParamError::NeedsValue(k) => write!(f, "{k} needs a value"),
            DeflateParamError::InvalidWindowBits(v) => write!(f, "invalid window bits {v:?}"),
            DeflateParamError::WindowBitsOutOfRange(n) => write!(f, "window bits {n} out of range 8-15"),
            DeflateParamError::NotGranted(k) => write!(f, "{k} was requested but not granted"),
            DeflateParamError::ServerWindowAboveRequest => {
                f.write_str("server_max_window_bits above what we asked for")
            }
            DeflateParamError::ClientWindowAboveOffer => f.write_str("client_max_window_bits above what we offered"),
            DeflateParamError::AnsweredTwice => unreachable!("handled above"),
            DeflateParamError::Config(e) => f.write_str(e.reason()),
        }
    }
}

impl core::error::Error for DeflateParamError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            DeflateParamError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for DeflateParamError {
    fn from(e: ConfigError) -> Self {
        DeflateParamError::Config(e)
    }
}

/// Extension parameters: names (lowercased) and values (unquoted), in order.
type Params = Vec<(String, Option<String>)>;

/// One parsed extension element: its name and parameters.
fn parse_element(element: &str) -> Result<(String, Params), DeflateParamError> {
    let mut parts = split_params(element).into_iter();
    let name = parts.next().unwrap_or_default();
    let mut params = Vec::new();
    for p in parts {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => {
                let v = v.trim();
                let v = match v.strip_prefix('"') {
                    Some(q) => unquote(q)?,
                    None => v.to_string(),
                };
                (k.trim().to_ascii_lowercase(), Some(v))
            }
            None => (p.trim().to_ascii_lowercase(), None),
        };
        if k.is_empty() {
            return Err(DeflateParamError::EmptyParameter);
        }
        if params.iter().any(|(n, _)| *n == k) {
            return Err(DeflateParamError::DuplicateParameter(k));
        }
        params.push((k, v));
    }
    Ok((name.trim().to_ascii_lowercase(), params))
}

/// The content of a quoted string (RFC 9110 §5.6.4) whose opening quote is already removed: `\\x` stands for
/// `x`, and the closing quote must end the value.
fn unquote(q: &str) -> Result<String, DeflateParamError> {
    let mut out = String::new();
    let mut chars = q.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or(DeflateParamError::UnterminatedQuote)?),
            '"' if chars.as_str().is_empty() => return Ok(out),
            '"' => return Err(DeflateParamError::JunkAfterQuote),
            c => out.push(c),
        }
    }
    Err(DeflateParamError::UnterminatedQuote)
}

/// Splits on `;` outside quoted strings.
fn split_params(element: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in element.chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            cur.push(c);
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                cur.push(c);
            }
            ';' => out.push(core::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn window_bits(v: &str) -> Result<u8, DeflateParamError> {
    // RFC 7692 §7.1.2: a decimal integer 8–15 with no leading zeros.
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DeflateParamError::InvalidWindowBits(v.to_string()));
    }
    match v.parse::<u8>() {
        Ok(n @ 8..=15) => Ok(n),
        Ok(n) => Err(DeflateParamError::WindowBitsOutOfRange(n)),
        Err(_) => Err(DeflateParamError::InvalidWindowBits(v.to_string())),
    }
}

fn no_value(name: &'static str, v: &Option<String>) -> Result<(), DeflateParamError> {
    match v {
        None => Ok(()),
        Some(_) => Err(DeflateParamError::TakesNoValue(name)),
    }
}

impl DeflateConfig {
    /// Checks the configured values: window bits 8–15 (RFC 7692 §7.1.2), level 0–9.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for bits in [self.server_max_window_bits, self.client_max_window_bits].into_iter().flatten() {
            if !(8..=15).contains(&bits) {
                return Err(ConfigError::DeflateWindowBits);
            }
        }
        if self.level > 9 {
            return Err(ConfigError::DeflateLevel);
        }
        Ok(())
    }

    /// The client's offer: one `Sec-WebSocket-Extensions` element (RFC 7692 §5.1).
    pub fn offer(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if let Some(b) = self.server_max_window_bits {
            s.push_str(&format!("; server_max_window_bits={b}"));
        }
        match self.client_max_window_bits {
            Some(b) => s.push_str(&format!("; client_max_window_bits={b}")),
            None => s.push_str("; client_max_window_bits"),
        }
        s
    }

    /// Server: the parameters for one offered element, or why it cannot be accepted (RFC 7692 §7.1).
    pub fn accept_offer(&self, element: &str) -> Result<DeflateParams, DeflateParamError> {
        self.validate()?;
        let offer = Element::parse(element)?;
        let mut p = DeflateParams {
            server_no_context_takeover: self.server_no_context_takeover || offer.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover || offer.client_no_context_takeover,
            server_max_window_bits: self.server_max_window_bits.unwrap_or(15),
            client_max_window_bits: 15,
        };
        if let Some(bits) = offer.server_max_window_bits {
            p.server_max_window_bits = p.server_max_window_bits.min(bits);
        }
        // Only when offered may the server limit the client's window (a valueless offer allows any).
        if let Some(allowed) = offer.client_max_window_bits {
            p.client_max_window_bits = allowed.unwrap_or(15).min(self.client_max_window_bits.unwrap_or(15));
        }
        Ok(p)
    }

    /// Server: the first acceptable offer among the `Sec-WebSocket-Extensions` elements, if any.
    pub fn negotiate(&self, offers: &[String]) -> Option<DeflateParams> {
        offers
            .iter()
            .filter(|o| extension_name(o).eq_ignore_ascii_case(EXTENSION_NAME))
            .find_map(|o| self.accept_offer(o).ok())
    }

    /// Client: validates the server's answer against what we offered (RFC 7692 §7.1).
    pub fn accept_response(&self, element: &str) -> Result<DeflateParams, DeflateParamError> {
        self.validate()?;
        let answer = Element::parse(element)?;
        if self.server_no_context_takeover && !answer.server_no_context_takeover {
            return Err(DeflateParamError::NotGranted("server_no_context_takeover"));
        }
        let server_max_window_bits = match answer.server_max_window_bits {
            Some(bits) if self.server_max_window_bits.is_some_and(|asked| bits > asked) => {
                return Err(DeflateParamError::ServerWindowAboveRequest);
            }
            Some(bits) => bits,
            None if self.server_max_window_bits.is_some_and(|asked| asked < 15) => {
                return Err(DeflateParamError::NotGranted("server_max_window_bits"));
            }
            None => 15,
        };
        let offered = self.client_max_window_bits.unwrap_or(15);
        let client_max_window_bits = match answer.client_max_window_bits {
            None => offered,
            Some(None) => return Err(DeflateParamError::NeedsValue("client_max_window_bits")),
            Some(Some(bits)) if bits > offered => return Err(DeflateParamError::ClientWindowAboveOffer),
            Some(Some(bits)) => bits,
        };
        Ok(DeflateParams {
            server_no_context_takeover: answer.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover || answer.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        })
    }
}

/// A permessage-deflate element with its parameters checked for syntax (RFC 7692 §7.1): each at most once,
/// window bits 8–15, the takeover flags without values, nothing unknown.
struct Element {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// Present with or without a value.
    client_max_window_bits: Option<Option<u8>>,
}

impl Element {
    fn parse(element: &str) -> Result<Element, DeflateParamError> {
        let (name, params) = parse_element(element)?;
        if name != EXTENSION_NAME {
            return Err(DeflateParamError::NotPermessageDeflate);
        }
        let mut e = Element {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
        };
        for (k, v) in &params {
            match k.as_str() {
                "server_no_context_takeover" => {
                    no_value("server_no_context_takeover", v)?;
                    e.server_no_context_takeover = true;
                }
                "client_no_context_takeover" => {
                    no_value("client_no_context_takeover", v)?;
                    e.client_no_context_takeover = true;
                }
                "server_max_window_bits" => {
                    let v = v.as_deref().ok_or(DeflateParamError::NeedsValue("server_max_window_bits"))?;
                    e.server_max_window_bits = Some(window_bits(v)?);
                }
                "client_max_window_bits" => {
                    e.client_max_window_bits = Some(v.as_deref().map(window_bits).transpose()?);
                }
                other => return Err(DeflateParamError::UnknownParameter(other.to_string())),
            }
        }
        Ok(e)
    }
}

impl DeflateParams {
    /// The server's answer: one `Sec-WebSocket-Extensions` element (RFC 7692 §7.1).
    pub fn response_header(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            s.push_str(&format!("; server_max_window_bits={}", self.server_max_window_bits));
        }
        if self.client_max_window_bits < 15 {
            s.push_str(&format!("; client_max_window_bits={}", self.client_max_window_bits));
        }
        s
    }
}

/// Client: finds and validates permessage-deflate among the answered extension elements.
pub(crate) fn from_response(
    config: &DeflateConfig,
    elements: &[String],
) -> Result<Option<DeflateParams>, DeflateParamError> {
    let mut found = None;
    for e in elements {
        if extension_name(e).eq_ignore_ascii_case(EXTENSION_NAME) {
            if found.is_some() {
                return Err(DeflateParamError::AnsweredTwice);
            }
            found = Some(config.accept_response(e)?);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(server: &str) -> DeflateParams {
        DeflateConfig::default().accept_offer(server).unwrap()
    }

    #[test]
    fn negotiation_defaults() {
        let c = DeflateConfig::default();
        assert_eq!(c.offer(), "permessage-deflate; client_max_window_bits");
        let p = params("permessage-deflate; client_max_window_bits");
        assert_eq!(p.response_header(), "permessage-deflate");
        let p = params(
            "permessage-deflate; client_max_window_bits=10; server_max_window_bits=9; server_no_context_takeover",
        );
        assert_eq!(
            p.response_header(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10"
        );
        assert_eq!(c.accept_response(&p.response_header()).unwrap().client_max_window_bits, 10);
    }

    #[test]
    fn malformed_offers_are_declined() {
        let c = DeflateConfig::default();
        use DeflateParamError as E;
        for (bad, e) in [
            ("permessage-deflate; server_max_window_bits", E::NeedsValue("server_max_window_bits")),
            ("permessage-deflate; server_max_window_bits=16", E::WindowBitsOutOfRange(16)),
            ("permessage-deflate; server_max_window_bits=7", E::WindowBitsOutOfRange(7)),
            ("permessage-deflate; server_max_window_bits=09", E::InvalidWindowBits("09".into())),
            ("permessage-deflate; client_max_window_bits=1x", E::InvalidWindowBits("1x".into())),
            ("permessage-deflate; server_no_context_takeover=1", E::TakesNoValue("server_no_context_takeover")),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                E::DuplicateParameter("server_no_context_takeover".into()),
            ),
            ("permessage-deflate; unknown", E::UnknownParameter("unknown".into())),
            ("permessage-deflate; ; x", E::EmptyParameter),
            ("permessage-deflate; server_max_window_bits=\"10", E::UnterminatedQuote),
            ("permessage-deflate; server_max_window_bits=\"10\"x", E::JunkAfterQuote),
            ("x-webkit-deflate-frame", E::NotPermessageDeflate),
        ] {
            assert_eq!(c.accept_offer(bad), Err(e), "{bad}");
        }
        let bad_config = DeflateConfig { level: 10, ..DeflateConfig::default() };
        assert_eq!(bad_config.accept_offer("permessage-deflate"), Err(E::Config(ConfigError::DeflateLevel)));
        assert_eq!(E::WindowBitsOutOfRange(16).to_string(), "permessage-deflate: window bits 16 out of range 8-15");
        assert_eq!(E::Config(ConfigError::DeflateLevel).to_string(), "permessage-deflate: deflate level must be 0-9");
        assert!(c.accept_offer("permessage-deflate; server_max_window_bits=\"10\"").is_ok());
        let offers = vec!["permessage-deflate; bogus".to_string(), "permessage-deflate".to_string()];
        assert_eq!(c.negotiate(&offers).unwrap().server_max_window_bits, 15);
    }

    #[test]
    fn client_rejects_what_it_did_not_ask_for() {
        let c = DeflateConfig { client_max_window_bits: Some(10), ..DeflateConfig::default() };
        use DeflateParamError as E;
        let answer = |s: &str| c.accept_response(s);
        assert_eq!(answer("permessage-deflate; client_max_window_bits=12"), Err(E::ClientWindowAboveOffer));
        assert_eq!(answer("permessage-deflate; client_max_window_bits"), Err(E::NeedsValue("client_max_window_bits")));
        assert_eq!(answer("permessage-deflate; foo=1"), Err(E::UnknownParameter("foo".into())));
        let twice = ["permessage-deflate".to_string(), "permessage-deflate".to_string()];
        assert_eq!(from_response(&c, &twice), Err(E::AnsweredTwice));
        assert_eq!(E::AnsweredTwice.to_string(), "permessage-deflate answered twice");
        let c = DeflateConfig { server_max_window_bits: Some(10), ..DeflateConfig::default() };
        assert_eq!(c.accept_response("permessage-deflate"), Err(E::NotGranted("server_max_window_bits")));
        assert_eq!(
            c.accept_response("permessage-deflate; server_max_window_bits=11"),
            Err(E::ServerWindowAboveRequest)
        );
        let c = DeflateConfig { server_no_context_takeover: true, ..DeflateConfig::default() };
        assert_eq!(c.accept_response("permessage-deflate"), Err(E::NotGranted("server_no_context_takeover")));
        assert!(c.accept_response("permessage-deflate; server_no_context_takeover").is_ok());
    }
}

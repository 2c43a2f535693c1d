//! `deflate_params`: permessage-deflate negotiation (RFC 7692 §5, §7.1), plus what the deflate targets share:
//! config generators, an independent reference model of the negotiation, and real handshakes in memory.
//!
//! Input (`arbitrary`): a server and a client [`DeflateConfig`] (valid, or with out-of-range values: the
//! negotiation API takes unvalidated configs), a list of `Sec-WebSocket-Extensions` elements offered to the
//! server (raw strings, the client's own `offer()`, or structured `permessage-deflate` elements with random,
//! repeated, quoted, escaped, out-of-range and valueless parameters) and one element answered to the client.
//!
//! Invariants:
//! - no panic, whatever the config or the element;
//! - with a valid config, `accept_offer` and `accept_response` agree with the reference model ([`model_parse`],
//!   [`model_accept_offer`], [`model_accept_response`], written from RFC 7692 §7.1 and RFC 6455 §9.1 with
//!   quoted-string unescaping per RFC 7230 §3.2.6): the same accept/decline verdict and the same parameters;
//!   window bits always in 8..=15;
//! - an accepted offer's `response_header` is one well-formed element that answers `client_max_window_bits`
//!   only if it was offered, `server_no_context_takeover` whenever it was offered and `server_max_window_bits`
//!   within what was offered; fed to `accept_response` of a client config that made an equivalent offer, it is
//!   accepted with the same parameters;
//! - a valid client's `offer()` is accepted by every valid server, and the answer round-trips the same way;
//! - `negotiate` picks the first acceptable offer.

use arbitrary::{Arbitrary, Unstructured};
use wsproto::handshake::{Accept, ClientHandshake, ClientOutcome, ClientRequest, Incoming, ServerHandshake};
use wsproto::{Config, Connection, DeflateConfig, DeflateParams, Role};

// ----------------------------------------------------------------------------------------------------------
// Config generators.

/// A [`DeflateConfig`] chosen by the input.
#[derive(Arbitrary, Debug, Clone)]
pub struct DeflateGen {
    pub snct: bool,
    pub cnct: bool,
    pub smwb: Option<u8>,
    pub cmwb: Option<u8>,
    pub level: u8,
    pub threshold: u8,
}

const THRESHOLDS: [usize; 8] = [0, 1, 2, 16, 64, 100, 1024, 100_000];
/// Out-of-range window bits for [`DeflateGen::any`].
const BAD_BITS: [u8; 8] = [0, 1, 7, 16, 17, 31, 128, 255];

impl DeflateGen {
    /// A valid config (what `Config::validate` accepts).
    pub fn valid(&self) -> DeflateConfig {
        let mut d = DeflateConfig::default();
        d.server_no_context_takeover = self.snct;
        d.client_no_context_takeover = self.cnct;
        d.server_max_window_bits = self.smwb.map(|b| 8 + b % 8);
        d.client_max_window_bits = self.cmwb.map(|b| 8 + b % 8);
        d.level = self.level as u32 % 10;
        d.threshold = THRESHOLDS[self.threshold as usize % THRESHOLDS.len()];
        d.validate().expect("generated deflate config is valid");
        d
    }

    /// Any values: window bits out of 8..=15 half the time, levels above 9.
    pub fn any(&self) -> DeflateConfig {
        let bits = |b: u8| if b & 1 == 0 { 8 + (b >> 1) % 8 } else { BAD_BITS[(b >> 1) as usize % BAD_BITS.len()] };
        let mut d = self.valid();
        d.server_max_window_bits = self.smwb.map(bits);
        d.client_max_window_bits = self.cmwb.map(bits);
        d.level = self.level as u32 % 12;
        d
    }
}

// ----------------------------------------------------------------------------------------------------------
// Reference model of the negotiation.

/// Extension parameters as the model parses them: (lowercased name, unescaped value).
pub type ModelParams = Vec<(String, Option<String>)>;

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_tchar)
}

/// Unescapes a whole quoted-string (RFC 7230 §3.2.6): `"` *( qdtext / `\` any ) `"`, nothing after it.
fn unquote(s: &str) -> Option<String> {
    let mut chars = s.chars();
    if chars.next() != Some('"') {
        return None;
    }
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return if chars.next().is_none() { Some(out) } else { None },
            '\\' => out.push(chars.next()?),
            c if c == '\t' || (c >= ' ' && c != '\u{7f}') => out.push(c),
            _ => return None,
        }
    }
}

/// Parses one extension element (RFC 6455 §9.1 `extension`): `token *( ";" token [ "=" (token /
/// quoted-string) ] )`, with whitespace around every part (trimmed as `str::trim` does: wsproto's documented
/// leniency) and names compared ASCII-case-insensitively. `None` when malformed.
pub fn model_parse(element: &str) -> Option<(String, ModelParams)> {
    // Split on `;` outside quoted strings.
    let mut parts = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in element.chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        } else if c == ';' {
            parts.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push(c);
    }
    parts.push(cur);
    let name = parts[0].trim();
    if !is_token(name) {
        return None;
    }
    let mut params = Vec::new();
    for p in &parts[1..] {
        let (k, v) = match p.split_once('=') {
            None => (p.trim(), None),
            Some((k, v)) => {
                let v = v.trim();
                let v = if v.starts_with('"') {
                    unquote(v)?
                } else if is_token(v) {
                    v.to_string()
                } else {
                    return None;
                };
                (k.trim(), Some(v))
            }
        };
        if !is_token(k) {
            return None;
        }
        params.push((k.to_ascii_lowercase(), v));
    }
    Some((name.to_ascii_lowercase(), params))
}

/// RFC 7692 §7.1.2.1: 1*DIGIT, 8 to 15, no leading zeros (after unquoting).
fn model_bits(v: &str) -> Option<u8> {
    match v {
        "8" => Some(8),
        "9" => Some(9),
        "10" => Some(10),
        "11" => Some(11),
        "12" => Some(12),
        "13" => Some(13),
        "14" => Some(14),
        "15" => Some(15),
        _ => None,
    }
}

/// The parameters of a permessage-deflate element, checked: no duplicates, known names, valueless flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offered {
    pub snct: bool,
    pub cnct: bool,
    /// `server_max_window_bits`: must have a valid value.
    pub smwb: Option<u8>,
    /// `client_max_window_bits`: `Some(None)` without a value.
    pub cmwb: Option<Option<u8>>,
}

/// Parses and checks a permessage-deflate element; `None` if it must be declined (RFC 7692 §7.1: unknown or
/// duplicate parameters, invalid values).
pub fn model_offered(element: &str, valueless_cmwb: bool) -> Option<Offered> {
    let (name, params) = model_parse(element)?;
    if name != "permessage-deflate" {
        return None;
    }
    let mut o = Offered::default();
    for (i, (k, v)) in params.iter().enumerate() {
        if params[..i].iter().any(|(n, _)| n == k) {
            return None;
        }
        match (k.as_str(), v) {
            ("server_no_context_takeover", None) => o.snct = true,
            ("client_no_context_takeover", None) => o.cnct = true,
            ("server_max_window_bits", Some(v)) => o.smwb = Some(model_bits(v)?),
            ("client_max_window_bits", None) if valueless_cmwb => o.cmwb = Some(None),
            ("client_max_window_bits", Some(v)) => o.cmwb = Some(Some(model_bits(v)?)),
            _ => return None,
        }
    }
    Some(o)
}

/// What a server with `cfg` agrees to for `offer` (RFC 7692 §7.1 and `DeflateConfig`'s documented policy).
pub fn model_accept_offer(cfg: &DeflateConfig, offer: &str) -> Option<DeflateParams> {
    let o = model_offered(offer, true)?;
    Some(DeflateParams {
        // §7.1.1.1: a requested server_no_context_takeover must be granted; the config may add it.
        server_no_context_takeover: cfg.server_no_context_takeover || o.snct,
        // §7.1.1.2: the client's hint is taken; the config may ask for it.
        client_no_context_takeover: cfg.client_no_context_takeover || o.cnct,
        // §7.1.2.1: at most what was asked for, and at most our own limit.
        server_max_window_bits: cfg.server_max_window_bits.unwrap_or(15).min(o.smwb.unwrap_or(15)),
        // §7.1.2.2: limited only if the client said it can be.
        client_max_window_bits: match o.cmwb {
            None => 15,
            Some(v) => v.unwrap_or(15).min(cfg.client_max_window_bits.unwrap_or(15)),
        },
    })
}

/// What a client with `cfg` (having sent `cfg.offer()`) makes of the server's answer.
pub fn model_accept_response(cfg: &DeflateConfig, response: &str) -> Option<DeflateParams> {
    // §7.1.2.2: in a response client_max_window_bits needs a value.
    let r = model_offered(response, false)?;
    let offered_client_bits = cfg.client_max_window_bits.unwrap_or(15);
    let client_bits = match r.cmwb {
        Some(Some(b)) if b > offered_client_bits => return None,
        Some(Some(b)) => b,
        _ => offered_client_bits,
    };
    if cfg.server_no_context_takeover && !r.snct {
        return None;
    }
    let server_bits = r.smwb.unwrap_or(15);
    if cfg.server_max_window_bits.is_some_and(|asked| server_bits > asked) {
        return None;
    }
    Some(DeflateParams {
        server_no_context_takeover: r.snct,
        client_no_context_takeover: cfg.client_no_context_takeover || r.cnct,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    })
}

fn bits_in_range(p: &DeflateParams) -> bool {
    (8..=15).contains(&p.server_max_window_bits) && (8..=15).contains(&p.client_max_window_bits)
}

// ----------------------------------------------------------------------------------------------------------
// Structured elements.

const EXT_NAMES: &[&str] = &[
    "permessage-deflate",
    "PerMessage-Deflate",
    " permessage-deflate ",
    "permessage-deflate\t",
    "x-webkit-deflate-frame",
    "permessage-deflate2",
    "permessage_deflate",
    "",
    "\"permessage-deflate\"",
];
const PARAM_NAMES: &[&str] = &[
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
    "SERVER_MAX_WINDOW_BITS",
    "Client_No_Context_Takeover",
    "client_max_window_bits ",
    "max_window_bits",
    "unknown",
    "",
    "\"server_no_context_takeover\"",
];
const VALUES: &[&str] = &[
    "8",
    "9",
    "10",
    "11",
    "12",
    "13",
    "14",
    "15",
    "0",
    "7",
    "16",
    "08",
    "015",
    "255",
    "256",
    "1x",
    "-9",
    "+9",
    " 9",
    "9 ",
    "",
    "99999999999999999999",
    "\u{e9}",
    "10;",
    "1,0",
];
const SEPARATORS: &[&str] = &[";", "; ", " ;", " ; ", ";\t", ";;"];

#[derive(Arbitrary, Debug)]
pub enum ValueGen {
    None,
    Token(u8),
    Quoted(u8),
    /// Every character of the value as a quoted-pair (`"\1\0"`).
    Escaped(u8),
    /// A backslash-escaped backslash, quote or semicolon mixed in.
    Tricky(u8, u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
pub struct ParamGen {
    name: u8,
    value: ValueGen,
    repeat: u8,
    space_eq: bool,
}

#[derive(Arbitrary, Debug)]
pub struct ElemGen {
    name: u8,
    params: Vec<ParamGen>,
    sep: u8,
    trailing_sep: bool,
}

impl ElemGen {
    pub fn render(&self) -> String {
        let mut s = EXT_NAMES[self.name as usize % EXT_NAMES.len()].to_string();
        let sep = SEPARATORS[self.sep as usize % SEPARATORS.len()];
        for p in self.params.iter().take(12) {
            for _ in 0..=(p.repeat % 4 / 3) {
                s.push_str(sep);
                s.push_str(PARAM_NAMES[p.name as usize % PARAM_NAMES.len()]);
                let eq = if p.space_eq { " = " } else { "=" };
                let val = |i: u8| VALUES[i as usize % VALUES.len()];
                match &p.value {
                    ValueGen::None => {}
                    ValueGen::Token(i) => s.push_str(&format!("{eq}{}", val(*i))),
                    ValueGen::Quoted(i) => s.push_str(&format!("{eq}\"{}\"", val(*i))),
                    ValueGen::Escaped(i) => {
                        let esc: String = val(*i).chars().flat_map(|c| ['\\', c]).collect();
                        s.push_str(&format!("{eq}\"{esc}\""));
                    }
                    ValueGen::Tricky(i, k) => {
                        let v = val(*i);
                        let at = *k as usize % (v.len() + 1);
                        let at = (0..=at).rev().find(|&a| v.is_char_boundary(a)).unwrap_or(0);
                        let trick = ["\\\\", "\\\"", ";", "\\", "\"", "\\;"][*k as usize / 32 % 6];
                        s.push_str(&format!("{eq}\"{}{trick}{}\"", &v[..at], &v[at..]));
                    }
                    ValueGen::Raw(r) => s.push_str(&format!("{eq}{r}")),
                }
            }
        }
        if self.trailing_sep {
            s.push_str(sep);
        }
        s
    }
}

#[derive(Arbitrary, Debug)]
pub enum ElementGen {
    Raw(String),
    Structured(ElemGen),
    /// The client config's own `offer()`.
    ClientOffer,
}

#[derive(Arbitrary, Debug)]
pub struct ParamsInput {
    server: DeflateGen,
    client: DeflateGen,
    /// Use the out-of-range variants ([`DeflateGen::any`]).
    server_any: bool,
    client_any: bool,
    offers: Vec<ElementGen>,
    response: ElementGen,
}

fn render(e: &ElementGen, client: &DeflateConfig) -> String {
    match e {
        ElementGen::Raw(s) => s.clone(),
        ElementGen::Structured(g) => g.render(),
        ElementGen::ClientOffer => client.offer(),
    }
}

/// The client config whose `offer()` is equivalent to `o` (an accepted offer).
fn client_for(o: &Offered) -> DeflateConfig {
    let mut c = DeflateConfig::default();
    c.server_no_context_takeover = o.snct;
    c.client_no_context_takeover = o.cnct;
    c.server_max_window_bits = o.smwb;
    c.client_max_window_bits = o.cmwb.flatten();
    c
}

/// Checks the server's answer `p` to `offer` (accepted by a valid server config).
fn check_answer(offer: &str, p: &DeflateParams) {
    assert!(bits_in_range(p), "accepted {offer:?} with window bits out of 8..=15: {p:?}");
    let h = p.response_header();
    let o = model_offered(offer, true).expect("checked by the caller");
    let r = model_offered(&h, false).unwrap_or_else(|| panic!("response header {h:?} is not a valid element"));
    assert!(
        r.cmwb.is_none() || o.cmwb.is_some(),
        "answered client_max_window_bits to {offer:?}, which lacks it: {h:?}"
    );
    assert!(!o.snct || r.snct, "server_no_context_takeover requested by {offer:?} but not in the answer {h:?}");
    if let Some(asked) = o.smwb {
        assert!(r.smwb.unwrap_or(15) <= asked, "server_max_window_bits above the {asked} asked for: {h:?}");
    }
    let client = client_for(&o);
    assert_eq!(
        client.accept_response(&h),
        Ok(*p),
        "the answer {h:?} to {offer:?} is not accepted with the same parameters by the client that offered it"
    );
}

/// Checks `server.accept_offer(offer)` (a valid server config) against the model and the answer's round trip.
fn check_offer(server: &DeflateConfig, offer: &str) {
    let got = server.accept_offer(offer);
    let want = model_accept_offer(server, offer);
    assert_eq!(got.clone().ok(), want, "accept_offer({offer:?}) with {server:?}: {got:?}, the model says {want:?}");
    if let Ok(p) = got {
        check_answer(offer, &p);
    }
}

/// Checks `client.accept_response(resp)` (a valid client config) against the model.
fn check_response(client: &DeflateConfig, resp: &str) {
    let got = client.accept_response(resp);
    let want = model_accept_response(client, resp);
    assert_eq!(got.clone().ok(), want, "accept_response({resp:?}) with {client:?}: {got:?}, the model says {want:?}");
    if let Ok(p) = got {
        assert!(bits_in_range(&p), "accepted answer {resp:?} with window bits out of 8..=15: {p:?}");
    }
}

/// Fixed valid configs for the text inputs.
fn fixed_configs() -> Vec<DeflateConfig> {
    let gens = [
        (false, false, None, None),
        (true, true, Some(1), Some(2)),
        (false, true, Some(0), None),
        (true, false, None, Some(7)),
    ];
    gens.iter()
        .map(|&(snct, cnct, smwb, cmwb)| DeflateGen { snct, cnct, smwb, cmwb, level: 6, threshold: 4 }.valid())
        .collect()
}

/// The `deflate_params` target. Besides the structured input, two text forms (readable seeds and
/// regressions): `>` + an offered element (checked against a few fixed server configs), `<` + an answered
/// element (checked against a few fixed client configs).
pub fn deflate_params(data: &[u8]) {
    if let Some(rest) = data.strip_prefix(b">") {
        let offer = String::from_utf8_lossy(rest);
        for server in fixed_configs() {
            check_offer(&server, &offer);
            assert_eq!(server.negotiate(&[offer.to_string()]), server.accept_offer(&offer).ok(), "negotiate");
        }
        return;
    }
    if let Some(rest) = data.strip_prefix(b"<") {
        let resp = String::from_utf8_lossy(rest);
        for client in fixed_configs() {
            check_response(&client, &resp);
        }
        return;
    }
    let mut u = Unstructured::new(data);
    let Ok(inp) = ParamsInput::arbitrary(&mut u) else { return };
    let server = if inp.server_any { inp.server.any() } else { inp.server.valid() };
    let client = if inp.client_any { inp.client.any() } else { inp.client.valid() };
    let server_valid = server.validate().is_ok();
    let client_valid = client.validate().is_ok();
    let offers: Vec<String> = inp.offers.iter().take(16).map(|e| render(e, &client)).collect();

    // Server side, offer by offer; with an invalid config only "no panic".
    let mut first = None;
    for o in &offers {
        if server_valid {
            check_offer(&server, o);
        }
        if first.is_none() {
            first = server.accept_offer(o).ok();
        }
    }
    assert_eq!(server.negotiate(&offers), first, "negotiate does not pick the first acceptable offer");

    // A valid client's own offer is acceptable to any valid server, and the answer round-trips.
    if client_valid && server_valid {
        let offer = client.offer();
        let p = server.accept_offer(&offer).unwrap_or_else(|e| panic!("{offer:?} declined by {server:?}: {e}"));
        check_answer(&offer, &p);
        let h = p.response_header();
        assert_eq!(client.accept_response(&h), Ok(p), "answer {h:?} to the client's own offer {offer:?}");
        let mut list = offers.clone();
        list.push(offer);
        assert!(server.negotiate(&list).is_some(), "negotiate declined a list ending in a valid offer");
    }

    // Client side: an arbitrary answer.
    let resp = render(&inp.response, &client);
    if client_valid {
        check_response(&client, &resp);
    } else {
        let _ = client.accept_response(&resp);
    }
}

// ----------------------------------------------------------------------------------------------------------
// Real handshakes in memory.

/// A client and a server connection after real handshakes.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    /// The server's `Sec-WebSocket-Extensions` answer.
    pub ext: Option<String>,
    /// The parameters both sides agreed to (checked against the model).
    pub params: Option<DeflateParams>,
}

/// The codec's view of the parameters, read from the `Debug` output (the fields are private):
/// (send_bits, send_reset, recv_bits, recv_reset).
pub fn codec_state(conn: &Connection) -> Option<(u8, bool, u8, bool)> {
    let s = format!("{conn:?}");
    let at = s.find("Codec {")?;
    let s = &s[at..];
    let field = |name: &str| -> String {
        let i = s.find(&format!("{name}: ")).unwrap_or_else(|| panic!("no {name} in {s}")) + name.len() + 2;
        s[i..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
    };
    Some((
        field("send_bits").parse().expect("bits"),
        field("send_reset") == "true",
        field("recv_bits").parse().expect("bits"),
        field("recv_reset") == "true",
    ))
}

/// Runs `ClientHandshake` and `ServerHandshake` against each other and checks that both ends agree on
/// permessage-deflate as the model says they should.
pub fn handshake_pair(client_cfg: &Config, server_cfg: &Config, seed: u8) -> Pair {
    let mut chs = ClientHandshake::new(ClientRequest::new("h", "/"), client_cfg.clone(), [seed; 32]).expect("client");
    let mut request = Vec::new();
    chs.write_request(&mut request).expect("request");
    let mut shs = ServerHandshake::new(server_cfg.clone()).expect("server config");
    shs.feed(&request);
    let Ok(Some(Incoming::Upgrade(req))) = shs.poll_request() else { panic!("our own request is not an upgrade") };
    let mut response = Vec::new();
    let server = shs.accept(&req, Accept::default(), &mut response).expect("accept");
    chs.feed(&response);
    let Ok(Some(ClientOutcome::Accepted { connection: client, response, .. })) = chs.poll_response() else {
        panic!("our own 101 is not accepted: {}", String::from_utf8_lossy(&response))
    };
    let ext = response.header("sec-websocket-extensions").map(|v| String::from_utf8(v.to_vec()).expect("ASCII"));
    let params = match (&client_cfg.deflate, &server_cfg.deflate) {
        (Some(c), Some(s)) => Some(model_accept_offer(s, &c.offer()).expect("a valid offer is accepted")),
        _ => None,
    };
    match (&params, &ext) {
        (Some(p), Some(h)) => {
            let c = client_cfg.deflate.as_ref().expect("set");
            assert_eq!(model_accept_response(c, h).as_ref(), Some(p), "the 101 answers {h:?}");
        }
        (None, None) => {}
        _ => panic!("negotiated {params:?} but the 101 answers {ext:?}"),
    }
    assert_eq!(client.is_deflate_enabled(), params.is_some(), "client deflate state");
    assert_eq!(server.is_deflate_enabled(), params.is_some(), "server deflate state");
    if let Some(p) = &params {
        let s = (p.server_max_window_bits, p.server_no_context_takeover);
        let c = (p.client_max_window_bits, p.client_no_context_takeover);
        assert_eq!(codec_state(&server), Some((s.0, s.1, c.0, c.1)), "server codec for {p:?}");
        assert_eq!(codec_state(&client), Some((c.0, c.1, s.0, s.1)), "client codec for {p:?}");
    }
    assert_eq!(server.role(), Role::Server);
    Pair { client, server, ext, params }
}

// ----------------------------------------------------------------------------------------------------------
// Message data.

fn lcg(seed: u32) -> impl FnMut() -> u32 {
    let mut s = seed ^ 0x9e37_79b9;
    move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        s >> 8
    }
}

const ALPHABET: &[&str] = &["a", "é", "€", "𝄞", "\u{0}", "z", "\u{10ffff}", "ß", " ", "{", "\u{7f}", "\u{ffff}"];
/// Repetition periods: some beyond every window below 2^15, so back-references reach far.
const PERIODS: [usize; 8] = [300, 513, 700, 1100, 2500, 5000, 17_000, 33_000];

/// Message content of some size and compressibility (UTF-8 for text).
#[derive(Arbitrary, Debug, Clone)]
pub struct DataGen {
    pub len: u16,
    pub pattern: u8,
    pub seed: u8,
    /// ×4 for the compressible patterns (a deflate bomb against the message limit).
    pub big: bool,
}

impl DataGen {
    /// About `len * max / 65535` bytes (`big`: 4 times that for compressible patterns, if `allow_big`).
    pub fn bytes(&self, text: bool, max: usize, allow_big: bool) -> Vec<u8> {
        let mut r = lcg(self.seed as u32 | (self.len as u32) << 8);
        let pattern = self.pattern % 7;
        let mut n = self.len as usize * max / 65535;
        if self.big && allow_big && matches!(pattern, 0 | 1 | 3 | 5) {
            n *= 4;
        }
        let span = 1 + self.pattern as usize / 7 % ALPHABET.len();
        let mut s = String::new();
        let mut b = Vec::new();
        let chr = |r: &mut dyn FnMut() -> u32| ALPHABET[r() as usize % span];
        match pattern {
            0 => b = vec![0; n],
            1 => b = b"lorem ipsum dolor sit amet, ".iter().copied().cycle().take(n).collect(),
            2 if text => {
                while s.len() < n {
                    s.push_str(chr(&mut r));
                }
            }
            2 => b = (0..n).map(|_| r() as u8).collect(),
            3 => {
                let p = PERIODS[self.seed as usize % PERIODS.len()];
                if text {
                    let mut block = String::new();
                    while block.len() < p {
                        block.push_str(ALPHABET[r() as usize % ALPHABET.len()]);
                    }
                    while s.len() < n {
                        s.push_str(&block);
                    }
                } else {
                    let block: Vec<u8> = (0..p).map(|_| r() as u8).collect();
                    b = block.iter().copied().cycle().take(n).collect();
                }
            }
            4 => {
                let mut i = 0;
                while s.len() < n {
                    s.push_str(&format!("{{\"id\":{i},\"user\":\"u{}\",\"ok\":true}}", r() % 1000));
                    i += 1;
                }
            }
            5 => {
                while b.len() < n {
                    let c = if text { b'a' + (r() % 26) as u8 } else { r() as u8 };
                    let run = 1 + r() as usize % 64;
                    b.extend(std::iter::repeat_n(c, run));
                }
                b.truncate(n);
            }
            _ => {
                while s.len() < n {
                    s.push_str(chr(&mut r));
                }
            }
        }
        if !s.is_empty() {
            let mut end = n.min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            b = s.into_bytes();
        }
        debug_assert!(!text || std::str::from_utf8(&b).is_ok());
        b
    }
}

//! The embedding API (`ServerUpgrade`, `ClientUpgrade`): a handshake from heads another HTTP stack parsed, over
//! HTTP/1.1 (RFC 6455 §4) and HTTP/2 (RFC 8441), with the answer and the connection always in step.

#[cfg(feature = "deflate")]
mod common;

#[cfg(feature = "deflate")]
use common::*;
use wsproto::handshake::{Accept, BuildError, ClientUpgrade, Form, Header, RequestError, ResponseError, ServerUpgrade};
#[cfg(feature = "deflate")]
use wsproto::handshake::{ClientHandshake, ClientOutcome, ClientRequest};
#[cfg(feature = "deflate")]
use wsproto::{Compress, DataKind, Event};
use wsproto::{Config, Connection};

fn fields(list: &[(String, String)]) -> Vec<Header> {
    list.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())).collect()
}

#[cfg(feature = "deflate")]
fn deflating() -> Config {
    Config::default().with_deflate(Some(wsproto::DeflateConfig::default()))
}

/// A client's request headers for `form` as the server's HTTP stack would hand them over (plus `Host`).
fn request(client: &ClientUpgrade) -> Vec<Header> {
    let mut h: Vec<Header> = vec![("host".into(), b"example.com".to_vec())];
    h.extend(client.request_headers().into_iter().map(|(n, v)| (n.to_ascii_lowercase(), v.into_bytes())));
    h
}

fn handshake(form: Form, client_cfg: Config, server_cfg: Config, protocols: &[&str]) -> (Connection, Connection) {
    let client = ClientUpgrade::new(client_cfg, form, protocols.iter().copied(), [3; 32]).unwrap();
    let req = request(&client);
    let up = match form {
        Form::Http1 => ServerUpgrade::http1(server_cfg, "GET", true, &req).unwrap(),
        _ => ServerUpgrade::http2(server_cfg, "CONNECT", Some("websocket"), &req).unwrap(),
    };
    let accepted = up.accept(Accept::default()).unwrap();
    assert_eq!(accepted.status, if form == Form::Http1 { 101 } else { 200 });
    let (conn, _) = client.finish(accepted.status, &fields(&accepted.headers)).unwrap();
    (conn, accepted.connection)
}

#[cfg(feature = "deflate")]
/// Sends `n` JSON-like texts from `from` to `to`; returns the wire length and the plain length.
fn exchange(from: &mut Connection, to: &mut Connection, n: usize) -> (usize, usize) {
    let mut wire = Vec::new();
    let mut plain = 0;
    let mut sent = Vec::new();
    for i in 0..n {
        let m = format!("{{\"id\":{i},\"text\":\"{}\"}}", "lorem ipsum ".repeat(20));
        plain += m.len();
        from.send(DataKind::Text, m.as_bytes(), Compress::Auto, &mut wire).unwrap();
        sent.push(Event::Text(m.into()));
    }
    to.feed(&wire).unwrap();
    assert_eq!(drain(to), sent);
    (wire.len(), plain)
}

/// The bug this API exists for: a server that answered permessage-deflate by hand, with a connection that did
/// not know, failed every compressed message with 1002. Here the answer and the connection come from one call.
#[cfg(feature = "deflate")]
#[test]
fn negotiated_deflate_compresses_both_ways_over_both_forms() {
    for form in [Form::Http1, Form::Http2] {
        let (mut client, mut server) = handshake(form, deflating(), deflating(), &[]);
        assert!(client.is_deflate_enabled() && server.is_deflate_enabled(), "{form:?}");
        let (wire, plain) = exchange(&mut client, &mut server, 20);
        assert!(wire * 4 < plain, "{form:?}: compressed {wire} of {plain}");
        let frames = parse_frames(&{
            let mut w = Vec::new();
            server.send(DataKind::Binary, &[7u8; 10_000], Compress::Auto, &mut w).unwrap();
            client.feed(&w).unwrap();
            w
        });
        assert!(frames.iter().all(|f| f.rsv == 0b100), "RSV1 set");
        assert_eq!(drain(&mut client), vec![Event::Binary(vec![7u8; 10_000].into())]);
    }
}

/// The embedding server talks to the core's own byte-level client handshake (and so to any RFC 6455 client).
#[cfg(feature = "deflate")]
#[test]
fn server_upgrade_answers_a_client_handshake() {
    let mut hs = ClientHandshake::new(ClientRequest::new("h", "/").protocol("chat"), deflating(), [9; 32]).unwrap();
    let mut bytes = Vec::new();
    hs.write_request(&mut bytes).unwrap();
    let mut slots = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Request::new(&mut slots);
    parsed.parse(&bytes).unwrap();
    let headers: Vec<Header> = parsed.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect();
    let up = ServerUpgrade::http1(deflating(), "GET", true, &headers).unwrap();
    let chosen = up.select_protocol(["superchat", "chat"]).map(str::to_string);
    assert_eq!(chosen.as_deref(), Some("chat"));
    let accepted = up.accept(Accept::default().protocol(chosen.unwrap())).unwrap();
    let mut response = format!("HTTP/1.1 {} Switching Protocols\r\n", accepted.status);
    for (n, v) in &accepted.headers {
        response.push_str(&format!("{n}: {v}\r\n"));
    }
    response.push_str("\r\n");
    hs.feed(response.as_bytes());
    let Some(ClientOutcome::Accepted { mut connection, negotiated, .. }) = hs.poll_response().unwrap() else {
        panic!("rejected")
    };
    assert_eq!(negotiated.protocol.as_deref(), Some("chat"));
    assert_eq!(accepted.extensions.as_deref(), Some("permessage-deflate"));
    let mut server = accepted.connection;
    exchange(&mut connection, &mut server, 5);
    exchange(&mut server, &mut connection, 5);
}

#[test]
fn no_deflate_unless_configured_and_offered() {
    let (c, s) = handshake(Form::Http1, Config::default(), Config::default(), &[]);
    assert!(!c.is_deflate_enabled() && !s.is_deflate_enabled());
    #[cfg(feature = "deflate")]
    {
        let client = ClientUpgrade::new(Config::default(), Form::Http1, ["x"; 0], [1; 32]).unwrap();
        let accepted = ServerUpgrade::http1(deflating(), "GET", true, &request(&client))
            .unwrap()
            .accept(Accept::default())
            .unwrap();
        assert!(accepted.extensions.is_none() && !accepted.connection.is_deflate_enabled(), "not offered");
        assert!(!accepted.headers.iter().any(|(n, _)| n == "Sec-WebSocket-Extensions"));
    }
}

#[test]
fn subprotocols_are_selected_from_the_offer_only() {
    for form in [Form::Http1, Form::Http2] {
        let client = ClientUpgrade::new(Config::default(), form, ["v2", "v1"], [5; 32]).unwrap();
        let req = request(&client);
        let up = match form {
            Form::Http1 => ServerUpgrade::http1(Config::default(), "GET", true, &req).unwrap(),
            _ => ServerUpgrade::http2(Config::default(), "CONNECT", Some("websocket"), &req).unwrap(),
        };
        assert_eq!(up.protocols(), ["v2", "v1"]);
        assert_eq!(up.select_protocol(["v1", "v3"]), Some("v1"), "the server's preference");
        assert_eq!(up.select_protocol(["v3"]), None);
        assert_eq!(
            up.clone().accept(Accept::default().protocol("v3")).unwrap_err(),
            BuildError::UnofferedProtocol("v3".into())
        );
        let accepted = up.accept(Accept::default().protocol("v1")).unwrap();
        let (_, negotiated) = client.clone().finish(accepted.status, &fields(&accepted.headers)).unwrap();
        assert_eq!(negotiated.protocol.as_deref(), Some("v1"));
        // A server answering with something never offered is refused by the client.
        let bad = fields(&[("Sec-WebSocket-Protocol".into(), "v9".into())]);
        let mut bad_headers = fields(&accepted.headers);
        bad_headers.retain(|(n, _)| !n.eq_ignore_ascii_case("sec-websocket-protocol"));
        bad_headers.extend(bad);
        assert_eq!(
            client.finish(accepted.status, &bad_headers).unwrap_err(),
            ResponseError::UnofferedProtocol("v9".into())
        );
    }
}

#[test]
fn refusals_carry_status_and_headers() {
    let base = |version: &str| -> Vec<Header> {
        vec![
            ("host".into(), b"h".to_vec()),
            ("upgrade".into(), b"websocket".to_vec()),
            ("connection".into(), b"Upgrade".to_vec()),
            ("sec-websocket-key".into(), b"dGhlIHNhbXBsZSBub25jZQ==".to_vec()),
            ("sec-websocket-version".into(), version.as_bytes().to_vec()),
        ]
    };
    let e = ServerUpgrade::http1(Config::default(), "GET", true, &base("8")).unwrap_err();
    assert_eq!(e, RequestError::UnsupportedVersion);
    assert_eq!(e.status(), 426);
    assert_eq!(
        e.response_headers_for(Form::Http1),
        [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")]
    );
    assert_eq!(e.response_headers_for(Form::Http2), [("Sec-WebSocket-Version", "13")], "no Upgrade/Connection in h2");
    assert_eq!(ServerUpgrade::http1(Config::default(), "POST", true, &base("13")).unwrap_err(), RequestError::NotGet);
    assert_eq!(
        ServerUpgrade::http1(Config::default(), "GET", false, &base("13")).unwrap_err(),
        RequestError::NotHttp11
    );
    let mut no_key = base("13");
    no_key.retain(|(n, _)| n != "sec-websocket-key");
    assert_eq!(ServerUpgrade::http1(Config::default(), "GET", true, &no_key).unwrap_err(), RequestError::BadKey);
    // HTTP/2: the key is not used, but the method, :protocol and version are checked (RFC 8441 §4–5).
    let h2 = vec![("sec-websocket-version".into(), b"13".to_vec())];
    assert!(ServerUpgrade::http2(Config::default(), "CONNECT", Some("websocket"), &h2).is_ok());
    assert_eq!(
        ServerUpgrade::http2(Config::default(), "GET", Some("websocket"), &h2).unwrap_err(),
        RequestError::NotConnect
    );
    assert_eq!(
        ServerUpgrade::http2(Config::default(), "CONNECT", None, &h2).unwrap_err(),
        RequestError::NotWebSocketProtocol
    );
    assert_eq!(
        ServerUpgrade::http2(Config::default(), "CONNECT", Some("webtransport"), &h2).unwrap_err(),
        RequestError::NotWebSocketProtocol
    );
    assert_eq!(
        ServerUpgrade::http2(Config::default(), "CONNECT", Some("websocket"), &[]).unwrap_err(),
        RequestError::UnsupportedVersion
    );
    // Extra headers are checked: no header injection through the embedding API either.
    let up = ServerUpgrade::http1(Config::default(), "GET", true, &base("13")).unwrap();
    assert!(matches!(
        up.accept(Accept::default().header("X-Evil", "a\r\nSet-Cookie: b")),
        Err(BuildError::InvalidHeader { .. })
    ));
}

#[test]
fn client_refuses_bad_answers() {
    let client = ClientUpgrade::new(Config::default(), Form::Http1, ["x"; 0], [1; 32]).unwrap();
    let key = client.key().unwrap().to_string();
    let ok = vec![
        ("upgrade".to_string(), b"websocket".to_vec()),
        ("connection".to_string(), b"upgrade".to_vec()),
        ("sec-websocket-accept".to_string(), wsproto::handshake::accept_key(key.as_bytes()).into_bytes()),
    ];
    assert!(client.clone().finish(101, &ok).is_ok());
    assert!(matches!(client.clone().finish(200, &ok), Err(ResponseError::Malformed(_))));
    let mut wrong = ok.clone();
    wrong[2].1 = b"AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_vec();
    assert_eq!(client.finish(101, &wrong).unwrap_err(), ResponseError::BadAccept);
    let h2 = ClientUpgrade::new(Config::default(), Form::Http2, ["x"; 0], [1; 32]).unwrap();
    assert!(h2.key().is_none());
    assert!(h2.request_headers().iter().all(|(n, _)| !matches!(*n, "Upgrade" | "Connection" | "Sec-WebSocket-Key")));
    assert!(matches!(h2.clone().finish(101, &[]), Err(ResponseError::Malformed(_))), "h2 wants 2xx");
    assert!(h2.finish(200, &[]).is_ok());
}

#[cfg(feature = "http")]
#[test]
fn http_types_round_trip() {
    let client = ClientUpgrade::new(Config::default(), Form::Http1, ["chat"], [2; 32]).unwrap();
    let mut map = client.header_map();
    map.insert("host", "example.com".parse().unwrap());
    let up =
        ServerUpgrade::from_http(Config::default(), &http::Method::GET, http::Version::HTTP_11, None, &map).unwrap();
    let accepted = up.accept(Accept::default().protocol("chat")).unwrap();
    let response = accepted.http_response();
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    let (_, negotiated) = client.finish_http(response.status(), response.headers()).unwrap();
    assert_eq!(negotiated.protocol.as_deref(), Some("chat"));
    let refusal = RequestError::UnsupportedVersion.http_response(Form::Http1);
    assert_eq!(refusal.status(), http::StatusCode::UPGRADE_REQUIRED);
    assert_eq!(refusal.headers()["sec-websocket-version"], "13");
    // HTTP/2 by version: a CONNECT with :protocol.
    let h2 = ClientUpgrade::new(Config::default(), Form::Http2, ["x"; 0], [2; 32]).unwrap();
    let up = ServerUpgrade::from_http(
        Config::default(),
        &http::Method::CONNECT,
        http::Version::HTTP_2,
        Some("websocket"),
        &h2.header_map(),
    )
    .unwrap();
    assert_eq!(up.form(), Form::Http2);
    assert_eq!(up.accept(Accept::default()).unwrap().http_response().status(), http::StatusCode::OK);
}

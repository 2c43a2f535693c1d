use wsproto_tokio::{accept, client_handshake, CloseCode, Config, Message};

#[tokio::test]
async fn echo_over_duplex() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut ws = accept(a).await.unwrap();
        while let Some(m) = ws.recv().await {
            let m = m.unwrap();
            if m.is_data() {
                ws.send(m).await.unwrap();
            }
        }
        ws.close_outcome().cloned()
    });
    let req = wsproto::handshake::ClientRequest::new("localhost", "/");
    let (mut ws, resp, _) = client_handshake(b, req, Config::default()).await.unwrap();
    assert_eq!(resp.status, 101);
    ws.send("hello").await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hello"));
    let big = vec![7u8; 3 << 20];
    ws.send(big.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big));
    let outcome = ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(outcome.code(), CloseCode::NORMAL);
    let server_outcome = server.await.unwrap().unwrap();
    assert_eq!(server_outcome.code(), CloseCode::NORMAL);
}

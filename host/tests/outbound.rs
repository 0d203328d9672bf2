//! Outbound HTTP from a component reaches only the hosts its manifest entry
//! lists in `allowed_outbound_hosts`; everything else is refused before any
//! connection is made.

mod common;
use common::{App, Host, client, wasm};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tiny HTTP server that counts the connections it gets.
async fn upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_granted_hosts_are_reachable() {
    let (addr, hits) = upstream().await;
    let fault = wasm("fault");
    let app = App::new(&format!(
        r#"
spaceport_manifest_version = 1
[application]
name = "outbound"
[[trigger.http]]
route = "/granted/..."
component = "granted"
[[trigger.http]]
route = "/denied/..."
component = "denied"
[component.granted]
source = "{fault}"
context = true
allowed_outbound_hosts = ["http://{addr}"]
[component.denied]
source = "{fault}"
context = true
allowed_outbound_hosts = ["http://example.com"]
"#,
        fault = fault.display()
    ));
    let host = Host::start(&app);
    let get = |path: String| async move {
        client()
            .get(path)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };

    let body = get(host.url(&format!("/granted/outbound?url=http://{addr}/ping"))).await;
    assert_eq!(body["status"], 204, "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let body = get(host.url(&format!("/denied/outbound?url=http://{addr}/ping"))).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{body}"
    );
    // Same host, other port: not the granted origin either.
    let body = get(host.url("/granted/outbound?url=http://127.0.0.1:1/ping")).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{body}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a denied request reached the upstream"
    );
    host.wait_for_log("capability denied", std::time::Duration::from_secs(5));
}

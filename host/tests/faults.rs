//! A misbehaving component costs one request, never the host: loops are cut
//! at their deadline (504) without starving other requests, memory hogs hit
//! their cap (500), traps are 500 with the request id, oversized bodies 413,
//! and a full house answers 503 with Retry-After.

mod common;
use common::{App, Host, client, fault_manifest, wasm};
use serde_json::Value;
use std::time::{Duration, Instant};

fn start(env: &[(&str, &str)]) -> (App, Host) {
    let app = App::new(&fault_manifest(&wasm("fault"), &wasm("health"), ""));
    let host = Host::start_with(&app, env);
    (app, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_looping_component_times_out_while_health_keeps_answering() {
    let (_app, host) = start(&[("SPACEPORT_WORKERS", "2")]);
    let c = client();
    let started = Instant::now();
    let looping = {
        let (c, url) = (c.clone(), host.url("/fault/loop"));
        tokio::spawn(async move {
            let resp = c.get(url).send().await.unwrap();
            (
                resp.status().as_u16(),
                resp.json::<Value>().await.unwrap(),
                started.elapsed(),
            )
        })
    };
    // Two spinning guests on a two-worker host: health must still answer.
    let looping2 = {
        let (c, url) = (c.clone(), host.url("/fault/loop"));
        tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut healthy = 0;
    while !looping.is_finished() {
        let resp = c.get(host.url("/health")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        healthy += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body, elapsed) = looping.await.unwrap();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "component_timeout");
    // Deadline is 1000 ms; allow generous scheduling slack on a busy machine.
    assert!(elapsed >= Duration::from_millis(1000), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(3500), "{elapsed:?}");
    assert!(
        healthy >= 5,
        "health answered only {healthy} times while a guest spun"
    );
    assert_eq!(looping2.await.unwrap(), 504);
}

#[tokio::test]
async fn a_memory_hog_gets_500_and_the_next_request_is_fine() {
    let (_app, host) = start(&[]);
    let c = client();
    let resp = c.get(host.url("/fault/hog")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "memory_limit_exceeded");
    assert!(body["detail"].as_str().unwrap().contains("32 MiB"));
    let resp = c.get(host.url("/fault/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_trap_is_a_500_with_the_request_id() {
    let (_app, host) = start(&[]);
    let c = client();
    let resp = c
        .get(host.url("/fault/trap"))
        .header("x-request-id", "trap-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["x-request-id"], "trap-req-1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "component_failed");
    assert_eq!(body["request_id"], "trap-req-1");
    // The host logged the failure with the same id, and keeps serving.
    host.wait_for_log("trap-req-1", Duration::from_secs(5));
    let resp = c.get(host.url("/fault/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// What a component prints becomes log lines naming it and the request;
/// a flood is cut at the per-request bound and the host keeps serving.
#[tokio::test]
async fn component_output_is_logged_with_its_request_and_bounded() {
    let (_app, host) = start(&[]);
    let c = client();
    let resp = c
        .get(host.url("/fault/print"))
        .header("x-request-id", "print-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let line = host.wait_for_log("hello from the component", Duration::from_secs(5));
    assert!(
        line.contains("print-req-1") && line.contains("fault"),
        "{line}"
    );
    let line = host.wait_for_log("a line in two writes", Duration::from_secs(5));
    assert!(line.contains("print-req-1"), "{line}");
    let line = host.wait_for_log("something went sideways", Duration::from_secs(5));
    assert!(line.contains("WARN") && line.contains("stderr"), "{line}");

    let resp = c.get(host.url("/fault/shout")).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "shouted");
    host.wait_for_log(
        "over the per-request limit was dropped",
        Duration::from_secs(5),
    );
    let lines = host
        .logs()
        .lines()
        .filter(|l| l.contains("xxxxxxxxxx"))
        .count();
    assert!(
        (60..=64).contains(&lines),
        "{lines} lines of a 2048-line flood were logged"
    );
    let resp = c.get(host.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// The component sees the whole body however it was framed, and none on a GET.
#[tokio::test]
async fn chunked_and_empty_bodies_reach_the_component_whole() {
    let (_app, host) = start(&[]);
    let c = client();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b'y'; 300])).collect();
    let resp = c
        .post(host.url("/fault/echo"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["body_len"], 3000);
    let resp = c.get(host.url("/fault/echo")).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["body_len"], 0);
}

#[tokio::test]
async fn oversized_bodies_get_413_json() {
    let (_app, host) = start(&[("SPACEPORT_MAX_BODY_BYTES", "1024")]);
    let c = client();
    let resp = c
        .post(host.url("/fault/echo"))
        .body(vec![b'x'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["body_len"], 1000);

    let resp = c
        .post(host.url("/fault/echo"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    assert!(body["request_id"].is_string());

    // Chunked (no content-length) is cut off at the limit too.
    let chunks = futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 512]))),
    );
    let resp = c
        .post(host.url("/fault/echo"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

/// The host answers 413 as soon as it sees the declared length, while the
/// client is still sending: the client must still get that answer (the host
/// takes in the rest instead of resetting the connection under it).
#[tokio::test]
async fn a_client_still_uploading_gets_its_413_not_a_reset() {
    use std::io::{Read, Write};
    let (_app, host) = start(&[("SPACEPORT_MAX_BODY_BYTES", "1024")]);
    let addr = host.base.trim_start_matches("http://").to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let len = 4 << 20;
        write!(
            s,
            "POST /fault/echo HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![b'x'; 64 << 10];
        for i in 0..len / chunk.len() {
            // Slow enough that the answer is sent long before the body ends.
            if i % 8 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            s.write_all(&chunk)
                .unwrap_or_else(|e| panic!("the host cut the upload off at chunk {i}: {e}"));
        }
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)
            .unwrap_or_else(|e| panic!("the answer was lost: {e}"));
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_every_slot_is_busy_requests_get_503_with_retry_after() {
    let (_app, host) = start(&[("SPACEPORT_MAX_INSTANCES", "2")]);
    let c = client();
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let (c, url) = (c.clone(), host.url("/fault/sleep?ms=800"));
            tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = c.get(host.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "busy");
    for s in sleepers {
        assert_eq!(s.await.unwrap(), 200);
    }
    // Slots are released when the instances finish.
    let resp = c.get(host.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// One component cannot take every instance slot: past its `max_concurrent`
/// its requests get 503 `busy`, while other components keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_component_over_its_max_concurrent_is_busy_while_others_answer() {
    let app = App::new(&fault_manifest(
        &wasm("fault"),
        &wasm("health"),
        "max_concurrent = 2",
    ));
    let host = Host::start(&app);
    let c = client();
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let (c, url) = (c.clone(), host.url("/fault/sleep?ms=800"));
            tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = c.get(host.url("/fault/sleep?ms=10")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "busy");
    assert!(
        body["detail"].as_str().unwrap().contains("max_concurrent"),
        "{body}"
    );
    // Another component is not affected.
    assert_eq!(
        c.get(host.url("/health")).send().await.unwrap().status(),
        200
    );
    for s in sleepers {
        assert_eq!(s.await.unwrap(), 200);
    }
    let resp = c.get(host.url("/fault/sleep?ms=10")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// The host-wide memory budget caps all instances together: a hog stops at
/// the budget even below its own `memory_mb`, and the memory comes back.
#[tokio::test]
async fn the_host_memory_budget_caps_instances_and_is_given_back() {
    let (_app, host) = start(&[("SPACEPORT_MEMORY_BUDGET_MB", "12")]);
    host.wait_for_log("instance memory budget", Duration::from_secs(5));
    let c = client();
    for _ in 0..3 {
        let resp = c.get(host.url("/fault/hog")).send().await.unwrap();
        assert_eq!(resp.status(), 500);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "memory_limit_exceeded");
        // Each time the hog's memory returns to the budget: the next request runs.
        let resp = c.get(host.url("/fault/hello")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
}

/// A component's relay (`llm.relay`): after the instance's own body, the host
/// writes the model's text in the component's format, then what the resumed
/// instance writes follows, with the relay's state and the completion. A
/// second relay on one response is refused (before any model call), and an
/// instance that traps after relaying does not get its relay run: no text,
/// nothing resumed, and the host keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_follows_the_body_and_dies_with_a_failed_instance() {
    use common::llm_double::{self, LlmDouble, Reply};
    let double = LlmDouble::start().await;
    let manifest = fault_manifest(&wasm("fault"), &wasm("health"), "")
        .replace("context = true", "context = true\nllm = true");
    let app = App::new(&manifest);
    let h = Host::start_with(
        &app,
        &[
            ("OPENAI_BASE_URL", double.base_url.as_str()),
            ("OPENAI_API_KEY", "sk-fault-relay"),
        ],
    );
    let answer = |pieces: &[&str]| Reply::Stream {
        chunks: llm_double::stream_text(pieces),
        cut: false,
    };
    double.script([
        answer(&["one ", "two"]),
        answer(&["only ", "once"]),
        answer(&["never ", "shown"]),
        answer(&["after"]),
    ]);
    // Whatever arrived, also from a response cut short.
    async fn body_of(h: &Host, path: &str) -> String {
        let resp = client().get(h.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        common::body_so_far(resp).await
    }

    assert_eq!(
        body_of(&h, "/fault/relay").await,
        "before[one ][two]|resumed s1: one two"
    );
    let twice = body_of(&h, "/fault/relay-twice").await;
    assert!(
        twice.starts_with("before|first Ok(())|second Err(")
            && twice.contains("InvalidRequest(\"a relay is already pending"),
        "{twice}"
    );
    assert!(
        twice.ends_with("[only ][once]|resumed s1: only once"),
        "{twice}"
    );
    assert_eq!(
        double.received().len(),
        2,
        "the refused relay called the model"
    );

    let trapped = body_of(&h, "/fault/relay-trap").await;
    assert_eq!(trapped, "before", "a trapped instance's relay ran");
    h.wait_for_log("traps after relaying", Duration::from_secs(5));
    // The host keeps serving, relays included.
    assert_eq!(
        body_of(&h, "/fault/relay").await,
        "before[after]|resumed s1: after"
    );
}

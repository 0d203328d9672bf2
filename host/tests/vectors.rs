//! `spaceport:platform/vectors` on the embedded store, on both databases: a
//! real component ensures a collection, upserts, searches with filters and
//! thresholds, counts and deletes; every misuse is a typed error (never a
//! trap); only granted collections are reachable; points survive a restart.

mod common;
use common::qdrant_double::QdrantDouble;
use common::{Backend, TodoHost, wasm};
use serde_json::{Value, json};

fn manifest() -> String {
    format!(
        r#"spaceport_manifest_version = 1
[application]
name = "vectors-test"

[[trigger.http]]
route = "/fault/..."
component = "fault"

[[trigger.http]]
route = "/other/..."
component = "other"

[component.fault]
source = "{fault}"
vectors = ["docs", "notes"]

[component.other]
source = "{fault}"
"#,
        fault = wasm("fault").display(),
    )
}

async fn op(t: &TodoHost, path: &str, body: Value) -> Value {
    let resp = common::client()
        .post(t.host.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

async fn v(t: &TodoHost, body: Value) -> Value {
    op(t, "/fault/vectors", body).await
}

fn ids(answer: &Value) -> Vec<&str> {
    answer["ok"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect()
}

/// The WIT error's case and message, e.g. `NotFound("...")`.
fn error(answer: &Value) -> &str {
    let e = answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {answer}"));
    e.strip_prefix("VectorError::").unwrap_or(e)
}

async fn store_search_filter_delete_and_persist(backend: Backend) {
    let mut t = TodoHost::start_manifest(backend, &manifest(), &[]).await;
    the_same_cases(&mut t).await;
}

both_backends!(store_search_filter_delete_and_persist);

/// The same cases with `QDRANT_URL` set: the host talks to Qdrant's REST API
/// (here a double speaking its documented shapes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_cases_on_qdrant() {
    let qdrant = QdrantDouble::start().await;
    let mut t = TodoHost::start_manifest(
        Backend::Sqlite,
        &manifest(),
        &[
            ("QDRANT_URL", &qdrant.url),
            ("QDRANT_API_KEY", &qdrant.api_key),
        ],
    )
    .await;
    the_same_cases(&mut t).await;
    // A grant is a prefixed Qdrant collection; the key went along.
    assert_eq!(qdrant.collections(), ["spaceport_docs"]);
    assert!(
        qdrant
            .requests()
            .iter()
            .any(|(m, p)| m == "POST" && p == "/collections/spaceport_docs/points/search")
    );
    let logs = t.host.logs();
    assert!(
        !logs.contains(&qdrant.api_key),
        "the Qdrant key reached the log"
    );
}

/// Qdrant down: `/health` is degraded (503) naming `vectors`, calls fail as
/// `unavailable` (never a trap, no address in the error), and it recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qdrant_down_degrades_health_and_calls_fail_cleanly() {
    let qdrant = QdrantDouble::start().await;
    let manifest = format!(
        "{}\n[[trigger.http]]\nroute = \"/health\"\ncomponent = \"health\"\n\n[component.health]\nsource = \"{}\"\nhost_status = true\n",
        manifest(),
        wasm("health").display()
    );
    let t = TodoHost::start_manifest(
        Backend::Sqlite,
        &manifest,
        &[
            ("QDRANT_URL", &qdrant.url),
            ("QDRANT_API_KEY", &qdrant.api_key),
        ],
    )
    .await;
    assert_eq!(
        v(&t, json!({"op": "ensure", "dimension": 3})).await,
        json!({"ok": null})
    );
    qdrant.set_down(true);
    let answer = v(&t, json!({"op": "count"})).await;
    assert!(error(&answer).starts_with("Unavailable"), "{answer}");
    assert!(!answer.to_string().contains("127.0.0.1"), "{answer}");
    let health = |t: &TodoHost| {
        let url = t.host.url("/health");
        async move {
            let resp = common::client().get(url).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(12);
    loop {
        let (status, body) = health(&t).await;
        if status == 503 {
            assert_eq!(body["status"], "degraded", "{body}");
            assert!(body.to_string().contains("vectors"), "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "health never degraded: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    qdrant.set_down(false);
    assert_eq!(v(&t, json!({"op": "count"})).await, json!({"ok": 0}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(12);
    while health(&t).await.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "health never recovered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn the_same_cases(t: &mut TodoHost) {
    let before = v(t, json!({"op": "search", "vector": [1, 0, 0]})).await;
    assert!(
        error(&before).starts_with("NotFound"),
        "before ensure-collection: {before}"
    );
    assert_eq!(
        v(t, json!({"op": "ensure", "dimension": 3})).await,
        json!({"ok": null})
    );
    // Idempotent with the same settings; refused with others.
    assert_eq!(
        v(t, json!({"op": "ensure", "dimension": 3})).await,
        json!({"ok": null})
    );
    assert!(
        error(&v(t, json!({"op": "ensure", "dimension": 4})).await)
            .starts_with("DimensionMismatch")
    );
    let points = json!([
        {"id": "a", "vector": [1, 0, 0], "payload": {"user": "u1", "year": 2021}},
        {"id": "b", "vector": [0.9, 0.1, 0], "payload": {"user": "u1", "year": 2025, "meta": {"lang": "en"}}},
        {"id": "c", "vector": [0, 1, 0], "payload": {"user": "u2", "year": 2024}},
        {"id": "d", "vector": [0, 0, 1], "payload": {"user": "u1", "year": 2019}},
    ]);
    assert_eq!(
        v(t, json!({"op": "upsert", "points": points})).await,
        json!({"ok": 4})
    );

    let top2 = v(t, json!({"op": "search", "vector": [1, 0, 0], "top_k": 2})).await;
    assert_eq!(ids(&top2), ["a", "b"], "{top2}");
    assert_eq!(top2["ok"][0]["score"], json!(1.0));
    assert_eq!(top2["ok"][1]["score"], json!(0.994));
    assert_eq!(top2["ok"][1]["payload"]["meta"]["lang"], "en");
    let filtered = v(
        t,
        json!({"op": "search", "vector": [1, 0, 0],
               "filter": r#"{"must": [{"key": "user", "match": "u1"}, {"key": "year", "range": {"gte": 2020}}]}"#}),
    )
    .await;
    assert_eq!(ids(&filtered), ["a", "b"], "{filtered}");
    let nested = v(
        t,
        json!({"op": "search", "vector": [1, 0, 0], "filter": r#"{"must": [{"key": "meta.lang", "match": "en"}]}"#}),
    )
    .await;
    assert_eq!(ids(&nested), ["b"]);
    let close = v(
        t,
        json!({"op": "search", "vector": [1, 0, 0], "threshold": 0.5}),
    )
    .await;
    assert_eq!(ids(&close), ["a", "b"]);
    assert_eq!(v(t, json!({"op": "count"})).await, json!({"ok": 4}));
    assert_eq!(
        v(
            t,
            json!({"op": "count", "filter": r#"{"must": [{"key": "user", "match": "u1"}]}"#})
        )
        .await,
        json!({"ok": 3})
    );

    // Misuse is a typed error, and the instance carries on.
    for (body, expected) in [
        (
            json!({"op": "upsert", "points": [{"id": "x", "vector": [1, 0], "payload": {}}]}),
            "DimensionMismatch",
        ),
        (
            json!({"op": "upsert", "points": [{"id": "x", "vector": [1, 0, 0], "payload": "[1]"}]}),
            "InvalidArgument",
        ),
        (
            json!({"op": "upsert", "points": [{"id": "x", "vector": [1, "nan", 0], "payload": {}}]}),
            "InvalidArgument",
        ),
        (
            json!({"op": "search", "vector": [1, 0, 0], "filter": "{bad"}),
            "InvalidFilter",
        ),
        (
            json!({"op": "search", "vector": [1, 0, 0], "filter": r#"{"should": []}"#}),
            "InvalidFilter",
        ),
        (
            json!({"op": "search", "vector": [1, 0, 0], "top_k": 0}),
            "InvalidArgument",
        ),
        (
            json!({"op": "search", "vector": [1, 0, 0], "top_k": 101}),
            "InvalidArgument",
        ),
        (
            json!({"op": "search", "vector": [1, 0]}),
            "DimensionMismatch",
        ),
        (
            json!({"op": "ensure", "dimension": 5000}),
            "InvalidArgument",
        ),
        (json!({"op": "count", "collection": "notes"}), "NotFound"),
        (
            json!({"op": "count", "collection": "secrets"}),
            "AccessDenied",
        ),
    ] {
        let answer = v(t, body.clone()).await;
        assert!(error(&answer).starts_with(expected), "{body} → {answer}");
    }
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"id": format!("p{i}"), "vector": [1, 0, 0], "payload": {}}))
        .collect();
    assert!(
        error(&v(t, json!({"op": "upsert", "points": too_many})).await)
            .starts_with("LimitExceeded")
    );
    // A component without the grant reaches nothing.
    let denied = op(t, "/other/vectors", json!({"op": "count"})).await;
    assert!(error(&denied).starts_with("AccessDenied"), "{denied}");
    assert!(
        error(&denied).contains(r#"vectors = [\"docs\"]"#),
        "{denied}"
    );

    // Upsert replaces; deletes count what existed.
    assert_eq!(
        v(t, json!({"op": "upsert", "points": [{"id": "a", "vector": [1, 0, 0], "payload": {"user": "u3"}}]})).await,
        json!({"ok": 1})
    );
    assert_eq!(
        v(
            t,
            json!({"op": "count", "filter": r#"{"must": [{"key": "user", "match": "u1"}]}"#})
        )
        .await,
        json!({"ok": 2})
    );
    assert_eq!(
        v(t, json!({"op": "delete", "ids": ["a", "nope"]})).await,
        json!({"ok": 1})
    );
    assert_eq!(
        v(
            t,
            json!({"op": "delete-where", "filter": r#"{"must": [{"key": "user", "match": "u2"}]}"#})
        )
        .await,
        json!({"ok": 1})
    );

    // The points live in the host's database: a restart keeps them.
    t.restart();
    assert_eq!(v(t, json!({"op": "count"})).await, json!({"ok": 2}));
    let left = v(t, json!({"op": "search", "vector": [1, 0, 0]})).await;
    assert_eq!(ids(&left), ["b", "d"]);
}

/// The embedded store bounds a collection's size (exact search reads it all
/// per query): past `SPACEPORT_VECTORS_MAX_MB`, an upsert is refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_cannot_outgrow_its_cap() {
    let t = TodoHost::start_manifest(
        Backend::Sqlite,
        &manifest(),
        &[("SPACEPORT_VECTORS_MAX_MB", "1")],
    )
    .await;
    // 1 MiB holds 64 vectors of 4096 float32s.
    assert_eq!(
        v(
            &t,
            json!({"op": "ensure", "collection": "notes", "dimension": 4096})
        )
        .await,
        json!({"ok": null})
    );
    let batch = |from: usize, n: usize| -> Value {
        let points: Vec<Value> = (from..from + n)
            .map(|i| json!({"id": format!("p{i}"), "vector": vec![0.5; 4096], "payload": {}}))
            .collect();
        json!({"op": "upsert", "collection": "notes", "points": points})
    };
    assert_eq!(v(&t, batch(0, 60)).await, json!({"ok": 60}));
    let refused = v(&t, batch(60, 5)).await;
    assert!(error(&refused).starts_with("LimitExceeded"), "{refused}");
    assert!(
        error(&refused).contains("SPACEPORT_VECTORS_MAX_MB"),
        "{refused}"
    );
    assert_eq!(
        v(&t, json!({"op": "count", "collection": "notes"})).await,
        json!({"ok": 60}),
        "nothing of the refused batch was stored"
    );
    assert_eq!(v(&t, batch(60, 4)).await, json!({"ok": 4}));
}

/// Two replicas on one PostgreSQL database: each keeps a collection decoded
/// in memory between searches, and a write through one is seen by the
/// other's next search (every write bumps the collection's version).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_sees_the_other_replicas_writes() {
    let t = TodoHost::start_manifest(Backend::Postgres, &manifest(), &[]).await;
    let url = t.pg.as_ref().unwrap().url.clone();
    let other_app = common::App::new(&manifest());
    let other = common::Host::start_with(
        &other_app,
        &[
            ("JWT_SECRET_KEY", common::JWT_SECRET),
            ("DATABASE_URL", &url),
        ],
    );
    let here = |body: Value| vectors_at(t.host.url("/fault/vectors"), body);
    let there = |body: Value| vectors_at(other.url("/fault/vectors"), body);
    assert_eq!(
        here(json!({"op": "ensure", "dimension": 3})).await["ok"],
        json!(null)
    );
    let a = json!([{"id": "a", "vector": [1, 0, 0], "payload": {}}]);
    here(json!({"op": "upsert", "points": a})).await;
    let query = json!({"op": "search", "vector": [0, 1, 0], "top_k": 1});
    assert_eq!(ids(&here(query.clone()).await), ["a"]);
    // Searched twice (the second may be answered from memory): the same.
    assert_eq!(ids(&here(query.clone()).await), ["a"]);

    let b = json!([{"id": "b", "vector": [0, 1, 0], "payload": {}}]);
    assert_eq!(there(json!({"op": "upsert", "points": b})).await["ok"], 1);
    assert_eq!(ids(&here(query.clone()).await), ["b"], "a write elsewhere");
    there(json!({"op": "delete", "ids": ["b"]})).await;
    assert_eq!(ids(&here(query.clone()).await), ["a"], "a delete elsewhere");
    assert_eq!(here(json!({"op": "count"})).await["ok"], 1);
}

async fn vectors_at(url: String, body: Value) -> Value {
    common::client()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// With no room to keep collections in memory (`SPACEPORT_VECTORS_CACHE_MB=0`)
/// every search reads its collection back from the database: the same cases
/// hold, and searches at once (read one after another, so the store holds
/// one copy at a time) all get the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_room_to_keep_collections_every_search_reads_them() {
    let mut t = TodoHost::start_manifest(
        Backend::Sqlite,
        &manifest(),
        &[("SPACEPORT_VECTORS_CACHE_MB", "0")],
    )
    .await;
    the_same_cases(&mut t).await;
    let url = t.host.url("/fault/vectors");
    let ensure = json!({"op": "ensure", "collection": "notes", "dimension": 3});
    assert_eq!(vectors_at(url.clone(), ensure).await["ok"], json!(null));
    let points: Vec<Value> = (0..50)
        .map(|i| json!({"id": format!("n{i}"), "vector": [1.0, f64::from(i) / 50.0, 0.0], "payload": {}}))
        .collect();
    let upsert = json!({"op": "upsert", "collection": "notes", "points": points});
    assert_eq!(vectors_at(url.clone(), upsert).await["ok"], 50);
    let query = json!({"op": "search", "collection": "notes", "vector": [1, 0, 0], "top_k": 3});
    let answers =
        futures_util::future::join_all((0..8).map(|_| vectors_at(url.clone(), query.clone())))
            .await;
    for answer in &answers {
        assert_eq!(ids(answer), ["n0", "n1", "n2"], "{answer}");
    }
}

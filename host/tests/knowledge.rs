//! The default app's `knowledge` component (Python): save, search, list and
//! delete a user's documents over the HTTP tool path, on both databases,
//! without any embedding key (keyword search); per-user isolation; and an
//! agent turn that searches them and gets the sources back.

mod common;
use common::llm_double::{self, LlmDouble};
use common::{Backend, TodoHost};
use reqwest::Method;
use serde_json::{Value, json};

async fn save_search_delete(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let bob = h.register("bob@example.com", "password1").await;

    let notes = "# Garden\n\nPlant tomatoes in May, after the last frost.\n\n# Bike\n\nThe lock code is 4721.";
    let (status, saved) = h
        .call_tool(
            &ann,
            "add_document",
            json!({"title": "Notes", "content": notes}),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let doc = saved["result"]["document_id"].as_i64().unwrap();
    assert_eq!(
        saved["result"]["search"], "keyword",
        "no embedding key here: {saved}"
    );
    assert_eq!(saved["result"]["chunks"], 1);

    let (status, found) = h
        .call_tool(&ann, "search_documents", json!({"query": "bike lock code"}))
        .await;
    assert_eq!(status, 200, "{found}");
    let first = &found["result"]["results"][0];
    assert_eq!(first["document_id"], doc);
    assert_eq!(first["title"], "Notes");
    assert!(first["text"].as_str().unwrap().contains("4721"), "{found}");

    // Bob sees none of it, and cannot delete it.
    let (_, theirs) = h
        .call_tool(&bob, "search_documents", json!({"query": "bike lock code"}))
        .await;
    assert_eq!(theirs["result"]["results"], json!([]), "{theirs}");
    let (status, refused) = h
        .call_tool(&bob, "delete_document", json!({"document_id": doc}))
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (404, Some("not_found")),
        "{refused}"
    );

    let (_, listed) = h.call_tool(&ann, "list_documents", json!({})).await;
    assert_eq!(listed["result"][0]["title"], "Notes");
    let (status, deleted) = h
        .call_tool(&ann, "delete_document", json!({"document_id": doc}))
        .await;
    assert_eq!(status, 200, "{deleted}");
    let (_, gone) = h
        .call_tool(&ann, "search_documents", json!({"query": "bike lock code"}))
        .await;
    assert_eq!(gone["result"]["results"], json!([]));

    // Bad input is a 422 naming the field, before the component runs.
    let (status, bad) = h
        .call_tool(&ann, "add_document", json!({"title": "", "content": "x"}))
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["error"], "invalid_arguments");
}

/// The agent searches the user's documents and the sources come back with the turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_answers_from_the_users_documents() {
    let double = LlmDouble::start().await;
    let t = TodoHost::start(
        Backend::Sqlite,
        &[
            ("OPENAI_BASE_URL", double.base_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
        ],
    )
    .await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    // The double answers embeddings with an error status: the document is
    // still saved and found by keyword, and the turn goes on.
    double.script([llm_double::Reply::Status(400, None)]);
    let (status, saved) = h
        .call_tool(
            &ann,
            "add_document",
            json!({"title": "Trip", "content": "Flight TP1234 leaves Lisbon at 9:40."}),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["result"]["search"], "keyword");
    double.script([
        llm_double::tool_calls(&[(
            "call_s",
            "search_documents",
            json!({"query": "flight Lisbon"}),
        )]),
        llm_double::text("Your flight TP1234 leaves at 9:40 (from \"Trip\")."),
    ]);
    let (status, body) = h
        .call(
            &ann,
            Method::POST,
            &format!("/api/{}/chat", ann.id),
            Some(json!({"message": "when is my flight?"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let call = &body["tool_calls"][0];
    assert_eq!(call["tool"], "search_documents");
    assert_eq!(call["result"]["results"][0]["title"], "Trip", "{body}");
    // The answer cites what it used.
    assert_eq!(body["sources"][0]["title"], "Trip", "{body}");
    assert_eq!(body["sources"].as_array().unwrap().len(), 1);
    // The model got the passage to answer from.
    let received = double.received();
    let sent = &received.last().unwrap().body;
    assert!(sent.to_string().contains("TP1234"), "{sent}");

    // Streamed, the citations come as a `sources` event before `done`.
    double.script([
        llm_double::Reply::Stream {
            chunks: llm_double::stream_tool_calls(
                &[("call_t", "search_documents", json!({"query": "flight"}))],
                3,
            ),
            cut: false,
        },
        llm_double::Reply::Stream {
            chunks: llm_double::stream_text(&["At ", "9:40."]),
            cut: false,
        },
    ]);
    let resp = common::client()
        .post(h.url(&format!("/api/{}/chat/stream", ann.id)))
        .bearer_auth(&ann.token)
        .json(&json!({"message": "flight time?"}))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let at = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(
        at("tool_result") < at("sources") && at("sources") < at("done"),
        "{kinds:?}"
    );
    assert_eq!(events[at("sources")]["sources"][0]["title"], "Trip");
}

/// The same documents over REST, for a frontend: `/api/{user_id}/documents`.
async fn documents_over_rest(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let bob = h.register("bob@example.com", "password1").await;
    let base = format!("/api/{}/documents", ann.id);

    let (status, created) = h
        .call(
            &ann,
            Method::POST,
            &base,
            Some(json!({"title": "Recipe", "content": "Two eggs, one cup of flour."})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    // Markdown, as a text body.
    let resp = common::client()
        .post(h.url(&format!("{base}?source_url=https://example.com/x")))
        .bearer_auth(&ann.token)
        .header("content-type", "text/markdown")
        .body("# Packing\n\nPassport and charger.")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let (_, listed) = h.call(&ann, Method::GET, &base, None).await;
    let titles: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Packing", "Recipe"]);
    assert_eq!(listed[0]["source_url"], "https://example.com/x");
    let (status, one) = h
        .call(&ann, Method::GET, &format!("{base}/{id}"), None)
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["passages"], json!(["Two eggs, one cup of flour."]));

    // Bob: not through Ann's path (the host), not by id through his own (the component).
    let (status, _) = h
        .call(&bob, Method::GET, &format!("{base}/{id}"), None)
        .await;
    assert_eq!(status, 403);
    let (status, body) = h
        .call(
            &bob,
            Method::GET,
            &format!("/api/{}/documents/{id}", bob.id),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );

    // Binary or blank bodies are refused, naming the problem; nothing is stored.
    let resp = common::client()
        .post(h.url(&base))
        .bearer_auth(&ann.token)
        .header("content-type", "text/plain")
        .body(vec![0xff, 0xfe, 0x00, 0x41])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let (status, _) = h
        .call(
            &ann,
            Method::POST,
            &base,
            Some(json!({"title": "t", "content": ""})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, deleted) = h
        .call(&ann, Method::DELETE, &format!("{base}/{id}"), None)
        .await;
    assert_eq!(
        (status, deleted["status"].as_str()),
        (200, Some("deleted")),
        "{deleted}"
    );
    let (_, listed) = h.call(&ann, Method::GET, &base, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

both_backends!(save_search_delete, documents_over_rest);

/// A tool whose component may call the LLM (here, for embeddings) spends the
/// caller's LLM budget when called over HTTP, like its routes do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tool_calls_of_an_llm_component_spend_the_users_budget() {
    let t = TodoHost::start(Backend::Sqlite, &[("SPACEPORT_LLM_RATE_PER_MINUTE", "2")]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    for _ in 0..2 {
        let (status, body) = h.call_tool(&ann, "list_documents", json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = h.call_tool(&ann, "list_documents", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    // task-tools holds no llm grant: its tools are not limited by it.
    let (status, _) = h.call_tool(&ann, "list_tasks", json!({})).await;
    assert_eq!(status, 200);
}

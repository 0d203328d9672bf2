//! The default app's `knowledge` component (Python): save, search, list and
//! delete a user's documents over the HTTP tool path, on both databases,
//! without any embedding key (keyword search); per-user isolation; and an
//! agent turn that searches them and gets the sources back.

mod common;
use common::llm_double::{self, LlmDouble};
use common::qdrant_double::QdrantDouble;
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

/// With an embedding model, search is keyword + semantic on every vector
/// backend alike: documents are embedded when saved, the agent's answer cites
/// them; a document whose indexing failed (the model or the store down, or
/// a new model of another dimension) says `keyword`, and `POST .../embed`
/// completes it once the cause is gone.
async fn semantic_search_and_recovery(backend: Backend, qdrant: Option<&QdrantDouble>) {
    let double = LlmDouble::start().await;
    double.embed_texts(64);
    let mut env = vec![
        ("OPENAI_BASE_URL", double.base_url.clone()),
        ("OPENAI_API_KEY", "sk-test".to_string()),
        ("OPENAI_MODEL", "double-model".to_string()),
        ("LLM_MAX_RETRIES", "0".to_string()),
    ];
    if let Some(q) = qdrant {
        env.push(("QDRANT_URL", q.url.clone()));
        env.push(("QDRANT_API_KEY", q.api_key.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let t = TodoHost::start(backend, &env).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let bob = h.register("bob@example.com", "password1").await;
    let base = format!("/api/{}/documents", ann.id);
    let save = |title: &'static str, content: &'static str| {
        let base = base.clone();
        let ann = &ann;
        async move {
            let (status, body) = h
                .call(
                    ann,
                    Method::POST,
                    &base,
                    Some(json!({"title": title, "content": content})),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            body
        }
    };
    let garden = save("Garden", "Plant the tomatoes in May, after the last frost.").await;
    assert_eq!(garden["search"], "keyword+semantic", "{garden}");
    save("Bike", "The lock code is 4721; tyres take 6 bar.").await;

    // Found by meaning as well as by keyword; another user finds nothing.
    let (status, found) = h
        .call_tool(
            &ann,
            "search_documents",
            json!({"query": "when to plant tomatoes"}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["result"]["search"], "keyword+semantic", "{found}");
    assert_eq!(found["result"]["results"][0]["title"], "Garden", "{found}");
    let (_, theirs) = h
        .call_tool(
            &bob,
            "search_documents",
            json!({"query": "when to plant tomatoes"}),
        )
        .await;
    assert_eq!(theirs["result"]["results"], json!([]), "{theirs}");

    // The agent's answer cites the document it used.
    double.script([
        llm_double::tool_calls(&[("call_s", "search_documents", json!({"query": "tomatoes"}))]),
        llm_double::text("In May (from \"Garden\")."),
    ]);
    let (status, body) = h
        .call(
            &ann,
            Method::POST,
            &format!("/api/{}/chat", ann.id),
            Some(json!({"message": "when do I plant tomatoes?"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sources"][0]["title"], "Garden", "{body}");

    // Indexing fails: the store is down (Qdrant) or the model is (embedded
    // store). The document is saved, found by keyword, and says so.
    match qdrant {
        Some(q) => q.set_down(true),
        None => double.stop_embedding(),
    }
    let trip = save("Trip", "Flight TP1234 leaves Lisbon at 9:40.").await;
    assert_eq!(trip["search"], "keyword", "{trip}");
    let trip_id = trip["id"].as_i64().unwrap();
    let (_, one) = h
        .call(&ann, Method::GET, &format!("{base}/{trip_id}"), None)
        .await;
    assert_eq!(one["search"], "keyword", "{one}");
    let (status, found) = h
        .call_tool(&ann, "search_documents", json!({"query": "flight Lisbon"}))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["result"]["results"][0]["title"], "Trip", "{found}");
    // A retry while the cause lasts: 503 with Retry-After, nothing internal.
    let resp = common::client()
        .post(h.url(&format!("{base}/{trip_id}/embed")))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let refused: Value = resp.json().await.unwrap();
    assert_eq!(refused["error"], "index_unavailable", "{refused}");
    assert!(!refused.to_string().contains("127.0.0.1"), "{refused}");

    // The cause gone, the retry completes it.
    match qdrant {
        Some(q) => q.set_down(false),
        None => double.embed_texts(64),
    }
    let (status, done) = h
        .call(&ann, Method::POST, &format!("{base}/{trip_id}/embed"), None)
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["search"], "keyword+semantic", "{done}");
    let (_, listed) = h.call(&ann, Method::GET, &base, None).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["search"] == "keyword+semantic"),
        "{listed}"
    );

    // A new embedding model of another dimension: saved, by keyword; the
    // retry says why it cannot embed.
    double.embed_texts(32);
    let late = save("Late", "Remember the dentist on Friday.").await;
    assert_eq!(late["search"], "keyword", "{late}");
    let (status, refused) = h
        .call(
            &ann,
            Method::POST,
            &format!("{base}/{}/embed", late["id"]),
            None,
        )
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("dimension_mismatch")),
        "{refused}"
    );

    // Deleting removes its points too.
    let (status, _) = h
        .call(&ann, Method::DELETE, &format!("{base}/{trip_id}"), None)
        .await;
    assert_eq!(status, 200);
    double.embed_texts(64);
    let (_, found) = h
        .call_tool(&ann, "search_documents", json!({"query": "flight Lisbon"}))
        .await;
    assert!(
        found["result"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["title"] != "Trip"),
        "{found}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_search_on_sqlite() {
    semantic_search_and_recovery(Backend::Sqlite, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_search_on_postgres() {
    semantic_search_and_recovery(Backend::Postgres, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_search_on_qdrant() {
    let qdrant = QdrantDouble::start().await;
    semantic_search_and_recovery(Backend::Sqlite, Some(&qdrant)).await;
    // The documents went to Qdrant, under the grant's collection.
    assert_eq!(qdrant.collections(), ["spaceport_knowledge"]);
}

/// Recall@5 on the benchmark's corpus (`bench/recall/corpus.json`: each
/// question names the document that answers it), in each search mode. The
/// double's embeddings are hashed words, not a language model, so here the
/// semantic ranking is lexical too (bench/recall.sh measures a real model):
/// what is checked is that every mode runs on every question, keyword and
/// hybrid search find every question that shares words with its answer, and
/// fusing never loses to keyword search alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_at_5_on_a_corpus_with_known_answers() {
    let corpus: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/recall/corpus.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let double = LlmDouble::start().await;
    double.embed_texts(256);
    let t = TodoHost::start(
        Backend::Sqlite,
        &[
            ("OPENAI_BASE_URL", double.base_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
            ("SPACEPORT_LLM_RATE_PER_MINUTE", "100000"),
        ],
    )
    .await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let mut keys = std::collections::HashMap::new();
    for d in corpus["documents"].as_array().unwrap() {
        let (status, saved) = h
            .call(
                &ann,
                Method::POST,
                &format!("/api/{}/documents", ann.id),
                Some(json!({"title": d["title"], "content": d["content"]})),
            )
            .await;
        assert_eq!(status, 201, "{saved}");
        assert_eq!(saved["search"], "keyword+semantic");
        keys.insert(saved["id"].as_i64().unwrap(), d["key"].as_str().unwrap());
    }
    let mut found = std::collections::BTreeMap::<(&str, &str), (u32, u32)>::new();
    for q in corpus["questions"].as_array().unwrap() {
        for mode in ["keyword", "semantic", "hybrid"] {
            let (status, answer) = h
                .call_tool(
                    &ann,
                    "search_documents",
                    json!({"query": q["q"], "top_k": 5, "mode": mode}),
                )
                .await;
            assert_eq!(status, 200, "{answer}");
            let hit = answer["result"]["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| {
                    keys.get(&r["document_id"].as_i64().unwrap()) == q["doc"].as_str().as_ref()
                });
            let entry = found
                .entry((mode, q["kind"].as_str().unwrap()))
                .or_default();
            entry.0 += u32::from(hit);
            entry.1 += 1;
        }
    }
    let recall = |mode, kind| {
        let (hit, all) = found[&(mode, kind)];
        f64::from(hit) / f64::from(all)
    };
    for mode in ["keyword", "semantic", "hybrid"] {
        println!(
            "recall@5 {mode:8}: lexical {:.2}, paraphrase {:.2}",
            recall(mode, "lexical"),
            recall(mode, "paraphrase")
        );
    }
    assert_eq!(recall("keyword", "lexical"), 1.0, "{found:?}");
    assert_eq!(recall("hybrid", "lexical"), 1.0, "{found:?}");
    assert!(
        recall("hybrid", "paraphrase") >= recall("keyword", "paraphrase"),
        "{found:?}"
    );
}

/// The shared library: documents a librarian (an email in the component's
/// `librarians` variable) adds with `"shared": true` are found, listed and
/// read by every user, marked `shared`; only a librarian adds or removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_library_is_read_by_all_and_changed_by_librarians() {
    let manifest = common::default_manifest().replace(
        "librarians = \"\"",
        "librarians = \"Lib@Example.com, other@example.com\"",
    );
    assert!(manifest.contains("Lib@Example.com"));
    let t = TodoHost::start_manifest(Backend::Sqlite, &manifest, &[]).await;
    let h = &t.host;
    let lib = h.register("lib@example.com", "password1").await;
    let ann = h.register("ann@example.com", "password1").await;
    let book = json!({"title": "Robotics, chapter 1", "shared": true,
        "content": "A servo motor holds its angle using a feedback loop from a potentiometer."});
    let (status, added) = h
        .call(
            &lib,
            Method::POST,
            &format!("/api/{}/documents", lib.id),
            Some(book.clone()),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["shared"], true);
    let id = added["id"].as_i64().unwrap();
    // Not a librarian: refused, nothing stored.
    let (status, refused) = h
        .call(
            &ann,
            Method::POST,
            &format!("/api/{}/documents", ann.id),
            Some(book),
        )
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("forbidden")),
        "{refused}"
    );

    // Every user finds, lists and reads it.
    let (status, found) = h
        .call_tool(
            &ann,
            "search_documents",
            json!({"query": "servo motor feedback"}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let first = &found["result"]["results"][0];
    assert_eq!(
        (first["document_id"].as_i64(), &first["shared"]),
        (Some(id), &json!(true)),
        "{found}"
    );
    let (_, listed) = h
        .call(
            &ann,
            Method::GET,
            &format!("/api/{}/documents", ann.id),
            None,
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["shared"], true);
    let (status, one) = h
        .call(
            &ann,
            Method::GET,
            &format!("/api/{}/documents/{id}", ann.id),
            None,
        )
        .await;
    assert_eq!((status, &one["shared"]), (200, &json!(true)), "{one}");

    // Only a librarian removes it.
    let (status, refused) = h
        .call_tool(&ann, "delete_document", json!({"document_id": id}))
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (422, Some("invalid_arguments")),
        "{refused}"
    );

    let (status, refused) = h
        .call(
            &ann,
            Method::DELETE,
            &format!("/api/{}/documents/{id}", ann.id),
            None,
        )
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("forbidden")),
        "{refused}"
    );
    let (status, _) = h
        .call(
            &lib,
            Method::DELETE,
            &format!("/api/{}/documents/{id}", lib.id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, found) = h
        .call_tool(
            &ann,
            "search_documents",
            json!({"query": "servo motor feedback"}),
        )
        .await;
    assert_eq!(found["result"]["results"], json!([]), "{found}");
}

/// Seeds 002/003 point at an existing, populated Qdrant collection
/// (`QDRANT_COLLECTION_NAME`): the grant `library` reaches it under its own
/// name, read-only; its passages (payload `text`, `title`, `source_url`, as
/// another pipeline wrote them) are searched with the user's documents and
/// cited by the agent; a component cannot write to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_qdrant_collection_is_searched_and_read_only() {
    let qdrant = QdrantDouble::start().await;
    let double = LlmDouble::start().await;
    double.embed_texts(64);
    // The collection as someone else's ingestion left it: integer ids, their payload.
    let passages = [
        (
            1,
            "Chapter 3: Servos",
            "A servo motor holds its angle with a feedback loop from a potentiometer.",
        ),
        (
            2,
            "Chapter 5: Lidar",
            "Lidar measures distance by timing reflected laser pulses.",
        ),
    ];
    let http = common::client();
    let put = |path: String, body: Value| {
        http.put(format!("{}{path}", qdrant.url))
            .header("api-key", &qdrant.api_key)
            .json(&body)
            .send()
    };
    let resp = put(
        "/collections/textbook_chunks".into(),
        json!({"vectors": {"size": 64, "distance": "Cosine"}}),
    )
    .await
    .unwrap();
    assert!(resp.status().is_success());
    let texts: Vec<&str> = passages.iter().map(|p| p.2).collect();
    let embedded: Value = http
        .post(format!("{}/embeddings", double.base_url))
        .json(&json!({"model": "m", "input": texts}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let points: Vec<Value> = passages
        .iter()
        .zip(embedded["data"].as_array().unwrap())
        .map(|((id, title, text), e)| {
            json!({"id": id, "vector": e["embedding"], "payload": {"text": text, "title": title,
                   "source_url": format!("https://book.example/{id}")}})
        })
        .collect();
    let resp = put(
        "/collections/textbook_chunks/points?wait=true".into(),
        json!({"points": points}),
    )
    .await
    .unwrap();
    assert!(resp.status().is_success());

    let fault = common::wasm("fault");
    let manifest = format!(
        "{}\n[[trigger.http]]\nroute = \"/fault/...\"\ncomponent = \"fault\"\n\
         [component.fault]\nsource = \"{}\"\nvectors = [\"library\"]\n",
        common::default_manifest(),
        fault.display()
    );
    let t = TodoHost::start_manifest(
        Backend::Sqlite,
        &manifest,
        &[
            ("OPENAI_BASE_URL", double.base_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_MODEL", "double-model"),
            ("QDRANT_URL", qdrant.url.as_str()),
            ("QDRANT_API_KEY", qdrant.api_key.as_str()),
            ("QDRANT_COLLECTION_NAME", "textbook_chunks"),
        ],
    )
    .await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let (status, found) = h
        .call_tool(
            &ann,
            "search_documents",
            json!({"query": "how does a servo motor hold its angle"}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let first = &found["result"]["results"][0];
    assert_eq!(first["title"], "Chapter 3: Servos", "{found}");
    assert_eq!(first["document_id"], Value::Null);
    assert_eq!(first["source_url"], "https://book.example/1");
    assert!(first["text"].as_str().unwrap().contains("potentiometer"));

    // The agent cites it.
    double.script([
        llm_double::tool_calls(&[(
            "call_s",
            "search_documents",
            json!({"query": "servo motor angle"}),
        )]),
        llm_double::text("With a feedback loop (Chapter 3)."),
    ]);
    let (status, body) = h
        .call(
            &ann,
            Method::POST,
            &format!("/api/{}/chat", ann.id),
            Some(json!({"message": "how do servos hold position?"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sources"][0]["title"], "Chapter 3: Servos", "{body}");
    assert_eq!(body["sources"][0]["document_id"], Value::Null);

    // Read-only: a component may check it but not change it.
    let v = |body: Value| {
        let url = h.url("/fault/vectors");
        async move {
            common::client()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let ensured = v(json!({"op": "ensure", "collection": "library", "dimension": 64})).await;
    assert_eq!(ensured, json!({"ok": null}));
    let refused = v(json!({"op": "upsert", "collection": "library",
        "points": [{"id": "x", "vector": vec![0.1; 64], "payload": {}}]}))
    .await;
    assert!(
        refused["error"].as_str().unwrap().contains("AccessDenied"),
        "{refused}"
    );
    let refused = v(json!({"op": "delete", "collection": "library", "ids": ["1"]})).await;
    assert!(
        refused["error"].as_str().unwrap().contains("AccessDenied"),
        "{refused}"
    );
    assert_eq!(
        v(json!({"op": "count", "collection": "library"})).await,
        json!({"ok": 2})
    );
    // The user's own collection still gets the prefix.
    assert!(
        qdrant
            .collections()
            .iter()
            .all(|c| c == "textbook_chunks" || c.starts_with("spaceport_")),
        "{:?}",
        qdrant.collections()
    );
}

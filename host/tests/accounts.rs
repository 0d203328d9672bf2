//! Accounts and tokens at the host, on SQLite and PostgreSQL: register,
//! login, me; duplicates, weak passwords, malformed input; every way a token
//! can be wrong; rate limiting.

mod common;
use common::{Backend, JWT_SECRET, TodoHost, client};
use serde_json::{Value, json};

async fn post(host: &common::Host, path: &str, body: &str) -> (u16, Value) {
    let resp = client()
        .post(host.url(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn register_login_me(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let (status, user) = post(
        &t.host,
        "/api/auth/register",
        r#"{"email":"  Ann@Example.COM ","password":"correct horse","name":"Ann"}"#,
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["name"], "Ann");
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());

    let (status, login) = post(
        &t.host,
        "/api/auth/login",
        r#"{"email":"ann@example.com","password":"correct horse"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(login["token_type"], "bearer");
    assert_eq!(login["expires_in"], 15 * 60);
    assert_eq!(login["user"]["id"], user["id"]);
    let token = login["access_token"].as_str().unwrap();

    let me = common::get_json(t.host.url("/api/auth/me"), Some(token)).await;
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["email"], "ann@example.com");

    // Unknown email and wrong password look the same.
    let (s1, b1) = post(
        &t.host,
        "/api/auth/login",
        r#"{"email":"ann@example.com","password":"wrong pass"}"#,
    )
    .await;
    let (s2, b2) = post(
        &t.host,
        "/api/auth/login",
        r#"{"email":"bob@example.com","password":"wrong pass"}"#,
    )
    .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(b1["detail"], b2["detail"]);
    // The failed attempt is logged, the password is not.
    t.host
        .wait_for_log("failed login", std::time::Duration::from_secs(5));
    assert!(!t.host.logs().contains("wrong pass"));
}

async fn bad_registrations(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let h = &t.host;
    let ok = r#"{"email":"dup@example.com","password":"password1","name":"D"}"#;
    assert_eq!(post(h, "/api/auth/register", ok).await.0, 201);
    let (status, body) = post(h, "/api/auth/register", &ok.replace("dup@", "DUP@")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "email_taken");

    let (status, body) = post(
        h,
        "/api/auth/register",
        r#"{"email":"w@example.com","password":"short","name":"W"}"#,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["field"], "password");
    assert!(body["detail"].as_str().unwrap().contains("at least 8"));

    let (status, body) = post(
        h,
        "/api/auth/register",
        r#"{"email":"not-an-email","password":"password1","name":"W"}"#,
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("email")));
    let (status, body) = post(
        h,
        "/api/auth/register",
        r#"{"email":"x@example.com","password":12345678,"name":"W"}"#,
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("password")));
    let (status, body) = post(
        h,
        "/api/auth/register",
        r#"{"email":"x@example.com","password":"password1"}"#,
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("name")));
    let (status, body) = post(h, "/api/auth/register", r#"{"email": "x@example.com", "#).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_json");
    assert!(body["request_id"].is_string());
}

fn token(claims: Value, key: &str, alg: jsonwebtoken::Algorithm) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn bad_tokens_are_refused_before_the_component_runs(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let bob = h.register("bob@example.com", "password2").await;
    let path = format!("/api/{}/tasks", ann.id);
    let get = |tok: Option<String>| {
        let mut req = client().get(h.url(&path));
        if let Some(tok) = tok {
            req = req.bearer_auth(tok);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let claims = |exp: u64| {
        json!({ "sub": ann.id, "email": ann.email, "iat": now(), "nbf": now(),
                "iss": "spaceport", "aud": "spaceport-api", "exp": exp })
    };

    assert_eq!(get(Some(ann.token.clone())).await.0, 200);
    let (status, body) = get(None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("not_authenticated"))
    );
    let (status, body) = get(Some(token(
        claims(now() - 3600),
        JWT_SECRET,
        jsonwebtoken::Algorithm::HS256,
    )))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("token_expired"))
    );
    let (status, _) = get(Some(token(
        claims(now() + 600),
        "another-secret-0123456789abcdef0123",
        jsonwebtoken::Algorithm::HS256,
    )))
    .await;
    assert_eq!(status, 401, "wrong key");
    let (status, _) = get(Some(token(
        claims(now() + 600),
        JWT_SECRET,
        jsonwebtoken::Algorithm::HS512,
    )))
    .await;
    assert_eq!(status, 401, "other algorithm");
    // Tampered: Bob's signature on Ann's claims.
    let mut parts: Vec<String> = bob.token.split('.').map(str::to_string).collect();
    parts[1] = ann.token.split('.').nth(1).unwrap().to_string();
    assert_eq!(get(Some(parts.join("."))).await.0, 401, "tampered");
    // alg: none.
    use base64_like::encode as b64;
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(now() + 600).to_string().as_bytes())
    );
    assert_eq!(get(Some(none)).await.0, 401, "alg none");
    // A valid token for someone else's path.
    let (status, body) = get(Some(bob.token.clone())).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    // A client-sent identity header changes nothing.
    let resp = client()
        .get(h.url(&path))
        .bearer_auth(&bob.token)
        .header("spaceport-principal", &ann.id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // Issuer, audience and not-before are checked; the scheme's case is not.
    let mut forged = claims(now() + 600);
    forged["iss"] = json!("someone-else");
    assert_eq!(
        get(Some(token(
            forged,
            JWT_SECRET,
            jsonwebtoken::Algorithm::HS256
        )))
        .await
        .0,
        401,
        "issuer"
    );
    let mut forged = claims(now() + 600);
    forged["aud"] = json!("another-api");
    assert_eq!(
        get(Some(token(
            forged,
            JWT_SECRET,
            jsonwebtoken::Algorithm::HS256
        )))
        .await
        .0,
        401,
        "audience"
    );
    let mut forged = claims(now() + 600);
    forged.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        get(Some(token(
            forged,
            JWT_SECRET,
            jsonwebtoken::Algorithm::HS256
        )))
        .await
        .0,
        401,
        "no issuer"
    );
    let mut forged = claims(now() + 3600);
    forged["nbf"] = json!(now() + 600);
    let (status, body) = get(Some(token(
        forged,
        JWT_SECRET,
        jsonwebtoken::Algorithm::HS256,
    )))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token")),
        "future nbf"
    );
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let resp = client()
            .get(h.url(&path))
            .header("authorization", format!("{scheme} {}", ann.token))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
    }
}

/// A validly signed token whose user was deleted is refused on every route,
/// host endpoint or component, with 401 invalid_token (never a 500).
async fn a_deleted_users_token_is_refused_everywhere(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let h = &t.host;
    let gone = h.register("gone@example.com", "password1").await;
    let (status, _) = h
        .call(
            &gone,
            reqwest::Method::GET,
            &format!("/api/{}/tasks", gone.id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    t.delete_user(&gone.id).await;
    let id = &gone.id;
    for (method, path, body) in [
        (reqwest::Method::GET, format!("/api/{id}/tasks"), None),
        (
            reqwest::Method::POST,
            format!("/api/{id}/tasks"),
            Some(json!({ "title": "orphan" })),
        ),
        (
            reqwest::Method::GET,
            format!("/api/{id}/conversations"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/{id}/chat"),
            Some(json!({ "message": "hi" })),
        ),
        (
            reqwest::Method::POST,
            format!("/api/{id}/tools/list_tasks"),
            Some(json!({})),
        ),
        (reqwest::Method::GET, "/api/auth/me".to_string(), None),
    ] {
        let (status, answer) = h.call(&gone, method.clone(), &path, body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (401, Some("invalid_token")),
            "{method} {path}: {answer}"
        );
    }
}

/// Base64url without padding, enough to forge an unsigned token in a test.
mod base64_like {
    pub fn encode(input: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
}

async fn login_attempts_are_rate_limited(backend: Backend) {
    let t = TodoHost::start(backend, &[("SPACEPORT_AUTH_RATE_PER_MINUTE", "3")]).await;
    let body = r#"{"email":"x@example.com","password":"whatever1"}"#;
    for _ in 0..3 {
        assert_eq!(post(&t.host, "/api/auth/login", body).await.0, 401);
    }
    let resp = client()
        .post(t.host.url("/api/auth/login"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "rate_limited");
    // Other endpoints are not limited.
    let resp = client().get(t.host.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// Behind a proxy the limit keys on the address the proxy appended: a client
/// that rotates the leftmost `X-Forwarded-For` entry is still limited, and
/// another client (another appended address) is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_cannot_dodge_the_rate_limit() {
    let t = TodoHost::start(
        Backend::Sqlite,
        &[
            ("SPACEPORT_AUTH_RATE_PER_MINUTE", "2"),
            ("SPACEPORT_TRUST_PROXY", "true"),
        ],
    )
    .await;
    let login = |forwarded: String| {
        client()
            .post(t.host.url("/api/auth/login"))
            .header("x-forwarded-for", forwarded)
            .body(r#"{"email":"x@example.com","password":"whatever1"}"#)
            .send()
    };
    let mut statuses = Vec::new();
    for i in 0..3 {
        let resp = login(format!("10.0.0.{i}, 203.0.113.7")).await.unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
    let other = login("10.0.0.1, 203.0.113.8".into()).await.unwrap();
    assert_eq!(other.status(), 401);
}

both_backends!(
    register_login_me,
    bad_registrations,
    bad_tokens_are_refused_before_the_component_runs,
    a_deleted_users_token_is_refused_everywhere,
    login_attempts_are_rate_limited,
);

#[test]
fn unsafe_cors_origins_are_refused_at_start_with_what_to_write() {
    let app = common::App::new(&common::default_manifest());
    for (origins, expect) in [
        ("*", "list the frontends instead"),
        ("https://*vercel.app", "write `https://*.vercel.app`"),
        ("app.example.com", "write `https://app.example.com`"),
        ("https://a.example.com/path", "no path"),
    ] {
        let out = common::command()
            .arg("up")
            .arg("--manifest")
            .arg(app.manifest())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("SPACEPORT_DATA_DIR", app.dir.path().join("data"))
            .env("ALLOWED_ORIGINS", origins)
            .output()
            .unwrap();
        let text = common::output_text(&out);
        assert!(!out.status.success(), "{origins}: {text}");
        assert!(
            text.contains("ALLOWED_ORIGINS") && text.contains(expect),
            "{origins}: {text}"
        );
    }
}

#[test]
fn production_refuses_to_start_without_a_strong_secret() {
    let app = common::App::new(&common::default_manifest());
    for (secret, expect) in [
        (None, "is required in production"),
        (Some("short"), "at least 32 bytes"),
    ] {
        let mut cmd = common::command();
        cmd.args(["up", "--listen", "127.0.0.1:0", "--manifest"])
            .arg(app.manifest())
            .env("APP_ENV", "production")
            .env("SPACEPORT_DATA_DIR", app.dir.path().join("data"))
            .env_remove("JWT_SECRET_KEY")
            .env_remove("SECRET_KEY");
        if let Some(s) = secret {
            cmd.env("JWT_SECRET_KEY", s);
        }
        let out = cmd.output().unwrap();
        let text = common::output_text(&out);
        assert!(!out.status.success(), "{text}");
        assert!(
            text.contains("JWT_SECRET_KEY") && text.contains(expect),
            "{text}"
        );
    }
}

//! CORS is answered by the host: listed and pattern origins are echoed with
//! credentials, unlisted origins get nothing, preflights are cached.

mod common;
use common::{App, Host, client, fault_manifest, wasm};

fn host() -> (App, Host) {
    let app = App::new(&fault_manifest(&wasm("fault"), &wasm("health"), ""));
    let host = Host::start_with(
        &app,
        &[(
            "ALLOWED_ORIGINS",
            "https://app.example.com, https://*.vercel.app",
        )],
    );
    (app, host)
}

/// `GET /health` as a browser on `origin` sends it.
async fn health_from(host: &Host, origin: &str) -> reqwest::Response {
    client()
        .get(host.url("/health"))
        .header("origin", origin)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn listed_and_pattern_origins_are_allowed_with_credentials() {
    let (_app, host) = host();
    for origin in [
        "https://app.example.com",
        "https://my-app-git-main.vercel.app",
    ] {
        let resp = health_from(&host, origin).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["access-control-allow-origin"], origin);
        assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
        assert!(resp.headers()["vary"].to_str().unwrap().contains("origin"));
    }
}

#[tokio::test]
async fn unlisted_origins_get_no_allow_origin() {
    let (_app, host) = host();
    for origin in [
        "https://evil.example",
        "https://vercel.app.evil.com",
        "null",
    ] {
        let resp = health_from(&host, origin).await;
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "{origin} must not be allowed"
        );
    }
}

#[tokio::test]
async fn preflight_is_answered_by_the_host() {
    let (_app, host) = host();
    let resp = client()
        .request(reqwest::Method::OPTIONS, host.url("/fault/anything"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "DELETE")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-max-age"], "600");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("DELETE")
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    // The component never saw the preflight; a real request to it is counted,
    // so the zero above means something.
    assert_eq!(host.count_logs("component=\"fault\""), 0);
    let real = client()
        .delete(host.url("/fault/anything"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(real.status(), 200);
    host.wait_for_log("component=\"fault\"", std::time::Duration::from_secs(5));

    let denied = client()
        .request(reqwest::Method::OPTIONS, host.url("/fault/anything"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn error_responses_carry_cors_headers_too() {
    let (_app, host) = host();
    let resp = client()
        .get(host.url("/missing"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // Without this the browser hides the JSON error from the frontend.
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

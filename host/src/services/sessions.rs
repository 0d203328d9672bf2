//! Anonymous sessions, for routes with `auth = "session"` (the RAG seeds'
//! frontends send no token: seed 002 names a `session_id`, seed 003 nothing).
//!
//! A session id is a bearer credential the client keeps: `POST
//! /api/v1/sessions` mints a random one, and a client may also bring its own
//! (seed 002's `"session_id": "test-123"`). The host never hands the id itself
//! to a component: the principal's user id is `anon-` and a hash of it, so an
//! untrusted component that stores or logs its user ids learns nothing it
//! could replay. Sessions are stateless (nothing to store or expire); what an
//! anonymous caller may spend is bounded per client address as well as per
//! session, so minting sessions buys no extra LLM budget.

use super::auth::Principal;
use sha2::{Digest, Sha256};

/// The request header a client sends its session id in, and the response
/// header a newly minted one comes back in.
pub const HEADER: &str = "x-session-id";
/// The cookie a browser keeps it in (set with the minted id).
pub const COOKIE: &str = "spaceport_session";
/// How long the cookie lives: 30 days.
const COOKIE_MAX_AGE_S: u32 = 30 * 24 * 3600;

/// Why a request's session cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InvalidSession {
    /// A session id the client sent that cannot be one.
    #[error("session_id: expected 1 to 128 characters of letters, digits, `-`, `_`, `.` or `:`")]
    Malformed,
    /// Only the cookie names the session, and the request comes from a page
    /// the cookie may not be used from (a browser sends it from any site).
    #[error(
        "this page's origin may not use the session cookie: send the session id in the X-Session-Id header"
    )]
    CrossSite,
}

/// A fresh, unguessable session id (a random UUID, 122 bits).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn valid(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The principal a session id stands for: keyed with the host's secret, so a
/// component that sees `anon-…` cannot test guesses of the id offline.
pub fn principal(key: &[u8; 32], id: &str) -> Principal {
    let mut h = Sha256::new();
    h.update(key);
    h.update(b"\0");
    h.update(id.as_bytes());
    let digest = h.finalize();
    Principal {
        user_id: format!("anon-{}", &hex::encode(digest)[..32]),
        email: String::new(),
        anonymous: true,
    }
}

/// The session id a request names: the `X-Session-Id` header, else the
/// `session_id` of its body (`from_body`, see [`split_body`]; seed 002),
/// else the `spaceport_session` cookie (a named id wins over a remembered
/// one) when `cookie_allowed` (the request's origin may use it: see
/// [`InvalidSession::CrossSite`]). `Ok(None)` when it names none.
pub fn from_request(
    headers: &http::HeaderMap,
    from_body: Option<String>,
    cookie_allowed: bool,
) -> Result<Option<String>, InvalidSession> {
    let named = headers
        .get(HEADER)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map(str::to_string)
                .map_err(|_| InvalidSession::Malformed)
        })
        .transpose()?
        .or(from_body);
    let named = match named {
        Some(id) => Some(id),
        None => match cookie(headers) {
            Some(_) if !cookie_allowed => return Err(InvalidSession::CrossSite),
            remembered => remembered,
        },
    };
    match named {
        Some(id) if valid(&id) => Ok(Some(id)),
        Some(_) => Err(InvalidSession::Malformed),
        None => Ok(None),
    }
}

fn cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(session_pair)
        .map(str::to_string)
}

/// The value of a `name=value` cookie pair if it is the session cookie.
fn session_pair(pair: &str) -> Option<&str> {
    let (name, value) = pair.trim().split_once('=')?;
    (name.trim() == COOKIE).then(|| value.trim())
}

/// Take the session credential out of a request for a component: the
/// header, and the session cookie from `Cookie` (the other cookies stay).
/// Untouched when the request carries neither (the common case).
pub fn strip(headers: &mut http::HeaderMap) {
    headers.remove(HEADER);
    let carries = headers.get_all(http::header::COOKIE).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(';').any(|p| session_pair(p).is_some()))
    });
    if !carries {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|p| !p.is_empty() && session_pair(p).is_none())
        .map(str::to_string)
        .collect();
    headers.remove(http::header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = http::HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(http::header::COOKIE, v);
    }
}

/// Take out of a component's answer any attempt to set the session (header
/// or cookie): a component may not plant a session id it knows.
pub fn scrub_answer(headers: &mut http::HeaderMap) {
    headers.remove(HEADER);
    let planted = |v: &http::HeaderValue| v.to_str().is_ok_and(sets_session_cookie);
    if !headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .any(planted)
    {
        return;
    }
    let kept: Vec<http::HeaderValue> = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter(|v| !planted(v))
        .cloned()
        .collect();
    headers.remove(http::header::SET_COOKIE);
    for v in kept {
        headers.append(http::header::SET_COOKIE, v);
    }
}

/// A JSON object body that has a `session_id` field, split into that id
/// (`None` for `null`) and the body without it, so the credential stays with
/// the host. `None` for any other body: the component's to judge (and to
/// answer 400/422 for).
pub fn split_body(body: &[u8]) -> Option<(Option<String>, Vec<u8>)> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let mut map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).ok()?;
    let named = match map.remove("session_id")? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        // A number or the like: stands for itself, and fails validation if odd.
        other => Some(other.to_string()),
    };
    Some((named, serde_json::to_vec(&map).ok()?))
}

/// Whether a component's `Set-Cookie` value would set the session cookie
/// (a component may not plant a session in a browser).
fn sets_session_cookie(value: &str) -> bool {
    value.split(';').next().and_then(session_pair).is_some()
}

/// The `Set-Cookie` value that hands a minted id to a browser. `SameSite=None;
/// Secure` so a frontend on another origin (Vercel → Space) sends it back with
/// `credentials: "include"`; HttpOnly so page scripts cannot read it.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; Path=/api; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; Secure; SameSite=None")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id named by the body, as the server reads it.
    fn named(body: &[u8]) -> Option<String> {
        split_body(body).and_then(|(id, _)| id)
    }

    #[test]
    fn header_then_body_then_cookie() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "cookie",
            "a=1; spaceport_session=from-cookie".parse().unwrap(),
        );
        let body = br#"{"session_id":"from-body","question":"q"}"#;
        assert_eq!(
            from_request(&h, named(body), true).unwrap().as_deref(),
            Some("from-body")
        );
        assert_eq!(
            from_request(&h, named(b"{}"), true).unwrap().as_deref(),
            Some("from-cookie")
        );
        h.insert(HEADER, "from-header".parse().unwrap());
        assert_eq!(
            from_request(&h, named(body), true).unwrap().as_deref(),
            Some("from-header")
        );
        let empty = http::HeaderMap::new();
        assert_eq!(
            from_request(&empty, named(body), true).unwrap().as_deref(),
            Some("from-body")
        );
        assert_eq!(
            from_request(&empty, named(b"not json"), true).unwrap(),
            None
        );
        assert_eq!(
            from_request(&empty, named(br#"{"question":"q"}"#), true).unwrap(),
            None
        );
    }

    #[test]
    fn a_cookie_alone_from_a_foreign_page_is_refused() {
        let mut h = http::HeaderMap::new();
        h.insert("cookie", "spaceport_session=from-cookie".parse().unwrap());
        assert!(matches!(
            from_request(&h, None, false),
            Err(InvalidSession::CrossSite)
        ));
        // A named id does not need the cookie.
        let body = br#"{"session_id":"from-body"}"#;
        assert_eq!(
            from_request(&h, named(body), false).unwrap().as_deref(),
            Some("from-body")
        );
        assert_eq!(
            from_request(&http::HeaderMap::new(), None, false).unwrap(),
            None
        );
    }

    #[test]
    fn odd_ids_are_refused() {
        let empty = http::HeaderMap::new();
        assert!(from_request(&empty, named(br#"{"session_id":"a b"}"#), true).is_err());
        assert!(from_request(&empty, named(br#"{"session_id":""}"#), true).is_err());
        let long = format!(r#"{{"session_id":"{}"}}"#, "x".repeat(129));
        assert!(from_request(&empty, named(long.as_bytes()), true).is_err());
    }

    #[test]
    fn the_principal_hides_the_id() {
        let key = [7u8; 32];
        let p = principal(&key, "test-123");
        assert!(p.user_id.starts_with("anon-") && !p.user_id.contains("test-123"));
        assert_eq!(p.user_id, principal(&key, "test-123").user_id);
        assert_ne!(p.user_id, principal(&key, "test-124").user_id);
        assert_ne!(
            p.user_id,
            principal(&[8u8; 32], "test-123").user_id,
            "keyed by the host's secret"
        );
        assert!(p.anonymous);
    }

    #[test]
    fn the_body_loses_only_its_session_field() {
        let (id, rest) = split_body(br#"{"session_id":"s","question":"q"}"#).unwrap();
        assert_eq!(id.as_deref(), Some("s"));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&rest).unwrap(),
            serde_json::json!({"question": "q"})
        );
        assert!(split_body(br#"{"question":"q"}"#).is_none());
        assert!(split_body(b"not json").is_none());
        assert!(sets_session_cookie("spaceport_session=x; Path=/api"));
        assert!(!sets_session_cookie("theme=dark"));
        let mut h = http::HeaderMap::new();
        h.insert("cookie", "theme=dark; spaceport_session=s".parse().unwrap());
        h.insert(HEADER, "s".parse().unwrap());
        strip(&mut h);
        assert_eq!(h["cookie"], "theme=dark");
        assert!(!h.contains_key(HEADER));
        let mut answer = http::HeaderMap::new();
        answer.append(
            "set-cookie",
            "spaceport_session=planted; Path=/api".parse().unwrap(),
        );
        answer.append("set-cookie", "theme=light".parse().unwrap());
        scrub_answer(&mut answer);
        let left: Vec<_> = answer.get_all("set-cookie").iter().collect();
        assert_eq!(left, ["theme=light"]);
    }
}

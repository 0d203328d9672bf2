//! CORS, answered by the host before any component runs (tower-http's
//! `CorsLayer`). Origins are exact (`https://app.example.com`) or patterns
//! with one `*` (`https://*.vercel.app`). Credentials are allowed, so an
//! allowed origin is echoed back, never `*`; an origin not on the list gets
//! no `Access-Control-Allow-Origin` at all.

use http::{HeaderName, HeaderValue, Method, request::Parts};
use std::time::Duration;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight answer.
pub const MAX_AGE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
enum OriginRule {
    Exact(String),
    /// `prefix*suffix`, where `*` stands for one or more DNS labels.
    Pattern {
        prefix: String,
        suffix: String,
    },
}

impl OriginRule {
    fn parse(origin: &str) -> Self {
        match origin.split_once('*') {
            Some((prefix, suffix)) => Self::Pattern {
                prefix: prefix.to_ascii_lowercase(),
                suffix: suffix.to_ascii_lowercase(),
            },
            None => Self::Exact(origin.to_ascii_lowercase()),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Exact(o) => o == origin,
            Self::Pattern { prefix, suffix } => origin
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                .is_some_and(|middle| {
                    !middle.is_empty()
                        && middle
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                }),
        }
    }
}

/// Check one configured origin; the message says what to write instead.
pub fn validate_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Err(
            "`*` would let every website call the API with your users' tokens; list the \
             frontends instead, e.g. `https://app.example.com,https://*.vercel.app`"
                .into(),
        );
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err(format!(
            "`{origin}` is not an origin: write `https://{origin}` (scheme://host[:port], no path)"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{origin}`: the scheme must be http or https"));
    }
    if rest.is_empty() || rest.contains('/') {
        return Err(format!(
            "`{origin}` is not an origin: write `{scheme}://{}` (no path)",
            rest.split('/').next().unwrap_or_default()
        ));
    }
    match rest.matches('*').count() {
        0 => Ok(()),
        1 if rest.starts_with("*.") && rest.len() > 2 => Ok(()),
        1 => {
            let fixed = rest.trim_start_matches('*').trim_start_matches('.');
            Err(format!(
                "`{origin}`: a `*` stands for whole labels at the start of the host; write `{scheme}://*.{fixed}`"
            ))
        }
        _ => Err(format!(
            "`{origin}`: at most one `*`, as in `{scheme}://*.example.com`"
        )),
    }
}

/// The configured origins (`ALLOWED_ORIGINS`), as CORS and `/mcp`'s Origin
/// check read them.
#[derive(Debug, Clone)]
pub struct Origins(Vec<OriginRule>);

impl Origins {
    pub fn new(origins: &[String]) -> Self {
        Self(origins.iter().map(|o| OriginRule::parse(o)).collect())
    }

    /// Whether a request's `Origin` header value is one of them.
    pub fn allows(&self, origin: &str) -> bool {
        let o = origin.to_ascii_lowercase();
        self.0.iter().any(|r| r.allows(&o))
    }

    /// Whether a request may be authenticated by the anonymous session
    /// cookie, which a browser attaches whatever page sends the request
    /// (`SameSite=None`, so a cross-origin frontend can keep it): only from
    /// no page at all (no `Origin`: not a browser's cross-site request), the
    /// host's own pages, or an origin listed exactly in `ALLOWED_ORIGINS`. A
    /// pattern such as `https://*.vercel.app` also matches pages anyone can
    /// publish, which could then read a visitor's conversations with the
    /// cookie; such frontends send the id in `X-Session-Id` instead.
    pub fn may_use_cookie(&self, headers: &http::HeaderMap) -> bool {
        let Some(origin) = headers.get(http::header::ORIGIN) else {
            // No Origin: not a script's cross-site request, unless the
            // browser says it is another site's (a link, an image, a form GET).
            return headers
                .get("sec-fetch-site")
                .is_none_or(|site| site.as_bytes() != b"cross-site");
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.to_ascii_lowercase();
        let same_host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .zip(origin.split_once("://"))
            .is_some_and(|(host, (_, authority))| authority.eq_ignore_ascii_case(host));
        same_host
            || self
                .0
                .iter()
                .any(|r| matches!(r, OriginRule::Exact(o) if *o == origin))
    }
}

/// Build the CORS layer for `origins`.
pub fn layer(origins: &[String]) -> CorsLayer {
    let rules = Origins::new(origins);
    let allow_origin = AllowOrigin::predicate(move |origin: &HeaderValue, _: &Parts| {
        origin.to_str().map(|o| rules.allows(o)).unwrap_or(false)
    });
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-session-id"),
            HeaderName::from_static("mcp-session-id"),
        ])
        .max_age(MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::OriginRule;

    #[test]
    fn the_cookie_counts_only_from_exact_origins_the_host_or_no_page() {
        let rules = super::Origins::new(&[
            "https://app.example.com".to_string(),
            "https://*.vercel.app".to_string(),
        ]);
        let with = |pairs: &[(&'static str, &str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(rules.may_use_cookie(&with(&[])));
        assert!(rules.may_use_cookie(&with(&[("origin", "https://app.example.com")])));
        assert!(rules.may_use_cookie(&with(&[
            ("origin", "https://space.hf.space"),
            ("host", "space.hf.space")
        ])));
        assert!(!rules.may_use_cookie(&with(&[("origin", "https://x.vercel.app")])));
        assert!(!rules.may_use_cookie(&with(&[("sec-fetch-site", "cross-site")])));
        assert!(rules.may_use_cookie(&with(&[("sec-fetch-site", "same-origin")])));
    }

    #[test]
    fn patterns_match_subdomains_only() {
        let r = OriginRule::parse("https://*.vercel.app");
        assert!(r.allows("https://my-app-git-main.vercel.app"));
        assert!(!r.allows("https://vercel.app"));
        assert!(!r.allows("http://x.vercel.app"));
        assert!(!r.allows("https://x.vercel.app.evil.com"));
        assert!(!r.allows("https://evil.com/.vercel.app"));
    }
}

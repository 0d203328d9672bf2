//! Route patterns as in Spin: exact paths, `:name` segments and a trailing
//! `/...` wildcard; the most specific matching route wins.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed `route = "..."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

impl RoutePattern {
    /// Parse a route; the error says what was expected.
    pub fn parse(route: &str) -> Result<Self, String> {
        let Some(rest) = route.strip_prefix('/') else {
            return Err(format!(
                "expected a path starting with `/`, found `{route}`"
            ));
        };
        let mut segments = Vec::new();
        let mut wildcard = false;
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.trim_end_matches('/').split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            if *part == "..." {
                if i + 1 != parts.len() {
                    return Err(format!(
                        "`...` is only allowed as the last segment, in `{route}`"
                    ));
                }
                wildcard = true;
            } else if let Some(name) = part.strip_prefix(':') {
                let ok =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    return Err(format!(
                        "expected `:name` with letters, digits or `_`, found `{part}` in `{route}`"
                    ));
                }
                if segments.contains(&Segment::Param(name.to_string())) {
                    return Err(format!("parameter `:{name}` appears twice in `{route}`"));
                }
                segments.push(Segment::Param(name.to_string()));
            } else if part.is_empty() {
                return Err(format!("empty path segment in `{route}`"));
            } else {
                segments.push(Segment::Literal(part.to_string()));
            }
        }
        Ok(Self {
            raw: route.to_string(),
            segments,
            wildcard,
        })
    }

    /// Whether the route has a `:name` segment.
    pub fn has_param(&self, name: &str) -> bool {
        self.segments.contains(&Segment::Param(name.to_string()))
    }

    /// The route as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Match a request path (without query). Returns params and the wildcard tail.
    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = path.strip_prefix('/')?;
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(lit) if lit == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    if part.is_empty() {
                        return None;
                    }
                    let value = percent_encoding::percent_decode_str(part)
                        .decode_utf8()
                        .ok()?
                        .into_owned();
                    params.push((name.clone(), value));
                }
            }
        }
        let rest = &parts[self.segments.len()..];
        let path_info = if rest.is_empty() {
            String::new()
        } else {
            format!("/{}", rest.join("/"))
        };
        Some(RouteMatch { params, path_info })
    }

    /// Order by specificity: a route without wildcard beats one with, then
    /// more segments win, then a literal beats a parameter at the first
    /// position where they differ.
    fn specificity_cmp(&self, other: &Self) -> Ordering {
        (!self.wildcard)
            .cmp(&!other.wildcard)
            .then(self.segments.len().cmp(&other.segments.len()))
            .then_with(|| {
                let kinds = |p: &Self| {
                    p.segments
                        .iter()
                        .map(|s| matches!(s, Segment::Literal(_)))
                        .collect::<Vec<_>>()
                };
                kinds(self).cmp(&kinds(other))
            })
    }
}

/// What a matched route captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteMatch {
    /// `:name` → decoded value, in route order.
    pub params: Vec<(String, String)>,
    /// The path matched by `/...` (with a leading `/`), or empty.
    pub path_info: String,
}

/// A route table; `T` is what a route leads to (a component id).
#[derive(Debug, Clone)]
pub struct Router<T> {
    /// Most specific first, so the first match is the best one.
    routes: Vec<(RoutePattern, T)>,
}

impl<T> Router<T> {
    pub fn new(mut routes: Vec<(RoutePattern, T)>) -> Self {
        routes.sort_by(|a, b| b.0.specificity_cmp(&a.0));
        Self { routes }
    }

    /// The most specific route matching `path`.
    pub fn lookup(&self, path: &str) -> Option<(&RoutePattern, &T, RouteMatch)> {
        self.routes
            .iter()
            .find_map(|(p, t)| p.matches(path).map(|m| (p, t, m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router<String> {
        Router::new(
            routes
                .iter()
                .map(|r| (RoutePattern::parse(r).expect(r), r.to_string()))
                .collect(),
        )
    }

    fn best(r: &Router<String>, path: &str) -> Option<String> {
        r.lookup(path).map(|(_, t, _)| t.clone())
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router(&[
            "/...",
            "/api/...",
            "/api/:user_id/tasks",
            "/api/:user_id/tasks/:id",
            "/api/health",
            "/api/:user_id/...",
            "/",
        ]);
        assert_eq!(best(&r, "/").as_deref(), Some("/"));
        assert_eq!(best(&r, "/api/health").as_deref(), Some("/api/health"));
        assert_eq!(
            best(&r, "/api/u1/tasks").as_deref(),
            Some("/api/:user_id/tasks")
        );
        assert_eq!(
            best(&r, "/api/u1/tasks/7").as_deref(),
            Some("/api/:user_id/tasks/:id")
        );
        assert_eq!(
            best(&r, "/api/u1/tasks/7/complete").as_deref(),
            Some("/api/:user_id/...")
        );
        assert_eq!(best(&r, "/api").as_deref(), Some("/api/..."));
        assert_eq!(best(&r, "/other/thing").as_deref(), Some("/..."));
    }

    #[test]
    fn params_and_path_info_are_captured() {
        let p = RoutePattern::parse("/api/:user_id/files/...").unwrap();
        let m = p.matches("/api/a%20b/files/x/y.txt").unwrap();
        assert_eq!(m.params, vec![("user_id".to_string(), "a b".to_string())]);
        assert_eq!(m.path_info, "/x/y.txt");
        assert!(p.matches("/api/a/other/x").is_none());
    }

    #[test]
    fn exact_routes_do_not_match_longer_paths() {
        let p = RoutePattern::parse("/health").unwrap();
        assert!(p.matches("/health").is_some());
        assert!(p.matches("/health/").is_some());
        assert!(p.matches("/health/x").is_none());
        assert!(p.matches("/healthz").is_none());
    }

    #[test]
    fn bad_routes_are_rejected_with_a_reason() {
        assert!(
            RoutePattern::parse("health")
                .unwrap_err()
                .contains("starting with `/`")
        );
        assert!(
            RoutePattern::parse("/a/.../b")
                .unwrap_err()
                .contains("last segment")
        );
        assert!(RoutePattern::parse("/a/:").unwrap_err().contains(":name"));
        assert!(
            RoutePattern::parse("/a/:x/:x")
                .unwrap_err()
                .contains("twice")
        );
    }
}

//! `allowed_outbound_hosts` entries, parsed once when the manifest is read.
//! The `wasi:http` capability enforces them on every outgoing request.

use serde::Deserialize;

/// One `allowed_outbound_hosts` entry: `scheme://host[:port]`, where the
/// scheme may be `*`, the host may be `*` or start with `*.`, and the port
/// may be `*` (no port = the scheme's default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OutboundHost {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
    any_port: bool,
}

impl OutboundHost {
    pub fn parse(entry: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "expected `scheme://host[:port]` (e.g. `https://api.openai.com`, `https://*.example.com`), found `{entry}`"
            )
        };
        let (scheme, rest) = entry.split_once("://").ok_or_else(expected)?;
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            _ => return Err(expected()),
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(expected());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let (port, any_port) = match port {
            None => (None, false),
            Some("*") => (None, true),
            Some(p) => (Some(p.parse::<u16>().map_err(|_| expected())?), false),
        };
        if host.is_empty() || (host.contains('*') && host != "*" && !host.starts_with("*.")) {
            return Err(expected());
        }
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            any_port,
        })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let host = host.to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            _ if self.host == "*" => true,
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == self.host,
        };
        let port_ok = self.any_port
            || match self.port {
                Some(p) => p == port,
                None => port == default_port(scheme),
            };
        host_ok && port_ok
    }
}

/// The port a scheme implies when a URL names none.
pub fn default_port(scheme: &str) -> u16 {
    if scheme == "http" { 80 } else { 443 }
}

impl TryFrom<String> for OutboundHost {
    type Error = String;

    fn try_from(entry: String) -> Result<Self, String> {
        Self::parse(&entry)
    }
}

#[cfg(test)]
mod tests {
    use super::OutboundHost;

    #[test]
    fn outbound_hosts_match_scheme_host_and_port() {
        let exact = OutboundHost::parse("https://api.openai.com").unwrap();
        assert!(exact.allows("https", "api.openai.com", 443));
        assert!(!exact.allows("http", "api.openai.com", 80));
        assert!(!exact.allows("https", "api.openai.com", 8443));
        assert!(!exact.allows("https", "evil.com", 443));

        let wild = OutboundHost::parse("*://*.example.com:*").unwrap();
        assert!(wild.allows("http", "a.example.com", 8080));
        assert!(!wild.allows("http", "example.com.evil", 80));

        let local = OutboundHost::parse("http://localhost:6333").unwrap();
        assert!(local.allows("http", "localhost", 6333));
        assert!(!local.allows("http", "localhost", 6334));
    }

    #[test]
    fn bad_entries_say_what_was_expected() {
        for bad in [
            "api.openai.com",
            "ftp://x",
            "https://a/b",
            "https://x:port",
            "https://a*b.com",
        ] {
            assert!(
                OutboundHost::parse(bad).unwrap_err().contains("expected"),
                "{bad}"
            );
        }
    }
}

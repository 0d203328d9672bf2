//! `spaceport deploy | status | rollback --to URL`: the admin API's client.
//! A deploy builds the named components (or every one with a build command),
//! uploads each whose `.wasm` differs from what the target serves, and
//! prints the version once the target answers that it serves it.

use crate::manifest::Manifest;
use crate::sandbox::runtime::cache::content_hash;
use anyhow::{Context as _, bail};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Where and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The running host, e.g. `https://you-your-space.hf.space` or `http://127.0.0.1:7860`.
    #[arg(long = "to", env = "SPACEPORT_DEPLOY_URL")]
    pub url: String,
    /// The target's `SPACEPORT_ADMIN_TOKEN`.
    #[arg(long = "token", env = "SPACEPORT_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// Components to deploy (default: every component; unchanged ones are skipped).
    pub components: Vec<String>,
    #[arg(long, default_value = "spin-like.toml")]
    pub manifest: PathBuf,
    /// Upload the current `.wasm` files without running the build commands.
    #[arg(long)]
    pub no_build: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    pub component: String,
    /// A version (content hash, or at least its first 6 characters) from
    /// `spaceport status`; default: the one before the current.
    #[arg(long)]
    pub version: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(target: &Target) -> anyhow::Result<Self> {
        let base = target.url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!(
                "--to must be an http:// or https:// URL, got `{}`",
                target.url
            );
        }
        Ok(Self {
            // Compiling a Python or JS component on a busy host takes seconds.
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()?,
            base,
            token: target.token.clone(),
        })
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req.bearer_auth(&self.token).send().map_err(|e| {
            anyhow::anyhow!(
                "cannot reach {}: {}",
                self.base,
                if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    e.to_string()
                }
            )
        })?;
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let detail = body["detail"].as_str().unwrap_or("");
        match (status.as_u16(), body["error"].as_str()) {
            (404, Some("not_found")) | (404, None) => bail!(
                "{} has no admin API: set SPACEPORT_ADMIN_TOKEN on it (at least 32 bytes) and restart it",
                self.base
            ),
            (401, _) => bail!(
                "{} refused the admin token: pass the one it was started with (--token or SPACEPORT_ADMIN_TOKEN)",
                self.base
            ),
            (_, Some(code)) => bail!("{status}: {code}: {detail}"),
            _ => bail!("{status} from {}", self.base),
        }
    }

    fn status(&self) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}/admin/components", self.base)))
    }
}

pub fn deploy(args: &DeployArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.target)?;
    // Reach the target first: a wrong token or URL should not cost a build.
    let serving = client.status()?;
    let manifest = Manifest::load(&args.manifest)?;
    let names: Vec<String> = if args.components.is_empty() {
        manifest.components.keys().cloned().collect()
    } else {
        args.components.clone()
    };
    for id in &names {
        if !manifest.components.contains_key(id) {
            bail!("no component named `{id}` in {}", manifest.path.display());
        }
    }
    if !args.no_build {
        super::build(&args.manifest, &names)?;
    }
    let mut deployed = 0;
    for id in &names {
        let path = manifest.source_path(&manifest.components[id]);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let hash = content_hash(&bytes);
        let current = serving["components"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["component"] == id.as_str()));
        match current {
            None => {
                println!(
                    "{id}: not in the target's manifest (deploy serves components it already routes; change its manifest to add one)"
                );
                continue;
            }
            Some(c) if c["version"] == hash.as_str() => {
                println!("{id}: up to date ({})", &hash[..12]);
                continue;
            }
            Some(_) => {}
        }
        println!("{id}: uploading {} KiB ...", bytes.len() / 1024);
        let answer = client
            .send(
                client
                    .http
                    .put(format!("{}/admin/components/{id}", client.base))
                    .header("content-type", "application/wasm")
                    .body(bytes),
            )
            .with_context(|| format!("deploying `{id}`"))?;
        println!(
            "{id}: serving {} ({} KiB; compiled in {} ms, serving {} ms after upload)",
            answer["version"]
                .as_str()
                .map_or("?", |v| &v[..v.len().min(12)]),
            answer["size"].as_u64().unwrap_or(0) / 1024,
            answer["compile_ms"].as_u64().unwrap_or(0),
            answer["swap_ms"].as_u64().unwrap_or(0),
        );
        deployed += 1;
    }
    println!("{deployed} deployed, {} unchanged", names.len() - deployed);
    Ok(())
}

pub fn status(target: &Target) -> anyhow::Result<()> {
    let client = Client::new(target)?;
    let all = client.status()?;
    println!(
        "{:<16} {:<14} {:<9} {:>9}  deployed",
        "component", "version", "source", "size"
    );
    for c in all["components"].as_array().into_iter().flatten() {
        let version = c["version"].as_str().unwrap_or("");
        let deployed = &c["deployed"];
        println!(
            "{:<16} {:<14} {:<9} {:>6} KiB  {}",
            c["component"].as_str().unwrap_or("?"),
            &version[..version.len().min(12)],
            c["source"].as_str().unwrap_or("?"),
            c["size"].as_u64().unwrap_or(0) / 1024,
            if deployed.is_object() {
                format!(
                    "{} by {} ({})",
                    deployed["created_at"].as_str().unwrap_or("?"),
                    deployed["actor"].as_str().unwrap_or("?"),
                    deployed["action"].as_str().unwrap_or("?")
                )
            } else {
                "-".into()
            }
        );
    }
    Ok(())
}

pub fn rollback(args: &RollbackArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.target)?;
    let body = serde_json::json!({ "version": args.version });
    let answer = client.send(
        client
            .http
            .post(format!(
                "{}/admin/components/{}/rollback",
                client.base, args.component
            ))
            .json(&body),
    )?;
    println!(
        "{}: serving {} again",
        args.component,
        answer["version"]
            .as_str()
            .map_or("?", |v| &v[..v.len().min(12)])
    );
    Ok(())
}

//! The `spaceport` command line: `up`, `dev`, `new`, `build`, `check`, `test`, `bundle`,
//! `deploy`, `status`, `rollback`, `healthcheck`.

pub mod config;
pub mod deploy;
pub mod dev;
pub mod logging;
pub mod new;
pub mod serve;
pub mod test;

use crate::app::docs;
use crate::manifest::Manifest;
use crate::sandbox::capabilities::Capabilities;
use crate::sandbox::runtime::Runtime;
use anyhow::{Context as _, bail};
use clap::{CommandFactory, Parser, Subcommand};
use config::{CheckConfig, HostConfig, LogConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "spaceport",
    version,
    about = "A WebAssembly component host for AI chatbot backends"
)]
struct Cli {
    #[command(flatten)]
    log: LogConfig,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application.
    Up {
        /// The application manifest.
        #[arg(long, default_value = "spin-like.toml")]
        manifest: PathBuf,
        /// Address to listen on (default 0.0.0.0:$PORT, PORT defaulting to 7860).
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        config: Box<HostConfig>,
    },
    /// `up`, plus rebuilding a component when its sources change; the new
    /// version is hot-swapped in without a restart.
    Dev {
        #[arg(long, default_value = "spin-like.toml")]
        manifest: PathBuf,
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        config: Box<HostConfig>,
    },
    /// Scaffold a component (Rust, Python or JavaScript; an HTTP route or a
    /// tool) that builds and passes its tests, and add it to the manifest.
    New(new::NewArgs),
    /// Run each component's build command from the manifest.
    Build {
        #[arg(long, default_value = "spin-like.toml")]
        manifest: PathBuf,
        /// Only these components (default: all that have a build command).
        components: Vec<String>,
    },
    /// Validate the manifest and check that every component's imports are satisfied
    /// (compiling them into the cache on the way).
    Check {
        #[arg(long, default_value = "spin-like.toml")]
        manifest: PathBuf,
        #[command(flatten)]
        config: CheckConfig,
    },
    /// Run components' test cases (TOML files beside each component) in-process,
    /// against fakes of their capabilities; exits non-zero if a case fails.
    Test(test::TestArgs),
    /// Check the app (as `check` does), then copy the manifest and every file it
    /// names into DIR at the same relative paths: what a deployment needs next to
    /// the binary (the Dockerfile uses it).
    Bundle {
        #[arg(long, default_value = "spin-like.toml")]
        manifest: PathBuf,
        /// Where to put the bundle (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        config: CheckConfig,
    },
    /// Build components and upload each changed one to a running host (its
    /// admin API); prints each new version once the host serves it.
    Deploy(deploy::DeployArgs),
    /// What a running host serves: each component's version and where it came from.
    Status {
        #[command(flatten)]
        target: deploy::Target,
    },
    /// Serve an earlier version of a component again on a running host.
    Rollback(deploy::RollbackArgs),
    /// Exit 0 if the local server's `/health` answers 200, else 1 (for container health checks).
    Healthcheck {
        /// Address to probe (default 127.0.0.1:$PORT).
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// The port `up` listens on.
        #[arg(long = "port", env = "PORT", default_value_t = 7860)]
        port: u16,
    },
}

pub fn main() -> ExitCode {
    // SAFETY: nothing else runs yet; no thread can read the environment meanwhile.
    unsafe { config::drop_blank_variables(&Cli::command()) };
    let cli = Cli::parse();
    if let Command::Test(args) = &cli.command {
        // The test runner captures log lines per case instead of printing them.
        return match test::run(args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    logging::init(&cli.log);
    let result = match cli.command {
        Command::Up {
            manifest,
            listen,
            config,
        } => up(*config, &manifest, listen),
        Command::Dev {
            manifest,
            listen,
            config,
        } => dev(*config, &manifest, listen),
        Command::Build {
            manifest,
            components,
        } => build(&manifest, &components),
        Command::Check { manifest, config } => check(&config, &manifest),
        Command::Bundle {
            manifest,
            out,
            config,
        } => bundle(&config, &manifest, &out),
        Command::Healthcheck { addr, port } => healthcheck(addr, port),
        Command::New(args) => new::run(&args),
        Command::Deploy(args) => deploy::deploy(&args),
        Command::Status { target } => deploy::status(&target),
        Command::Rollback(args) => deploy::rollback(&args),
        Command::Test(_) => unreachable!("handled above"),
    };
    // The spans still queued go to the collector before the process ends.
    crate::services::telemetry::shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every component's `.wasm` must exist before we start, so a missing build
/// fails fast with the manifest key to fix.
fn check_sources(manifest: &Manifest) -> anyhow::Result<()> {
    manifest
        .components
        .keys()
        .try_for_each(|id| check_source(manifest, id))
}

fn check_source(manifest: &Manifest, id: &str) -> anyhow::Result<()> {
    let Some(c) = manifest.components.get(id) else {
        bail!("no component named `{id}` in {}", manifest.path.display());
    };
    let path = manifest.source_path(c);
    if !path.is_file() {
        let hint = if c.build.is_some() {
            format!(" (run `spaceport build {id}`)")
        } else {
            String::new()
        };
        bail!(manifest.source_error(id, format!("file not found: {}{hint}", path.display())));
    }
    Ok(())
}

fn dev(
    mut config: HostConfig,
    manifest_path: &Path,
    listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    // A fresh checkout has no .wasm yet: build what is missing first.
    let missing: Vec<String> = manifest
        .components
        .iter()
        .filter(|(_, c)| c.build.is_some() && !manifest.source_path(c).is_file())
        .map(|(id, _)| id.clone())
        .collect();
    if !missing.is_empty() {
        build(manifest_path, &missing)?;
    }
    check_sources(&manifest)?;
    // Hot swap is what `dev` is for.
    config.watch = true;
    dev::spawn(&manifest)?;
    serve::up(config, manifest, listen)
}

fn up(config: HostConfig, manifest_path: &Path, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    check_sources(&manifest)?;
    serve::up(config, manifest, listen)
}

fn build(manifest_path: &Path, only: &[String]) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    for id in only {
        if !manifest.components.contains_key(id) {
            bail!("no component named `{id}` in {}", manifest.path.display());
        }
    }
    for (id, c) in &manifest.components {
        if !only.is_empty() && !only.contains(id) {
            continue;
        }
        let Some(build) = &c.build else {
            continue;
        };
        let workdir = manifest
            .base_dir
            .join(build.workdir.as_deref().unwrap_or(Path::new(".")));
        println!(
            "building component `{id}`: {} (in {})",
            build.command,
            workdir.display()
        );
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("component `{id}`: cannot run its build command"))?;
        if !status.success() {
            bail!(
                "component `{id}`: build command `{}` failed ({status})",
                build.command
            );
        }
    }
    if only.is_empty() {
        check_sources(&manifest)
    } else {
        // Only what was asked for: the others may not be built yet.
        only.iter().try_for_each(|id| check_source(&manifest, id))
    }
}

fn check(config: &CheckConfig, manifest_path: &Path) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    check_sources(&manifest)?;
    // The same engine settings as `up`, so artifacts it compiles into the
    // cache (e.g. at image build time) are the ones `up` will load.
    let options = config.engine.options(&config.data_dir);
    let runtime = Runtime::new(
        &options,
        Capabilities::new(serve::offline_services(Some(&manifest))?),
    )?;
    let mut failed = 0;
    for (id, c) in &manifest.components {
        let loaded = runtime
            .load(id, c, &manifest.source_path(c), None)
            .map_err(anyhow::Error::from)
            .and_then(|_| Ok(docs::read_fragment(&manifest, id)?));
        match loaded {
            Ok(_) => println!("ok: component `{id}`"),
            Err(e) => {
                failed += 1;
                println!("error: {e}");
            }
        }
    }
    println!(
        "{}: {} route(s), {} component(s), {failed} with errors",
        manifest.path.display(),
        manifest.routes.len(),
        manifest.components.len()
    );
    if failed > 0 {
        bail!("{failed} component(s) cannot run on this host");
    }
    Ok(())
}

fn bundle(config: &CheckConfig, manifest_path: &Path, out: &Path) -> anyhow::Result<()> {
    check(config, manifest_path)?;
    let manifest = Manifest::load(manifest_path)?;
    let file_name = manifest_path
        .file_name()
        .context("the manifest path names no file")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Copying a file onto itself would truncate it.
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if same(out, &manifest.base_dir) {
        bail!(
            "--out {} is the app's own directory: bundle into another one",
            out.display()
        );
    }
    // The bundle must work when moved, so every file lives under the manifest's directory.
    let inside = |what: &str, path: &Path| -> anyhow::Result<()> {
        let ok = path.is_relative()
            && path
                .components()
                .all(|part| matches!(part, std::path::Component::Normal(_)));
        if !ok {
            bail!(
                "{what}: `{}` must be a path inside the manifest's directory to be bundled",
                path.display()
            );
        }
        Ok(())
    };
    let mut files = vec![(PathBuf::from(file_name), manifest.path.clone())];
    for (id, c) in &manifest.components {
        for path in std::iter::once(&c.source).chain(&c.openapi) {
            inside(&format!("component `{id}`"), path)?;
        }
        files.push((c.source.clone(), manifest.source_path(c)));
        if let Some(openapi) = &c.openapi {
            files.push((openapi.clone(), manifest.base_dir.join(openapi)));
        }
    }
    for (name, db) in &manifest.databases {
        let Some(dir) = &db.migrations else {
            continue;
        };
        inside(&format!("database `{name}`"), dir)?;
        for backend in ["postgres", "sqlite"] {
            let from_dir = manifest.base_dir.join(dir).join(backend);
            let entries = std::fs::read_dir(&from_dir)
                .with_context(|| format!("database `{name}`: reading {}", from_dir.display()))?;
            for entry in entries {
                let entry = entry?;
                if entry.path().is_file() {
                    files.push((dir.join(backend).join(entry.file_name()), entry.path()));
                }
            }
        }
    }
    for (relative, from) in files {
        let to = out.join(&relative);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        println!("bundled {}", relative.display());
    }
    Ok(())
}

fn healthcheck(addr: Option<SocketAddr>, port: u16) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], port)));
    let timeout = std::time::Duration::from_secs(3);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line.split_whitespace().nth(1).unwrap_or("?").to_string();
    if status != "200" {
        bail!("{addr}/health answered {status}");
    }
    println!("healthy");
    Ok(())
}

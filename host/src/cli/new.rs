//! `spaceport new NAME --lang rust|python|js [--kind http|tool]`: scaffold a
//! component that builds, passes its generated tests and is wired into the
//! manifest (a route for `http`, an agent's tool grant for `tool`). Nothing
//! that exists is overwritten.

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use toml_edit::{Array, DocumentMut, Item, Table, value};

/// The component's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// What the component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Answers HTTP requests on `/api/NAME` (and below).
    Http,
    /// Offers a tool to the app's agents (no HTTP handler).
    Tool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The component's id: lower-case letters, digits and `-`.
    pub name: String,
    #[arg(long, value_enum)]
    pub lang: Lang,
    #[arg(long, value_enum, default_value = "tool")]
    pub kind: Kind,
    #[arg(long, default_value = "spin-like.toml")]
    pub manifest: PathBuf,
}

/// One file of a template: its path under the component's folder, its text.
type File = (&'static str, &'static str);

/// The files of a new component: its code for the language and kind, and
/// test cases for the kind (language-neutral, so one set serves all three).
fn template(lang: Lang, kind: Kind) -> Vec<File> {
    let code: &[File] = match (lang, kind) {
        (Lang::Rust, Kind::Tool) => &[
            ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
            ("src/lib.rs", include_str!("templates/rust/tool.rs")),
        ],
        (Lang::Rust, Kind::Http) => &[
            ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
            ("src/lib.rs", include_str!("templates/rust/http.rs")),
        ],
        (Lang::Python, Kind::Tool) => &[("app.py", include_str!("templates/python/tool.py"))],
        (Lang::Python, Kind::Http) => &[("app.py", include_str!("templates/python/http.py"))],
        (Lang::Js, Kind::Tool) => &[("app.js", include_str!("templates/js/tool.js"))],
        (Lang::Js, Kind::Http) => &[("app.js", include_str!("templates/js/http.js"))],
    };
    let tests = match kind {
        Kind::Tool => include_str!("templates/tool-tests.toml"),
        Kind::Http => include_str!("templates/http-tests.toml"),
    };
    let mut files = code.to_vec();
    files.push(("tests/{name}.toml", tests));
    files
}

/// Names as each place spells them.
struct Names {
    /// `word-count`: the component id and folder.
    id: String,
    /// `word_count`: the Rust crate's library and the tool's name.
    snake: String,
}

impl Names {
    fn fill(&self, text: &str) -> String {
        text.replace("{name}", &self.id)
            .replace("{snake}", &self.snake)
    }
}

pub fn run(args: &NewArgs) -> anyhow::Result<()> {
    let name = &args.name;
    let valid = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "`{name}`: a component name is lower-case letters, digits and `-`, starting with a letter (e.g. `word-count`)"
        );
    }
    let names = Names {
        id: name.clone(),
        snake: name.replace('-', "_"),
    };
    let manifest_text = std::fs::read_to_string(&args.manifest)
        .with_context(|| format!("reading {}", args.manifest.display()))?;
    let mut manifest: DocumentMut = manifest_text
        .parse()
        .with_context(|| format!("{} is not valid TOML", args.manifest.display()))?;
    if manifest
        .get("component")
        .and_then(|c| c.get(name.as_str()))
        .is_some()
    {
        bail!(
            "{} already has a component `{name}`: nothing was changed",
            args.manifest.display()
        );
    }
    let base = args
        .manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let components = base.join("components");
    let dir = components.join(name);
    if dir.exists() {
        bail!("{} already exists: nothing was changed", dir.display());
    }

    // Everything is checked: now write.
    for (path, text) in template(args.lang, args.kind) {
        let path = dir.join(names.fill(path));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, names.fill(text))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.lang == Lang::Rust {
        add_workspace_member(&components.join("Cargo.toml"), name)?;
    }
    let grants = add_to_manifest(&mut manifest, &names, args.lang, args.kind);
    std::fs::write(&args.manifest, manifest.to_string())
        .with_context(|| format!("writing {}", args.manifest.display()))?;

    println!(
        "created {} ({:?} {:?} component)",
        dir.display(),
        args.lang,
        args.kind
    );
    match args.kind {
        Kind::Http => println!(
            "routed /api/{name} and /api/{name}/... to it in {}",
            args.manifest.display()
        ),
        Kind::Tool if grants.is_empty() => println!(
            "no agent in {} calls tools yet: grant it with `tools = [\"{name}\"]`; it is also callable at POST /api/{{user_id}}/tools/{}",
            args.manifest.display(),
            names.snake
        ),
        Kind::Tool => println!("granted its tool to {}", grants.join(", ")),
    }
    println!("next: spaceport build {name} && spaceport test {name} && spaceport dev");
    Ok(())
}

/// Add `name` to the components workspace's members.
fn add_workspace_member(cargo_toml: &Path, name: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(cargo_toml).with_context(|| {
        format!(
            "reading {} (Rust components live in that workspace)",
            cargo_toml.display()
        )
    })?;
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", cargo_toml.display()))?;
    let members = doc["workspace"]["members"]
        .as_array_mut()
        .with_context(|| format!("{}: no [workspace] members array", cargo_toml.display()))?;
    if !members.iter().any(|m| m.as_str() == Some(name)) {
        members.push(name);
    }
    std::fs::write(cargo_toml, doc.to_string())
        .with_context(|| format!("writing {}", cargo_toml.display()))
}

/// The component's manifest entry, its route or its tool grants; returns the
/// agents that were granted its tools.
fn add_to_manifest(doc: &mut DocumentMut, names: &Names, lang: Lang, kind: Kind) -> Vec<String> {
    let id = names.id.as_str();
    let (source, command, workdir, watch): (String, String, String, Vec<String>) = match lang {
        Lang::Rust => (
            format!(
                "components/target/wasm32-wasip2/release/{}.wasm",
                names.snake
            ),
            format!("cargo build --release -p {id}"),
            "components".into(),
            vec![format!("{id}/src"), "sdk/src".into()],
        ),
        Lang::Python => (
            format!("components/target/python/{}.wasm", names.snake),
            format!(
                "../../scripts/componentize.sh python {} app ../target/python/{}.wasm",
                world(kind),
                names.snake
            ),
            format!("components/{id}"),
            vec![".".into(), "../sdk-python/spaceport".into()],
        ),
        Lang::Js => (
            format!("components/target/js/{}.wasm", names.snake),
            format!(
                "../../scripts/componentize.sh js {} app.js ../target/js/{}.wasm",
                world(kind),
                names.snake
            ),
            format!("components/{id}"),
            vec![".".into(), "../sdk-js".into()],
        ),
    };
    let mut component = Table::new();
    component["source"] = value(source);
    component["description"] = value(match kind {
        Kind::Tool => format!("{id}: a tool for the app's agents"),
        Kind::Http => format!("{id}: answers /api/{id}"),
    });
    component["context"] = value(true);
    if kind == Kind::Tool {
        // Callable over HTTP too, so `curl` can try it before an agent does.
        component["http_tools"] = value(true);
    }
    component["tests"] = value(format!("components/{id}/tests"));
    let mut limits = Table::new();
    limits["timeout_ms"] = value(10_000);
    // Python and JS components carry an interpreter (a fresh instance of
    // either holds 10-14 MiB): give them room.
    limits["memory_mb"] = value(if lang == Lang::Rust { 32 } else { 64 });
    component["limits"] = Item::Table(limits);
    let mut build = Table::new();
    build["command"] = value(command);
    build["workdir"] = value(workdir);
    build["watch"] = value(watch.iter().map(String::as_str).collect::<Array>());
    component["build"] = Item::Table(build);

    let mut granted = Vec::new();
    match kind {
        Kind::Http => {
            let triggers = doc
                .entry("trigger")
                .or_insert(Item::Table(Table::new()))
                .as_table_mut()
                .and_then(|t| {
                    t.entry("http")
                        .or_insert(Item::ArrayOfTables(Default::default()))
                        .as_array_of_tables_mut()
                });
            if let Some(triggers) = triggers {
                for route in [format!("/api/{id}"), format!("/api/{id}/...")] {
                    let mut t = Table::new();
                    t["route"] = value(route);
                    t["component"] = value(id);
                    t["auth"] = value("optional");
                    triggers.push(t);
                }
            }
        }
        Kind::Tool => {
            if let Some(components) = doc.get_mut("component").and_then(Item::as_table_like_mut) {
                for (agent, entry) in components.iter_mut() {
                    let Some(tools) = entry.get_mut("tools").and_then(Item::as_array_mut) else {
                        continue;
                    };
                    if !tools.is_empty() && !tools.iter().any(|t| t.as_str() == Some(id)) {
                        tools.push(id);
                        granted.push(agent.to_string());
                    }
                }
            }
        }
    }
    let components = doc.entry("component").or_insert(Item::Table(Table::new()));
    if let Some(components) = components.as_table_mut() {
        components.set_implicit(true);
        components.insert(id, Item::Table(component));
    }
    granted
}

fn world(kind: Kind) -> &'static str {
    match kind {
        Kind::Http => "http-component",
        Kind::Tool => "tool-only",
    }
}

//! The host's layering rule, checked on its source: a module imports only
//! from its own layer or a layer below it, and the module graph has no cycle.
//!
//! Layers are the folders of `host/src`, lowest first (see `lib.rs`). A node
//! of the graph is a layer's module (`sandbox::runtime`, `app::registry`, or
//! the layer's own `mod.rs`); a folder module's children belong to it, since a
//! parent and its children share types both ways by design (the capability
//! list and each capability's state). `#[cfg(test)]` modules are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first.
const LAYERS: &[&str] = &[
    "services", "manifest", "sandbox", "kit", "app", "http", "cli",
];

/// One source file: its module path (`["sandbox", "capabilities", "sql"]`) and text.
struct Source {
    module: Vec<String>,
    text: String,
}

fn read_sources(root: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under src");
                let mut module: Vec<String> = rel
                    .iter()
                    .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                    .collect();
                if module
                    .last()
                    .is_some_and(|m| m == "mod" || m == "lib" || m == "main")
                {
                    module.pop();
                }
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push(Source { module, text });
            }
        }
    }
    out
}

/// The text without comments and without `#[cfg(test)]` items.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<usize> = None;
    let mut depth = 0usize;
    let mut pending_test = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            pending_test = true;
            continue;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        if pending_test && skip_depth.is_none() {
            skip_depth = Some(depth);
            pending_test = false;
        }
        depth = (depth + opens).saturating_sub(closes);
        if let Some(d) = skip_depth {
            if depth <= d && (opens > 0 || closes > 0 || trimmed.ends_with(';')) {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn ident_at(s: &str) -> Option<(&str, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| (&s[..end], &s[end..]))
}

/// The first identifiers after `prefix::` (one, or each item of a `{…}` group).
fn heads(rest: &str) -> Vec<String> {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 1;
        let mut items = Vec::new();
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        items.push(&group[start..i]);
                        break;
                    }
                }
                ',' if depth == 1 => {
                    items.push(&group[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items
            .into_iter()
            .filter_map(|item| ident_at(item.trim()).map(|(id, _)| id.to_string()))
            .collect()
    } else {
        ident_at(rest)
            .map(|(id, _)| vec![id.to_string()])
            .unwrap_or_default()
    }
}

/// Every module path (`crate::a::b…`, `super::…`) a source refers to,
/// resolved to absolute segments.
fn references(source: &Source, code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        // `spaceport_crate::` or `$crate::` are not ours.
        if at > 0
            && code[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        let Some((first, after)) = ident_at(rest) else {
            continue;
        };
        let seconds = after.strip_prefix("::").map(heads).unwrap_or_default();
        if seconds.is_empty() {
            out.push(vec![first.to_string()]);
        }
        for second in seconds {
            out.push(vec![first.to_string(), second]);
        }
    }
    for (at, _) in code.match_indices("super::") {
        if at > 0 && code[..at].ends_with("super::") {
            continue; // counted from the first `super::` of a chain
        }
        let mut base = source.module.clone();
        let mut rest = &code[at..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        for head in heads(rest) {
            let mut path = base.clone();
            path.push(head);
            out.push(path);
        }
    }
    out
}

/// The graph node of a module path: `layer` or `layer::module` when that
/// module exists (its file or folder), else the layer itself.
fn node(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<String> {
    let layer = path.first()?;
    if !LAYERS.contains(&layer.as_str()) {
        return None;
    }
    match path.get(1) {
        Some(m) if modules.contains(&vec![layer.clone(), m.clone()]) => {
            Some(format!("{layer}::{m}"))
        }
        _ => Some(layer.clone()),
    }
}

fn layer_of(node: &str) -> usize {
    let layer = node.split("::").next().unwrap_or(node);
    LAYERS
        .iter()
        .position(|l| *l == layer)
        .unwrap_or(LAYERS.len())
}

/// Upward imports and cycles, as readable lines (empty when the rule holds).
fn violations(sources: &[Source]) -> Vec<String> {
    let modules: BTreeSet<Vec<String>> = sources
        .iter()
        .flat_map(|s| (1..=s.module.len()).map(|n| s.module[..n].to_vec()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for source in sources {
        let Some(from) = node(&source.module, &modules) else {
            continue; // lib.rs and main.rs sit above every layer
        };
        let text = code(&source.text);
        for reference in references(source, &text) {
            let Some(to) = node(&reference, &modules) else {
                continue;
            };
            if to == from {
                continue;
            }
            if layer_of(&to) > layer_of(&from) {
                problems.push(format!(
                    "{} (layer `{}`) imports {} from the higher layer `{}`",
                    source.module.join("::"),
                    LAYERS[layer_of(&from)],
                    reference.join("::"),
                    LAYERS[layer_of(&to)]
                ));
            }
            edges.entry(from.clone()).or_default().insert(to);
        }
    }
    // Cycles: depth-first search with colours.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        problems: &mut Vec<String>,
    ) {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                0 => visit(m, edges, state, stack, problems),
                1 => {
                    let start = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    problems.push(format!("module cycle: {}", cycle.join(" -> ")));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            visit(n, &edges, &mut state, &mut Vec::new(), &mut problems);
        }
    }
    problems
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_module_imports_only_its_layer_or_below_and_nothing_cycles() {
    let sources = read_sources(&src_dir());
    assert!(
        sources.len() > 20,
        "expected the host's sources, found {}",
        sources.len()
    );
    let problems = violations(&sources);
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_folder_of_src_is_a_known_layer() {
    for entry in std::fs::read_dir(src_dir()).expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            assert!(
                LAYERS.contains(&name.as_str()),
                "host/src/{name} is not one of the layers {LAYERS:?}: add it to LAYERS (and lib.rs's map) in order"
            );
        }
    }
}

fn source(module: &str, text: &str) -> Source {
    Source {
        module: module.split("::").map(str::to_string).collect(),
        text: text.to_string(),
    }
}

#[test]
fn the_check_catches_an_upward_import_and_a_cycle() {
    let sources = vec![
        source("services", "pub mod db;"),
        source("services::db", "use crate::http::response::json;"),
        source("http", "pub mod response;"),
        source("http::response", "use crate::services::db::Database;"),
        source("app", "pub mod a; pub mod b;"),
        source("app::a", "use super::b::B;"),
        source("app::b", "use crate::app::{a::A, snapshot};"),
        source(
            "sandbox::tools",
            "#[cfg(test)]\nmod tests {\n    use crate::cli::x;\n}\n",
        ),
        source("sandbox", "// use crate::http::server;\npub mod tools;"),
    ];
    let problems = violations(&sources);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("services::db") && p.contains("higher layer `http`")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("module cycle") && p.contains("app::a")),
        "{problems:?}"
    );
    // Test modules and comments do not count.
    assert!(
        !problems
            .iter()
            .any(|p| p.contains("cli") || p.contains("sandbox")),
        "{problems:?}"
    );
}

//! `spaceport test` with vector collections: `vectors.<name>` fixtures a case
//! starts with (fresh per case), and `expect.vectors` on what the component
//! left behind; ungranted collections and wrong expectations are reported.

mod common;
use common::wasm;

fn project(cases: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spin-like.toml"),
        format!(
            r#"spaceport_manifest_version = 1
[application]
name = "kit-vectors"

[[trigger.http]]
route = "/fault/..."
component = "fault"

[component.fault]
source = "{}"
vectors = ["docs"]
tests = "tests"
"#,
            wasm("fault").display()
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(dir.path().join("tests/vectors.toml"), cases).unwrap();
    dir
}

fn spaceport_test(dir: &tempfile::TempDir) -> (bool, String) {
    let out = common::command()
        .current_dir(dir.path())
        .args(["test", "fault"])
        .output()
        .expect("run spaceport test");
    (out.status.success(), common::output_text(&out))
}

const CASES: &str = r#"
component = "fault"

[defaults.vectors.docs]
dimension = 3
points = [
  { id = "a", vector = [1, 0, 0], payload = { user = "u1" } },
  { id = "b", vector = [0, 1, 0], payload = { user = "u2" } },
]

[[case]]
name = "search sees the fixture"
request = { method = "POST", path = "/fault/vectors", json = { op = "search", vector = [1, 0.1, 0], top_k = 1 } }
expect.json = { ok = [{ id = "a", payload = { user = "u1" } }] }

[[case]]
name = "an upsert shows in expect.vectors"
request = { method = "POST", path = "/fault/vectors", json = { op = "upsert", points = [{ id = "c", vector = [0, 0, 1], payload = {} }] } }
expect.json = { ok = 1 }
expect.vectors = [{ collection = "docs", count = 3, ids = ["c", "b", "a"] }]

[[case]]
name = "every case starts from the fixture again"
request = { method = "POST", path = "/fault/vectors", json = { op = "count" } }
expect.json = { ok = 2 }

[[case]]
name = "a case may add its own points"
vectors.docs = { dimension = 3, points = [{ id = "z", vector = [1, 1, 0] }] }
request = { method = "POST", path = "/fault/vectors", json = { op = "count" } }
expect.json = { ok = 3 }
"#;

#[test]
fn fixtures_and_expectations_on_vector_collections() {
    let dir = project(CASES);
    let (ok, out) = spaceport_test(&dir);
    assert!(ok, "{out}");
    assert!(out.contains("4 passed, 0 failed"), "{out}");
}

#[test]
fn wrong_expectations_and_ungranted_fixtures_fail_clearly() {
    let dir = project(
        r#"
component = "fault"

[[case]]
name = "wrong ids"
vectors.docs = { dimension = 2, points = [{ id = "a", vector = [1, 0] }] }
request = { method = "POST", path = "/fault/vectors", json = { op = "count" } }
expect.vectors = [{ collection = "docs", ids = ["a", "b"] }]

[[case]]
name = "not granted"
vectors.secrets = { dimension = 2 }
request = { method = "POST", path = "/fault/vectors", json = { op = "count" } }
"#,
    );
    let (ok, out) = spaceport_test(&dir);
    assert!(!ok, "{out}");
    assert!(out.contains("0 passed, 2 failed"), "{out}");
    assert!(out.contains(r#"expected ids: ["a", "b"]"#), "{out}");
    assert!(
        out.contains("`vectors.secrets`: component `fault` is not granted a collection `secrets`"),
        "{out}"
    );
}

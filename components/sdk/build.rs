// The bindings are generated from `wit/` by a proc macro, and cargo does not
// see the .wit files it reads: without this, editing the WIT would not
// rebuild the SDK.
fn main() {
    println!("cargo:rerun-if-changed=../../wit");
}

// mimalloc: the request path allocates and frees many small objects across two
// worker threads, where glibc's malloc spends measurable time in arena locks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    spaceport::cli::main()
}

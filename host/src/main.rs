// mimalloc: the request path allocates and frees many small objects across two
// worker threads, where glibc's malloc spends measurable time in arena locks.
#[cfg(not(feature = "dhat-heap"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Heap profiling build: every allocation's call site is recorded and the
// profile (what was live at the peak, by site) is written to dhat-heap.json
// when the host exits.
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static GLOBAL: dhat::Alloc = dhat::Alloc;

fn main() -> std::process::ExitCode {
    #[cfg(feature = "dhat-heap")]
    let _profiler = dhat::Profiler::builder()
        .trim_backtraces(Some(32))
        .file_name(std::env::var("SPACEPORT_DHAT_OUT").unwrap_or_else(|_| "dhat-heap.json".into()))
        .build();
    spaceport::cli::main()
}

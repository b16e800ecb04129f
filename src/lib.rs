//! letta-find-tools: the `find_tools` call of the Letta tool selector as an in-process, pooled,
//! async native call. The modules here are napi-free and unit-tested with `cargo test`; the
//! `#[napi]` layer is `napi/`, whose doc comments become `index.d.ts`.

// Every unsafe block states the invariant it relies on (`// SAFETY:`).
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod args;
pub mod client;
pub mod config;
pub mod http;
pub mod log;
pub mod lookup;
pub mod outcome;
pub mod pyjson;
pub mod stats;

// The napi layer lives in `napi/`; a module named `napi` would shadow the napi crate for the
// paths napi-derive's macros expand to. Public like the surface it holds, which only JS calls.
#[path = "napi/mod.rs"]
pub mod binding;

use std::sync::Once;

// Every call allocates a few dozen small buffers (request, response, the re-spelled line), many
// freed on another thread than the one that made them; against the system allocator mimalloc
// took 4–6 µs of CPU off a sequential call here, of about 80 (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Worker threads of the process-wide runtime. One drives thousands of sockets and is the
/// quickest for a sequential caller, the usual MCP pattern; a second one buys throughput under
/// sustained concurrent load (see BENCHMARKS.md).
const WORKER_THREADS_VARIABLE: &str = "FIND_TOOLS_WORKER_THREADS";

#[napi_derive::module_init]
fn init() {
    // Every worker_thread that loads the addon runs this; the runtime is built once.
    static RUNTIME: Once = Once::new();
    RUNTIME.call_once(|| {
        let workers = std::env::var(WORKER_THREADS_VARIABLE)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| (1..=64).contains(n))
            .unwrap_or(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("letta-find-tools")
            .enable_all()
            .build()
            .expect("the tokio runtime could not start");
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    });
}

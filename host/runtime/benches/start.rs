//! Component start cost: compiling a builtin the first time (and caching it on disk),
//! loading it from that cache in a fresh process-wide runtime, and instantiating the
//! cached, already-compiled component for a step. Prints a table.
//!
//!     cargo bench -p kiln-runtime --bench start

use std::time::{Duration, Instant};

use kiln_runtime::{Runtime, StepRequest, World};

const INSTANTIATIONS: usize = 2000;

fn request() -> StepRequest {
    StepRequest::new("{}")
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cache = tempfile::tempdir().expect("temporary cache directory");
    let components = [
        (
            "shell",
            World::Provisioner,
            kiln_builtins::component("shell"),
        ),
        ("file", World::Provisioner, kiln_builtins::component("file")),
        (
            "checksum",
            World::PostProcessor,
            kiln_builtins::post_processor("checksum"),
        ),
    ];
    println!("| component | size | first compile (cached to disk) | load from disk cache | instantiate, median | p99 |");
    println!("|---|---|---|---|---|---|");
    for (name, world, wasm) in components {
        let wasm = wasm.expect("embedded builtin");
        let first = Runtime::new(Some(cache.path().to_owned())).expect("runtime");
        let t = Instant::now();
        first.prepare(name, wasm, world).expect("compile");
        let compile = t.elapsed();

        // A new runtime, as the next `kiln build` would have: the compiled form comes
        // from the disk cache.
        let next = Runtime::new(Some(cache.path().to_owned())).expect("runtime");
        let t = Instant::now();
        let prepared = next.prepare(name, wasm, world).expect("load");
        let load = t.elapsed();

        let req = request();
        for _ in 0..50 {
            next.instantiate_only(&prepared, &req)
                .await
                .expect("instantiate");
        }
        let mut times = Vec::with_capacity(INSTANTIATIONS);
        for _ in 0..INSTANTIATIONS {
            let t = Instant::now();
            next.instantiate_only(&prepared, &req)
                .await
                .expect("instantiate");
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "| {name} | {} KiB | {} | {} | {} | {} |",
            wasm.len() / 1024,
            ms(compile),
            ms(load),
            ms(times[times.len() / 2]),
            ms(times[times.len() * 99 / 100]),
        );
    }
}

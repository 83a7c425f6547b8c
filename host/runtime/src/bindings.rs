//! The one place host bindings are generated from `wit/`.

/// Bindings for the `provisioner` world.
pub mod provisioner {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "provisioner",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "kiln:plugin/communicator.process": crate::host::ProcessHandle },
    });
}

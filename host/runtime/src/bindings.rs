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

/// Bindings for the `post-processor` world. The interfaces it shares with the
/// provisioner world are the provisioner bindings' own, so one host implementation
/// serves both.
pub mod post_processor {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "post-processor",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "kiln:plugin/types": crate::bindings::provisioner::kiln::plugin::types,
            "kiln:plugin/ui": crate::bindings::provisioner::kiln::plugin::ui,
            "kiln:plugin/host-files": crate::bindings::provisioner::kiln::plugin::host_files,
            "kiln:plugin/communicator": crate::bindings::provisioner::kiln::plugin::communicator,
            "kiln:plugin/host-exec": crate::bindings::provisioner::kiln::plugin::host_exec,
        },
    });
}

//! The one place host bindings are generated from `wit/`.

/// Bindings for the `provisioner` world. An import whose result carries the WIT
/// `error` returns `Result<_, HostError>` (`trappable_error_type`), which
/// `types::Host::convert_error` turns into that `error` or a trap.
pub mod provisioner {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "provisioner",
        imports: { default: async | trappable },
        exports: { default: async },
        trappable_error_type: { "kiln:plugin/types.error" => crate::host::HostError },
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
        trappable_error_type: { "kiln:plugin/types.error" => crate::host::HostError },
        with: {
            "kiln:plugin/types": crate::bindings::provisioner::kiln::plugin::types,
            "kiln:plugin/ui": crate::bindings::provisioner::kiln::plugin::ui,
            "kiln:plugin/host-files": crate::bindings::provisioner::kiln::plugin::host_files,
            "kiln:plugin/communicator": crate::bindings::provisioner::kiln::plugin::communicator,
            "kiln:plugin/host-exec": crate::bindings::provisioner::kiln::plugin::host_exec,
        },
    });
}

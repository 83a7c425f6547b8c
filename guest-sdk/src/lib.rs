//! The crate Kiln component authors depend on.
//!
//! A provisioner is a type implementing [`Provisioner`], exported with
//! [`provisioner!`](crate::provisioner!). Its configuration arrives as the JSON form of
//! the template's block and is deserialized with serde into the type the author
//! chooses; unknown or mistyped attributes become errors that `kiln validate` points at
//! in the template.
//!
//! ```ignore
//! use kiln_guest_sdk::{BuildInfo, Provisioner};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { message: String }
//!
//! struct Hello;
//! impl Provisioner for Hello {
//!     type Config = Config;
//!     fn provision(config: Config, _build: &BuildInfo) -> Result<(), String> {
//!         kiln_guest_sdk::remote::run_checked(&format!("echo {}", config.message), &[0])?;
//!         Ok(())
//!     }
//! }
//! kiln_guest_sdk::provisioner!(Hello);
//! ```
//!
//! The component reaches the machine only through [`remote`], the host's files only
//! through the paths its step was granted ([`remote::upload_file`], [`host::kind`]), and
//! the person running the build through [`ui`].
//!
//! # What the sandbox gives by default
//!
//! - **Random numbers are predictable.** Unless the template grants `random = "host"`,
//!   WASI's random (what `getrandom`, `rand::thread_rng` and `std`'s hash seeds use, even
//!   the "secure" one) is a generator seeded from the build's clock, so that builds are
//!   reproducible. Never make a password, a key or a token with it: declare
//!   `"random": "host"` in [`declare_grants!`] so that Kiln refuses to run the component
//!   where the template does not grant it.
//! - **The clock is fixed** to `SOURCE_DATE_EPOCH` (else the build's start) unless
//!   `clock = "host"` is granted.
//! - **Each call is bounded**: by the step's memory (default 256 MiB) and its computing
//!   time (`limits { cpu = ... }`, default 1 minute per call of `validate`, `provision`
//!   or `post-process`; time spent waiting in host calls does not count), by its
//!   `timeout`, and by the output it may print. Text the component prints or returns is
//!   shown with its control characters escaped.
#![deny(missing_docs)]

#[cfg(all(feature = "provisioner", feature = "post-processor"))]
compile_error!("enable exactly one of the features `provisioner` and `post-processor`");

/// Bindings generated from the `provisioner` world of `wit/`.
#[cfg(feature = "provisioner")]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "provisioner",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export_provisioner",
        default_bindings_module: "kiln_guest_sdk::bindings",
    });
}

/// Bindings generated from the `post-processor` world of `wit/`.
#[cfg(feature = "post-processor")]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "post-processor",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export_post_processor",
        default_bindings_module: "kiln_guest_sdk::bindings",
    });
}

mod config;
pub use config::{config_errors_to_string, parse_config};

pub use bindings::kiln::plugin::types::{
    Artifact, ArtifactFile, BuildInfo, ConfigError, ConnectionInfo, Error, ErrorKind,
};

#[cfg(feature = "provisioner")]
pub mod remote;

#[cfg(feature = "post-processor")]
pub mod artifacts;

#[cfg(feature = "post-processor")]
pub use bindings::kiln::plugin::types::PostProcessResult;

pub mod host;
pub mod ui;

/// Declares the grants the component needs, as JSON in its `kiln:grants` custom
/// section; Kiln runs the component only where the template grants all of it, and
/// otherwise says exactly what is missing.
///
/// ```ignore
/// kiln_guest_sdk::declare_grants!(br#"{"env": ["HTTP_PROXY"], "network": ["mirror.example:443"]}"#);
/// ```
///
/// Keys: `read`, `write` (host paths, relative to the template's directory), `env`,
/// `network` (`host:port`, `host:*`), `exec_host` (bool), `clock`, `random`
/// (`"host"`).
#[macro_export]
macro_rules! declare_grants {
    ($json:literal) => {
        #[used]
        #[link_section = "kiln:grants"]
        static __KILN_GRANTS: [u8; $json.len()] = *$json;
    };
}

/// A provisioning step.
#[cfg(feature = "provisioner")]
pub trait Provisioner {
    /// The step's configuration, deserialized from the template block.
    type Config: serde::de::DeserializeOwned;

    /// Checks the configuration beyond what deserializing it checks. The default
    /// accepts everything that deserializes.
    fn validate(_config: &Self::Config) -> Result<(), Vec<ConfigError>> {
        Ok(())
    }

    /// Provisions the machine. An `Err` fails the step with that message.
    fn provision(config: Self::Config, build: &BuildInfo) -> Result<(), String>;
}

/// Exports a type implementing [`Provisioner`] as the component's `provisioner` world.
#[cfg(feature = "provisioner")]
#[macro_export]
macro_rules! provisioner {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __KilnProvisionerExport;

        impl $crate::bindings::Guest for __KilnProvisionerExport {
            fn validate(config: String) -> Result<(), Vec<$crate::ConfigError>> {
                let parsed: <$ty as $crate::Provisioner>::Config = $crate::parse_config(&config)?;
                <$ty as $crate::Provisioner>::validate(&parsed)
            }

            fn provision(config: String, build: $crate::BuildInfo) -> Result<(), String> {
                let parsed: <$ty as $crate::Provisioner>::Config = $crate::parse_config(&config)
                    .map_err(|e| $crate::config_errors_to_string(&e))?;
                <$ty as $crate::Provisioner>::validate(&parsed)
                    .map_err(|e| $crate::config_errors_to_string(&e))?;
                <$ty as $crate::Provisioner>::provision(parsed, &build)
            }
        }

        $crate::bindings::export_provisioner!(__KilnProvisionerExport);
    };
}

/// A post-processing step.
#[cfg(feature = "post-processor")]
pub trait PostProcessor {
    /// The step's configuration, deserialized from the template block.
    type Config: serde::de::DeserializeOwned;

    /// Checks the configuration beyond what deserializing it checks.
    fn validate(_config: &Self::Config) -> Result<(), Vec<ConfigError>> {
        Ok(())
    }

    /// Turns `input` into a new artifact.
    fn post_process(
        config: Self::Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<bindings::kiln::plugin::types::PostProcessResult, String>;
}

/// Exports a type implementing [`PostProcessor`] as the component's `post-processor` world.
#[cfg(feature = "post-processor")]
#[macro_export]
macro_rules! post_processor {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __KilnPostProcessorExport;

        impl $crate::bindings::Guest for __KilnPostProcessorExport {
            fn validate(config: String) -> Result<(), Vec<$crate::ConfigError>> {
                let parsed: <$ty as $crate::PostProcessor>::Config = $crate::parse_config(&config)?;
                <$ty as $crate::PostProcessor>::validate(&parsed)
            }

            fn post_process(
                config: String,
                build: $crate::BuildInfo,
                input: $crate::Artifact,
            ) -> Result<$crate::bindings::kiln::plugin::types::PostProcessResult, String> {
                let parsed: <$ty as $crate::PostProcessor>::Config = $crate::parse_config(&config)
                    .map_err(|e| $crate::config_errors_to_string(&e))?;
                <$ty as $crate::PostProcessor>::post_process(parsed, &build, input)
            }
        }

        $crate::bindings::export_post_processor!(__KilnPostProcessorExport);
    };
}

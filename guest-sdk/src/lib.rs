//! The crate Kiln component authors depend on.
//!
//! A provisioner is a type implementing [`Provisioner`], exported with
//! [`provisioner!`](crate::provisioner!). Its configuration arrives as the JSON form of
//! the template's block and is deserialized with serde into the type the author
//! chooses; unknown or mistyped attributes become errors that `kiln validate` points at
//! in the template.
//!
//! ```ignore
//! use kiln_guest_sdk::{BuildInfo, Provisioner, Step};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { message: String }
//!
//! struct Hello;
//! impl Step for Hello {
//!     type Config = Config;
//! }
//! impl Provisioner for Hello {
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

/// Bindings generated from the `plugin` world of `wit/`: every import and both kinds of
/// step. A component implements one kind or both (see [`provisioner!`],
/// [`post_processor!`], [`plugin!`]); the kind it leaves out answers that it is not one.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "kiln_guest_sdk::bindings",
    });
}

mod config;
pub use config::{config_errors_to_string, parse_config};

pub use bindings::kiln::plugin::types::{
    Artifact, ArtifactFile, BuildInfo, ConfigError, ConfigErrorKind, ConnectionInfo, Error,
    ErrorKind, GrantRequest, PostProcessResult, StepKind, TypeMismatch,
};

pub mod artifacts;
/// Packer's durations (`"30s"`, `"5m"`, or seconds) and a serde helper for them.
pub use kiln_decode::duration;
pub mod exec;
pub mod host;
pub mod images;
pub mod remote;
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
/// (`"host"`). What a component needs depending on its configuration it says in
/// [`Provisioner::needs`] or [`PostProcessor::needs`] instead.
#[macro_export]
macro_rules! declare_grants {
    ($json:literal) => {
        #[used]
        #[link_section = "kiln:grants"]
        static __KILN_GRANTS: [u8; $json.len()] = *$json;
    };
}

impl ConfigError {
    /// A problem with the attribute `field`, in `message`'s words.
    pub fn on(field: &str, message: impl Into<String>) -> Self {
        ConfigError {
            field: Some(field.to_owned()),
            kind: ConfigErrorKind::Invalid,
            message: message.into(),
        }
    }

    /// A problem with the block as a whole (several attributes together).
    pub fn block(message: impl Into<String>) -> Self {
        ConfigError {
            field: None,
            kind: ConfigErrorKind::Invalid,
            message: message.into(),
        }
    }
}

/// `Ok(())` when `errors` is empty, else `Err(errors)`: the end of a `validate`.
pub fn errors_or_ok(errors: Vec<ConfigError>) -> Result<(), Vec<ConfigError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A grant request for nothing: the default of `needs`.
pub fn needs_nothing() -> GrantRequest {
    GrantRequest {
        read: vec![],
        write: vec![],
        env: vec![],
        network: vec![],
        exec_host: false,
        clock: false,
        random: false,
    }
}

/// Paths a step asks to read: [`needs_nothing`] with `read` set.
pub fn needs_read<S: Into<String>>(paths: impl IntoIterator<Item = S>) -> GrantRequest {
    GrantRequest {
        read: paths.into_iter().map(Into::into).collect(),
        ..needs_nothing()
    }
}

/// Paths a step asks to write: [`needs_nothing`] with `write` set.
pub fn needs_write<S: Into<String>>(paths: impl IntoIterator<Item = S>) -> GrantRequest {
    GrantRequest {
        write: paths.into_iter().map(Into::into).collect(),
        ..needs_nothing()
    }
}

/// Where a step writing `output` needs to write when the name is only known while the
/// step runs: the name itself when it holds no `{{`, else the directory its fixed part
/// names (`out/{{.BuildName}}.tar` needs `out/`; `{{.BuildName}}.tar` needs `.`, the
/// template's directory).
pub fn output_location(output: &str) -> String {
    match output.find("{{") {
        None => output.to_owned(),
        Some(at) => match output[..at].rfind('/') {
            Some(slash) => output[..=slash].to_owned(),
            None => ".".to_owned(),
        },
    }
}

/// What a step that writes one output (`output`, else `default`, both perhaps naming
/// build values) needs: to write where [`output_location`] says.
pub fn needs_output(output: Option<&str>, default: &str) -> GrantRequest {
    needs_write([output_location(output.unwrap_or(default))])
}

/// What every step has: its configuration, how it is checked, and what it needs of the
/// host. A type that is both a provisioner and a post-processor has one of each.
pub trait Step {
    /// The step's configuration, deserialized from the template block.
    type Config: serde::de::DeserializeOwned;

    /// Checks the configuration beyond what deserializing it checks. The default
    /// accepts everything that deserializes.
    fn validate(_config: &Self::Config) -> Result<(), Vec<ConfigError>> {
        Ok(())
    }

    /// What the step needs of the host with this configuration (files to read or write,
    /// host commands, ...), beyond the machine's communicator, the UI and, for a
    /// post-processor, its input artifact. Kiln's builtins are granted the paths they
    /// ask for; any other component runs only where the template grants at least this.
    /// By default nothing.
    fn needs(_config: &Self::Config) -> GrantRequest {
        needs_nothing()
    }
}

/// A provisioning step.
pub trait Provisioner: Step {
    /// Provisions the machine. An `Err` fails the step with that message.
    fn provision(config: Self::Config, build: &BuildInfo) -> Result<(), String>;
}

/// A post-processing step.
pub trait PostProcessor: Step {
    /// Turns `input` into a new artifact.
    fn post_process(
        config: Self::Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String>;
}

/// The answer of a component asked for a kind of step it does not implement.
#[doc(hidden)]
pub fn not_a(kind: StepKind) -> ConfigError {
    let what = match kind {
        StepKind::Provisioner => "provisioner",
        StepKind::PostProcessor => "post-processor",
    };
    ConfigError {
        field: None,
        kind: ConfigErrorKind::Invalid,
        message: format!("this component is not a {what}"),
    }
}

/// The configuration `needs` decoded last, with its text: the host asks `needs` and
/// then `validate` of each configuration it checks, and the second decodes nothing.
struct Decoded {
    text: String,
    config: Box<dyn std::any::Any>,
}

thread_local! {
    static LAST: std::cell::RefCell<Option<Decoded>> = const { std::cell::RefCell::new(None) };
}

/// `validate` of `T`.
#[doc(hidden)]
pub fn validate_step<T: Step>(config: &str) -> Result<(), Vec<ConfigError>>
where
    T::Config: 'static,
{
    let kept = LAST
        .with(|last| last.borrow_mut().take())
        .filter(|d| d.text == config)
        .and_then(|d| d.config.downcast::<T::Config>().ok());
    match kept {
        Some(parsed) => T::validate(&parsed),
        None => T::validate(&parse_config::<T::Config>(config)?),
    }
}

/// `needs` of `T`.
#[doc(hidden)]
pub fn needs_step<T: Step>(config: &str) -> Result<GrantRequest, Vec<ConfigError>>
where
    T::Config: 'static,
{
    let parsed = parse_config::<T::Config>(config)?;
    let needs = T::needs(&parsed);
    LAST.with(|last| {
        *last.borrow_mut() = Some(Decoded {
            text: config.to_owned(),
            config: Box::new(parsed),
        })
    });
    Ok(needs)
}

/// `provision` of `T`: the configuration decoded and validated, then run.
#[doc(hidden)]
pub fn run_provisioner<T: Provisioner>(config: &str, build: BuildInfo) -> Result<(), String> {
    let parsed: T::Config = parse_config(config).map_err(|e| config_errors_to_string(&e))?;
    T::validate(&parsed).map_err(|e| config_errors_to_string(&e))?;
    T::provision(parsed, &build)
}

/// `post-process` of `T`: the configuration decoded and validated, then run.
#[doc(hidden)]
pub fn run_post_processor<T: PostProcessor>(
    config: &str,
    build: BuildInfo,
    input: Artifact,
) -> Result<PostProcessResult, String> {
    let parsed: T::Config = parse_config(config).map_err(|e| config_errors_to_string(&e))?;
    T::validate(&parsed).map_err(|e| config_errors_to_string(&e))?;
    T::post_process(parsed, &build, input)
}

/// Exports a type implementing [`Provisioner`]: the component is a provisioner.
#[macro_export]
macro_rules! provisioner {
    ($ty:ty) => {
        $crate::__export!(provisioner: ($ty), post_processor: (), kinds: b"provisioner");
    };
}

/// Exports a type implementing [`PostProcessor`]: the component is a post-processor.
#[macro_export]
macro_rules! post_processor {
    ($ty:ty) => {
        $crate::__export!(provisioner: (), post_processor: ($ty), kinds: b"post-processor");
    };
}

/// Exports a provisioner and a post-processor from one component (one crate): the
/// template uses it as either.
///
/// ```ignore
/// kiln_guest_sdk::plugin!(provisioner: MyStep, post_processor: MyPostStep);
/// ```
#[macro_export]
macro_rules! plugin {
    (provisioner: $p:ty, post_processor: $q:ty $(,)?) => {
        $crate::__export!(
            provisioner: ($p),
            post_processor: ($q),
            kinds: b"provisioner,post-processor"
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export {
    (provisioner: $p:tt, post_processor: $q:tt, kinds: $kinds:literal) => {
        #[doc(hidden)]
        pub struct __KilnExport;

        /// Which kinds of step the component implements (read by the host).
        #[used]
        #[link_section = "kiln:kinds"]
        static __KILN_KINDS: [u8; $kinds.len()] = *$kinds;

        impl $crate::bindings::exports::kiln::plugin::configure::Guest for __KilnExport {
            fn validate(
                kind: $crate::StepKind,
                config: String,
            ) -> Result<(), Vec<$crate::ConfigError>> {
                match kind {
                    $crate::StepKind::Provisioner => {
                        $crate::__dispatch!(validate_step, $p, kind, &config)
                    }
                    $crate::StepKind::PostProcessor => {
                        $crate::__dispatch!(validate_step, $q, kind, &config)
                    }
                }
            }

            fn needs(
                kind: $crate::StepKind,
                config: String,
            ) -> Result<$crate::GrantRequest, Vec<$crate::ConfigError>> {
                match kind {
                    $crate::StepKind::Provisioner => {
                        $crate::__dispatch!(needs_step, $p, kind, &config)
                    }
                    $crate::StepKind::PostProcessor => {
                        $crate::__dispatch!(needs_step, $q, kind, &config)
                    }
                }
            }
        }

        impl $crate::bindings::exports::kiln::plugin::provisioning::Guest for __KilnExport {
            fn provision(config: String, build: $crate::BuildInfo) -> Result<(), String> {
                $crate::__run!(provision, $p, &config, build)
            }
        }

        impl $crate::bindings::exports::kiln::plugin::post_processing::Guest for __KilnExport {
            fn post_process(
                config: String,
                build: $crate::BuildInfo,
                input: $crate::Artifact,
            ) -> Result<$crate::PostProcessResult, String> {
                $crate::__run!(post_process, $q, &config, build, input)
            }
        }

        $crate::bindings::export_plugin!(__KilnExport);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __dispatch {
    ($f:ident, (), $kind:expr, $config:expr) => {
        Err(vec![$crate::not_a($kind)])
    };
    ($f:ident, $ty:ty, $kind:expr, $config:expr) => {
        $crate::$f::<$ty>($config)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __run {
    (provision, (), $config:expr, $build:expr) => {
        Err("this component is not a provisioner".to_owned())
    };
    (provision, $ty:ty, $config:expr, $build:expr) => {
        $crate::run_provisioner::<$ty>($config, $build)
    };
    (post_process, (), $config:expr, $build:expr, $input:expr) => {
        Err("this component is not a post-processor".to_owned())
    };
    (post_process, $ty:ty, $config:expr, $build:expr, $input:expr) => {
        $crate::run_post_processor::<$ty>($config, $build, $input)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::cell::Cell;

    thread_local!(static DECODED: Cell<usize> = const { Cell::new(0) });

    fn counted<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        DECODED.with(|n| n.set(n.get() + 1));
        String::deserialize(d)
    }

    #[derive(Deserialize)]
    struct Config {
        #[serde(deserialize_with = "counted")]
        name: String,
    }

    struct Named;

    impl Step for Named {
        type Config = Config;
        fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
            match config.name.as_str() {
                "bad" => Err(vec![ConfigError::on("name", "a bad name")]),
                _ => Ok(()),
            }
        }
    }

    fn decoded() -> usize {
        DECODED.with(Cell::get)
    }

    /// `validate` after `needs` of the same text decodes nothing again; of another text,
    /// or a second time, it decodes what it is given.
    #[test]
    fn validate_reuses_what_needs_decoded_of_the_same_text_only() {
        let (good, bad) = (r#"{"name": "good"}"#, r#"{"name": "bad"}"#);
        needs_step::<Named>(bad).unwrap();
        assert_eq!(decoded(), 1);
        assert!(validate_step::<Named>(bad).is_err());
        assert_eq!(decoded(), 1);
        // Kept for one `validate` only.
        assert!(validate_step::<Named>(bad).is_err());
        assert_eq!(decoded(), 2);
        needs_step::<Named>(bad).unwrap();
        assert!(validate_step::<Named>(good).is_ok());
        assert_eq!(decoded(), 4);
        // A configuration that does not decode is not taken for the one before it.
        needs_step::<Named>(good).unwrap();
        assert!(needs_step::<Named>("{}").is_err());
        assert!(validate_step::<Named>("{}").is_err());
        assert!(validate_step::<Named>(bad).is_err());
        assert_eq!(decoded(), 6);
    }
}

//! The command line: `build`, `validate`, `inspect`, `console`, `fmt`, `hcl2_upgrade`,
//! `init`, `component` and `version`, with Packer's flags (`-var`,
//! `-var-file`, `-only`, `-except`, ...) spelled as Packer spells them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::{self, sweep_leftovers, BuildFlags};
use crate::load::TemplateArgs;

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    about = "Build identical machine images from Packer templates; provisioners run as sandboxed WebAssembly components.",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the images a template describes.
    Build {
        #[command(flatten)]
        template: TemplateArgs,
        /// Run at most this many builds at once (0: no limit).
        #[arg(long = "parallel-builds", default_value_t = 0)]
        parallel_builds: usize,
        /// Colored output (also off when NO_COLOR is set).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        color: bool,
        /// Print Packer's machine-readable `timestamp,target,type,data...` lines.
        #[arg(long = "machine-readable")]
        machine_readable: bool,
        /// Prefix every line with the time (UTC).
        #[arg(long = "timestamp-ui")]
        timestamp_ui: bool,
        /// What to do when a step fails.
        #[arg(long = "on-error", value_enum, default_value_t = OnErrorArg::Cleanup)]
        on_error: OnErrorArg,
        /// Delete what earlier builds left (such as a qemu output directory) before building.
        #[arg(long)]
        force: bool,
        /// Pause before each step until Enter is pressed; builds run one at a time.
        #[arg(long)]
        debug: bool,
        /// Keep a checkpoint after each provisioner (container builds: its changes as a
        /// layer), without using the ones kept before: a full rebuild that refreshes them.
        #[arg(long)]
        checkpoint: bool,
        /// Start each build after the longest run of provisioners whose checkpoints are
        /// kept (same steps, same inputs), and keep checkpoints for the rest.
        #[arg(long)]
        resume: bool,
        /// Run only the post-processors, on the builder's artifact of each build's last
        /// successful run with -checkpoint or -resume (kept in the cache).
        #[arg(long = "post-processors-only")]
        post_processors_only: bool,
        /// Push each new checkpoint to this registry repository (`host/repo`), tagged
        /// with its key, so that other machines can resume from it.
        #[arg(long = "checkpoint-to", value_name = "REPOSITORY")]
        checkpoint_to: Option<String>,
        /// Resume (as -resume does), looking for checkpoints missing from the cache in
        /// this registry repository; each is checked against its digests before use.
        #[arg(long = "checkpoint-from", value_name = "REPOSITORY")]
        checkpoint_from: Option<String>,
    },
    /// Check that a template is valid, including every provisioner's configuration.
    Validate {
        #[command(flatten)]
        template: TemplateArgs,
        /// Only check the template's syntax and expressions, not what builders and
        /// provisioners make of their configuration.
        #[arg(long = "syntax-only")]
        syntax_only: bool,
        /// Run the data sources that ask a cloud (amazon-ami) instead of giving them
        /// placeholder values.
        #[arg(long = "evaluate-datasources")]
        evaluate_datasources: bool,
    },
    /// Show a template's variables, locals and builds.
    Inspect {
        #[command(flatten)]
        template: TemplateArgs,
    },
    /// Evaluate expressions against a template's variables, locals and functions, one
    /// per line from stdin (with a prompt on a terminal).
    Console {
        /// The template (optional: without one, only functions are available).
        template: Option<PathBuf>,
        /// Set a variable: -var 'name=value'. May be repeated.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        var: Vec<String>,
        /// Read variables from a .pkrvars.hcl file. May be repeated.
        #[arg(long = "var-file", value_name = "FILE")]
        var_file: Vec<PathBuf>,
    },
    /// Translate a legacy JSON template into HCL2.
    #[command(name = "hcl2_upgrade")]
    Hcl2Upgrade {
        /// The JSON template.
        template: PathBuf,
        /// Where to write the HCL2 (default: TEMPLATE.pkr.hcl next to the template).
        #[arg(long = "output-file")]
        output_file: Option<PathBuf>,
    },
    /// Rewrite HCL2 templates and variable files in the canonical layout (`packer fmt`).
    Fmt {
        /// A file, a directory of .pkr.hcl / .pkrvars.hcl files, or `-` for stdin.
        #[arg(default_value = ".")]
        target: PathBuf,
        /// Only check: list the files that are not formatted and exit with 3.
        #[arg(long)]
        check: bool,
        /// Show what would change as a unified diff.
        #[arg(long)]
        diff: bool,
        /// Write the result back to the files (-write=false to only show it).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        write: bool,
        /// Also format the files in subdirectories.
        #[arg(long)]
        recursive: bool,
    },
    /// Pull the components a template requires (`packer { required_components }`) and
    /// lock their digests next to it.
    Init {
        /// A .pkr.hcl template file, or a directory of them.
        template: PathBuf,
        /// Resolve tags again and move the lock forward.
        #[arg(long)]
        upgrade: bool,
    },
    /// Publish, fetch, inspect and create components.
    Component {
        #[command(subcommand)]
        command: crate::component_cli::ComponentCommand,
    },
    /// Look after Kiln's cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Print Kiln's version.
    Version,
}

/// What to do when a step fails (`-on-error`), with Packer's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnErrorArg {
    /// Run the error-cleanup-provisioner, clean up, fail the build.
    Cleanup,
    /// Stop at once and leave everything as it is.
    Abort,
    /// Ask on the terminal: clean up, abort, or retry the step.
    Ask,
    /// Run the error-cleanup-provisioner, then stop without cleaning up.
    RunCleanupProvisioner,
}

impl From<OnErrorArg> for kiln_engine::OnError {
    fn from(a: OnErrorArg) -> Self {
        match a {
            OnErrorArg::Cleanup => kiln_engine::OnError::Cleanup,
            OnErrorArg::Abort => kiln_engine::OnError::Abort,
            OnErrorArg::Ask => kiln_engine::OnError::Ask,
            OnErrorArg::RunCleanupProvisioner => kiln_engine::OnError::RunCleanupProvisioner,
        }
    }
}

/// `kiln cache ...`
#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// Remove what runs that died (killed, crashed, the machine rebooted) left in the
    /// cache and the temporary directory: partial blobs, container scratch directories.
    /// Safe while other builds run: what a live run holds is left alone.
    /// With -checkpoints, also remove step checkpoints (`kiln build -checkpoint`).
    Prune {
        /// Also remove step checkpoints: all of them, or with -older-than those taken
        /// longer ago than that.
        #[arg(long)]
        checkpoints: bool,
        /// With -checkpoints: only those older than this (`72h`, `30m`).
        #[arg(long = "older-than", value_name = "DURATION", requires = "checkpoints")]
        older_than: Option<String>,
    },
    /// List the step checkpoints kept in the cache, with their sizes.
    List,
}

/// Packer spells long flags with one dash (`-var`); clap wants two.
fn packer_style_args() -> Vec<String> {
    let mut out = Vec::new();
    let mut rest_is_positional = false;
    for (i, arg) in std::env::args().enumerate() {
        if i > 0 && !rest_is_positional {
            if arg == "--" {
                rest_is_positional = true;
            } else if arg.len() > 2 && arg.starts_with('-') && !arg.starts_with("--") {
                out.push(format!("-{arg}"));
                continue;
            }
        }
        out.push(arg);
    }
    out
}

/// Runs the command line and returns the process's exit status.
pub fn main() -> ExitCode {
    // The container runtime runs parts of itself as this binary with a hidden first
    // argument; those must start before any thread does.
    if let Some(code) = kiln_container::helper_main() {
        return code;
    }
    crate::log::init_tracing();
    let matches = Cli::command().get_matches_from(packer_style_args());
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let sub = matches
        .subcommand()
        .map(|(_, m)| m.clone())
        .unwrap_or_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Command::Version => {
            println!("Kiln v{}", env!("CARGO_PKG_VERSION"));
            println!(
                "Template language: Packer {} (required_version and min_packer_version are checked against it)",
                kiln_template::PACKER_VERSION
            );
            ExitCode::SUCCESS
        }
        Command::Init { template, upgrade } => {
            rt.block_on(crate::component_cli::init(&template, upgrade))
        }
        Command::Component { command } => rt.block_on(crate::component_cli::run(command)),
        Command::Cache {
            command:
                CacheCommand::Prune {
                    checkpoints,
                    older_than,
                },
        } => {
            sweep_leftovers(true);
            if checkpoints {
                commands::prune_checkpoints(older_than.as_deref())
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Cache {
            command: CacheCommand::List,
        } => commands::list_checkpoints(),
        Command::Validate {
            template,
            syntax_only,
            evaluate_datasources,
        } => rt.block_on(commands::validate(
            &sub,
            &template,
            syntax_only,
            evaluate_datasources,
        )),
        Command::Inspect { template } => match crate::load::load(&sub, &template) {
            Ok(loaded) => {
                print!("{}", loaded.inspection.render());
                match rt.block_on(commands::inspect_grants(&loaded, &template)) {
                    Ok(grants) => {
                        print!("{grants}");
                        ExitCode::SUCCESS
                    }
                    Err(code) => code,
                }
            }
            Err(code) => code,
        },
        Command::Console {
            template,
            var,
            var_file,
        } => crate::console::console(&sub, template, var, var_file),
        Command::Hcl2Upgrade {
            template,
            output_file,
        } => crate::console::hcl2_upgrade(&template, output_file),
        Command::Fmt {
            target,
            check,
            diff,
            write,
            recursive,
        } => crate::fmt::run(
            &target,
            &crate::fmt::FmtOptions {
                check,
                diff,
                write,
                recursive,
            },
        ),
        Command::Build {
            template,
            parallel_builds,
            color,
            machine_readable,
            timestamp_ui,
            on_error,
            force,
            debug,
            checkpoint,
            resume,
            post_processors_only,
            checkpoint_to,
            checkpoint_from,
        } => {
            let flags = BuildFlags {
                parallel: parallel_builds,
                color,
                machine_readable,
                timestamps: timestamp_ui,
                policy: kiln_engine::Policy {
                    on_error: on_error.into(),
                    force,
                    debug,
                    // -checkpoint-from resumes, -checkpoint-to records.
                    checkpoint: match (
                        resume || checkpoint_from.is_some(),
                        checkpoint || checkpoint_to.is_some(),
                    ) {
                        (true, _) => kiln_core::checkpoint::CheckpointMode::Resume,
                        (false, true) => kiln_core::checkpoint::CheckpointMode::Record,
                        (false, false) => kiln_core::checkpoint::CheckpointMode::Off,
                    },
                    post_processors_only,
                },
                share: kiln_core::checkpoint::CheckpointShare {
                    to: checkpoint_to,
                    from: checkpoint_from,
                },
            };
            let code = rt.block_on(commands::build(&sub, &template, flags));
            // A prompt may still be waiting for a line on stdin after Ctrl-C.
            rt.shutdown_background();
            code
        }
    }
}

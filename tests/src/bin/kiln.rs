//! The `kiln` binary, built for the end-to-end tests.

fn main() -> std::process::ExitCode {
    kiln::cli::main()
}

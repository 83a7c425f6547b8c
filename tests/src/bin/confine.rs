//! The confining helper of the `kiln` built for the end-to-end tests.

fn main() -> std::process::ExitCode {
    kiln_confine::main()
}

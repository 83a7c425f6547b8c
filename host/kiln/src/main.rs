//! `kiln`: build identical machine images from Packer templates.

fn main() -> std::process::ExitCode {
    kiln::cli::main()
}

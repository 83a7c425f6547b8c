//! `kiln-confine`: runs one host command confined, for kiln (see `kiln_confine`).

fn main() -> std::process::ExitCode {
    kiln_confine::main()
}

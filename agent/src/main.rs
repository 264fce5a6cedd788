//! The `agent` binary: parse the command line and hand over to the library.

fn main() -> std::process::ExitCode {
    // Before anything else: credentials leave the visible environment (see `secrets`).
    agent::secrets::hide_from_environment();
    agent::cli::main()
}

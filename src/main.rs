//! The `gatewatch` command: parses arguments and runs the library.

fn main() -> std::process::ExitCode {
    gatewatch::cli::main()
}

//! The `jianzhen` command line: parses flags, calls the libraries, maps errors to exit
//! codes. No evaluation logic lives here.

mod cli;
mod suites_cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}

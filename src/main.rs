//! The `jianzhen` command line: parses flags, calls the libraries, maps errors to exit
//! codes. No evaluation logic lives here.

mod access_cmd;
mod cli;
mod data_fetch;
mod metrics_http;
mod suites_cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`jianzhen suites list | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::main()
}

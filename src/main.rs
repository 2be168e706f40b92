//! The `auditwall` command: parse arguments, run one command, map the outcome to an exit code.

mod calibrate;
mod cli;
mod commands;
mod exercise;
mod exit;
mod loop_cmd;
mod prove;
mod quiet;
mod recover;
mod release_cmd;
mod soak_cmd;
mod system;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // This executable also hosts the reference system's services (see runtime::system).
    if let Some(code) = auditwall_runtime::system::serve_from_env() {
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = cli::Cli::parse();
    let outcome = commands::run(cli);
    match &outcome {
        // A reader that went away (`auditwall verify | head`) is not news to the user.
        Err(e) if exit::is_broken_pipe(e) => {}
        Err(e) => eprintln!("error: {e:#}"),
        Ok(_) => {}
    }
    std::process::ExitCode::from(exit::code(&outcome))
}

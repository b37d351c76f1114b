//! The `wasmstep` binary: parses arguments and dispatches to a command.

mod bench;
mod cli;
mod commands;
mod serve;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let code = match cli.command {
        cli::Command::Serve(a) => serve::serve(a),
        cli::Command::Run(a) => commands::run(a),
        cli::Command::Validate(a) => commands::validate(a),
        cli::Command::Bench(a) => bench::bench(a),
        cli::Command::Jsonata(a) => commands::jsonata(a),
        cli::Command::Plugins(a) => commands::plugins(a),
        cli::Command::Reload(a) => serve::reload(a),
    };
    std::process::ExitCode::from(code)
}

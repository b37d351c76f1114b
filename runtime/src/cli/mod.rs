//! The command line: clap syntax (`args.rs`) resolved into each command's options, the
//! one-shot commands (run, validate, bench, jsonata, plugins), and the daemon's entry points
//! (`serve` resolves its flags and file into a `DaemonConfig` and hands over to `daemon::serve`;
//! `reload` asks a running daemon over HTTP). The CLI and the daemon never import each other's
//! insides: `serve` passes a resolved configuration.

mod args;
mod bench;
mod jsonata;
mod machines;
mod nested;
mod plugins;
mod reload;
mod run;
mod serve;
mod validate;

use std::path::Path;

use clap::Parser;
use wasmstep::asl::{LoadError, MachineType};

use args::{Cli, Command, TypeArg};

/// Parses the command line and runs the command; the process's exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve(a) => serve::serve(a),
        Command::Run(a) => run::run(a),
        Command::Validate(a) => validate::validate(a),
        Command::Bench(a) => bench::bench(a),
        Command::Jsonata(a) => jsonata::jsonata(a),
        Command::Plugins(a) => plugins::plugins(a),
        Command::Reload(a) => reload::reload(a),
    };
    std::process::ExitCode::from(code)
}

/// Exit code for a usage error or an invalid definition.
pub const USAGE: u8 = 2;

pub fn machine_type(t: TypeArg) -> MachineType {
    match t {
        TypeArg::Standard => MachineType::Standard,
        TypeArg::Express => MachineType::Express,
    }
}

/// Prints why a definition did not load, one diagnostic per line, prefixed by the file.
pub fn report_load_error(file: &Path, e: &LoadError) {
    match e {
        LoadError::Io(m) => eprintln!("error: {m}"),
        LoadError::Invalid(d) => {
            for diag in &d.diagnostics {
                eprintln!("{}:{diag}", file.display());
            }
            eprintln!(
                "error: {} is not a valid state machine ({} problem(s))",
                file.display(),
                d.errors().count()
            );
        }
    }
}

/// Prints what validation warned about a definition that loads, one per line.
pub fn report_warnings(file: &Path, machine: &wasmstep::asl::StateMachine) {
    for w in &machine.warnings {
        eprintln!("{}:{w}", file.display());
    }
}

/// A command's async runtime (a thread per core, or just this one); when there is none, the
/// error is printed and the exit code returned.
pub fn async_runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, u8> {
    let mut b = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        1
    })
}

/// Prints one line to stdout; a closed pipe is not worth a panic.
/// The buckets folder of `--buckets` (it must exist), for Distributed Maps' ItemReader and
/// ResultWriter.
pub fn open_buckets(
    dir: Option<&Path>,
) -> Result<Option<std::sync::Arc<dyn wasmstep::store::buckets::Buckets>>, String> {
    match dir {
        None => Ok(None),
        Some(d) => Ok(Some(std::sync::Arc::new(wasmstep::store::folders::FolderBuckets::new(
            d,
        )?))),
    }
}

pub fn print_line(v: &impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
}

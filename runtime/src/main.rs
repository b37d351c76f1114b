//! The `wasmstep` binary: the command line (`cli/`) over the library.

mod cli;

/// Counts what each JSONata evaluation holds, so one expression cannot take the process's
/// memory (`wasmstep_lang::jsonata::budget`).
#[global_allocator]
static ALLOCATOR: wasmstep::jsonata::budget::BudgetAlloc<std::alloc::System> =
    wasmstep::jsonata::budget::BudgetAlloc(std::alloc::System);

fn main() -> std::process::ExitCode {
    cli::main()
}

//! Definition files: reading and validating one, and the state machine name a file stands for.

use std::path::Path;

use super::{InvalidDefinition, MachineType, StateMachine, Syntax};

/// A definition file that could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    Io(String),
    Invalid(InvalidDefinition),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(m) => f.write_str(m),
            LoadError::Invalid(d) => d.fmt(f),
        }
    }
}

/// Reads and validates a definition file (JSON or YAML, by extension or content).
pub fn load_file(path: &Path, machine_type: MachineType) -> Result<StateMachine, LoadError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| LoadError::Io(format!("cannot read {}: {e}", path.display())))?;
    let syntax = Syntax::detect(&path.to_string_lossy(), &text);
    super::load(&text, syntax, machine_type).map_err(LoadError::Invalid)
}

/// The state machine's name: the file stem without `.asl` (and without `.express`).
pub fn machine_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "StateMachine".into());
    let stem = stem.strip_suffix(".asl").unwrap_or(&stem);
    stem.strip_suffix(".express").unwrap_or(stem).to_string()
}

/// The type a definition file's name declares: `NAME.express.asl.json` (or `.yaml`) is an
/// Express state machine; any other name, none.
pub fn declared_type(path: &Path) -> Option<MachineType> {
    let stem = path.file_stem()?.to_string_lossy().to_string();
    stem.strip_suffix(".asl")?
        .ends_with(".express")
        .then_some(MachineType::Express)
}

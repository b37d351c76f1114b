//! The state machines a file given to `run` or `validate` holds: one for a definition file
//! (named after the file), every one a project file (`serverless.yml`, a SAM or CloudFormation
//! template) defines, each with its type and its problems placed at their lines in the file.

use std::path::Path;

use serde_json::Value;
use wasmstep::asl::project::{Context, load_project, project_kind};
use wasmstep::asl::{self, Diagnostic, LoadError, MachineType, Source, StateMachine};
use wasmstep::engine::{ACCOUNT, REGION};

/// One state machine of a file: valid, or why not.
pub struct FileMachine {
    pub name: String,
    pub machine_type: MachineType,
    pub result: Result<StateMachine, Vec<Diagnostic>>,
}

/// What a file holds; `Err` when it cannot be read as a whole (the problems, as lines).
pub fn machines(file: &Path, t: MachineType) -> Result<Vec<FileMachine>, Vec<String>> {
    let Some(kind) = project_kind(file) else {
        let name = asl::machine_name(file);
        // `NAME.express.asl.json` declares its type.
        let t = asl::declared_type(file).unwrap_or(t);
        return match asl::load_file(file, t) {
            Ok(m) => Ok(vec![FileMachine {
                name,
                machine_type: t,
                result: Ok(m),
            }]),
            Err(LoadError::Io(m)) => Err(vec![m]),
            Err(LoadError::Invalid(d)) => Ok(vec![FileMachine {
                name,
                machine_type: t,
                result: Err(d.diagnostics),
            }]),
        };
    };
    let text = std::fs::read_to_string(file).map_err(|e| vec![format!("cannot read {}: {e}", file.display())])?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let dir = file.parent().unwrap_or(Path::new("."));
    let project = load_project(kind, &text, &name, dir, &Context::with_env(ACCOUNT, REGION)).map_err(|problems| {
        problems
            .iter()
            .map(|d| format!("{}:{d}", file.display()))
            .collect::<Vec<_>>()
    })?;
    for w in &project.warnings {
        eprintln!("{}:{}:{}: warning: {}", file.display(), w.line, w.column, w.message);
    }
    Ok(project
        .machines
        .iter()
        .map(|m| {
            let place = |mut d: Diagnostic| {
                d.position = project.position(m, &d.pointer);
                d
            };
            let result = match asl::build(&Source::from_value(m.definition.clone()), m.machine_type) {
                Ok(mut sm) => {
                    sm.warnings = sm.warnings.into_iter().map(place).collect();
                    Ok(sm)
                }
                Err(invalid) => Err(invalid.diagnostics.into_iter().map(place).collect()),
            };
            FileMachine {
                name: m.name.clone(),
                machine_type: m.machine_type,
                result,
            }
        })
        .collect())
}

/// The diagnostics as the API's JSON.
pub fn diagnostics_json(d: &[Diagnostic]) -> Vec<Value> {
    d.iter().map(|x| x.to_json(None)).collect()
}

//! Project files in the definitions directory (`serverless.yml`, SAM / CloudFormation
//! templates; `asl::project`): every state machine the file defines, with its type, and its
//! schedules. A project loads whole or not at all: each definition and schedule is checked
//! first (a problem is reported at its line in the file), then the state machines are put in
//! place, those the file no longer defines removed, and its schedules brought in line.

use std::path::Path;
use std::time::Instant;

use super::{Kind, Reloader, Report, Tracked};
use crate::asl::project::{Context, ProjectKind, load_project};
use crate::asl::{Source, build};
use crate::daemon::arns::machine_arn;
use crate::daemon::triggers::files::{check_file_schedule, file_schedule};
use crate::engine::{ACCOUNT, REGION};

impl Reloader {
    pub(super) async fn project(
        &self,
        tracked: &mut Tracked,
        path: &Path,
        kind: ProjectKind,
        since: Option<Instant>,
        report: &mut Report,
    ) {
        let before = tracked.projects.get(path).cloned().unwrap_or_default();
        let source = path.to_string_lossy().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracked.projects.remove(path);
                self.remove_machines(tracked, path, &before, &[], report).await;
                if let Err(e) = self.svc.sync_file_schedules(&source, &[]).await {
                    tracing::warn!(file = %path.display(), "its schedules could not be removed: {}", e.message);
                }
                return;
            }
            Err(e) => return self.reject(report, Kind::Definition, path, format!("cannot read it: {e}")),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new("."));
        let project = match load_project(kind, &text, &name, dir, &Context::with_env(ACCOUNT, REGION)) {
            Ok(p) => p,
            Err(problems) => {
                let reason: Vec<String> = problems.iter().map(|d| format!("{}:{d}", path.display())).collect();
                return self.reject(report, Kind::Definition, path, reason.join("; "));
            }
        };
        for w in &project.warnings {
            tracing::warn!(file = %path.display(), "{}:{}:{}: {}", path.display(), w.line, w.column, w.message);
        }
        // Everything checked before anything changes.
        let mut problems = Vec::new();
        let mut schedules = Vec::new();
        for m in &project.machines {
            if let Some(other) = tracked.defined_elsewhere(&m.name, path) {
                problems.push(format!(
                    "state machine {} is already defined by {}",
                    m.name,
                    other.display()
                ));
            }
            if let Err(invalid) = build(&Source::from_value(m.definition.clone()), m.machine_type) {
                for d in invalid.diagnostics {
                    let (line, column) = project.position(m, &d.pointer).unwrap_or((1, 1));
                    problems.push(format!(
                        "{}:{line}:{column}: state machine {}: {} ({})",
                        path.display(),
                        m.name,
                        d.message,
                        d.pointer
                    ));
                }
            }
            for s in &m.schedules {
                let (sname, request) = file_schedule(&source, &m.name, s);
                match check_file_schedule(&sname, &request) {
                    Ok(()) => schedules.push((sname, request)),
                    Err(e) => problems.push(format!("{}: state machine {}: {e}", path.display(), m.name)),
                }
            }
        }
        if !problems.is_empty() {
            return self.reject(report, Kind::Definition, path, problems.join("; "));
        }
        let known = tracked.projects.contains_key(path);
        let mut names = Vec::new();
        for m in &project.machines {
            let text = serde_json::to_string_pretty(&m.definition).unwrap_or_default();
            if self
                .apply_machine(path, &m.name, m.machine_type, &text, known, since, report)
                .await
            {
                names.push(m.name.clone());
            } else if before.contains(&m.name) {
                // Rejected now: the version that served keeps serving, and stays the file's.
                names.push(m.name.clone());
            }
        }
        self.remove_machines(tracked, path, &before, &names, report).await;
        tracked.projects.insert(path.to_path_buf(), names);
        if let Err(e) = self.svc.sync_file_schedules(&source, &schedules).await {
            self.reject(report, Kind::Definition, path, e.message);
        }
    }

    /// Deletes the state machines a project file defined before and defines no more (unless
    /// another file defines them now).
    async fn remove_machines(
        &self,
        tracked: &Tracked,
        path: &Path,
        before: &[String],
        now: &[String],
        report: &mut Report,
    ) {
        for name in before.iter().filter(|n| !now.contains(n)) {
            if tracked.defined_elsewhere(name, path).is_some() {
                continue;
            }
            match self.svc.delete_machine(&machine_arn(name)).await {
                Ok(()) => {
                    let _ = self.svc.metrics.state_machine_version.remove_label_values(&[name]);
                    self.removed(report, Kind::Definition, name, path);
                }
                Err(e) if e.kind == "StateMachineDoesNotExist" => {}
                Err(e) => self.reject(report, Kind::Definition, path, e.message),
            }
        }
    }
}

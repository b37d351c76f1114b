//! Definition files: which files are definitions, and reconciling the state machine a file
//! defines with the file as it is now (created, updated with a new version, or deleted).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Kind, Loaded, ROLE_ARN, Reloader, Report, SOURCE_TAG, Tracked, millis};
use crate::asl::MachineType;
use crate::daemon::arns::machine_arn;

/// `*.asl.json`, `*.asl.yaml`, `*.asl.yml`, and project files (`serverless.yml`, SAM's
/// `template.yaml`; `asl::project`) — not hidden: editors' swap and temporary files are.
pub fn is_definition_file(path: &Path) -> bool {
    crate::asl::project::project_kind(path).is_some()
        || path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            !n.starts_with('.') && [".asl.json", ".asl.yaml", ".asl.yml"].iter().any(|x| n.ends_with(x))
        })
}

/// Every definition file below `dir`, sorted.
pub fn definition_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if is_definition_file(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    out.sort();
    Ok(out)
}

impl Reloader {
    pub(super) async fn rescan_definitions(&self, tracked: &mut Tracked, dir: &Path, report: &mut Report) {
        if !tracked.seeded {
            tracked.seeded = true;
            for m in self.svc.list_machines() {
                let source = self.svc.list_tags(&m.arn).await.ok().and_then(|tags| {
                    tags.into_iter()
                        .find_map(|(k, v)| (k == SOURCE_TAG).then(|| PathBuf::from(v)))
                });
                if let Some(file) = source.filter(|f| f.starts_with(dir)) {
                    if crate::asl::project::project_kind(&file).is_some() {
                        tracked.projects.entry(file).or_default().push(m.name.clone());
                    } else {
                        tracked.definitions.insert(file, m.name.clone());
                    }
                }
            }
        }
        let mut files: BTreeSet<PathBuf> = tracked.definitions.keys().cloned().collect();
        files.extend(tracked.projects.keys().cloned());
        match definition_files(dir) {
            Ok(found) => files.extend(found),
            Err(e) => self.reject(report, Kind::Definition, dir, format!("cannot read the directory: {e}")),
        }
        let (present, gone): (Vec<_>, Vec<_>) = files.into_iter().partition(|p| p.exists());
        for f in present.into_iter().chain(gone) {
            self.definition(tracked, &f, None, report).await;
        }
    }

    /// Reconciles the state machine defined by `path` with the file as it is now: created or
    /// updated (publishing a version), or deleted when the file is gone.
    pub(super) async fn definition(
        &self,
        tracked: &mut Tracked,
        path: &Path,
        since: Option<Instant>,
        report: &mut Report,
    ) {
        if let Some(kind) = crate::asl::project::project_kind(path) {
            return self.project(tracked, path, kind, since, report).await;
        }
        let name = crate::asl::machine_name(path);
        let arn = machine_arn(&name);
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Unless another file defines the same state machine now (renamed from .yaml to
                // .json, say).
                if tracked.definitions.remove(path).is_some() && tracked.defined_elsewhere(&name, path).is_none() {
                    match self.svc.delete_machine(&arn).await {
                        Ok(()) => {
                            let _ = self.svc.metrics.state_machine_version.remove_label_values(&[&name]);
                            self.removed(report, Kind::Definition, &name, path);
                        }
                        Err(e) if e.kind == "StateMachineDoesNotExist" => {}
                        Err(e) => self.reject(report, Kind::Definition, path, e.message),
                    }
                }
                return;
            }
            Err(e) => return self.reject(report, Kind::Definition, path, format!("cannot read it: {e}")),
        };
        if let Some(other) = tracked.defined_elsewhere(&name, path) {
            let reason = format!("state machine {name} is already defined by {}", other.display());
            return self.reject(report, Kind::Definition, path, reason);
        }
        let known = tracked.definitions.contains_key(path);
        if self
            .apply_machine(
                path,
                &name,
                crate::asl::declared_type(path).unwrap_or(MachineType::Standard),
                &text,
                known,
                since,
                report,
            )
            .await
        {
            tracked.definitions.insert(path.to_path_buf(), name);
        }
    }

    /// Puts the state machine `name` of type `t` with definition `text` from `path` in place:
    /// created, or updated with a new version (recreated when its type changed); false when it
    /// was rejected. `known`: the file was loaded before in this process.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_machine(
        &self,
        path: &Path,
        name: &str,
        t: MachineType,
        text: &str,
        known: bool,
        since: Option<Instant>,
        report: &mut Report,
    ) -> bool {
        let arn = machine_arn(name);
        let t0 = Instant::now();
        let mut existing = self.svc.machine(&arn).ok();
        if known
            && existing
                .as_ref()
                .is_some_and(|m| m.definition == text && m.machine_type == t)
        {
            report.unchanged += 1;
            return true;
        }
        // A type cannot change in place (AWS: a new state machine); the old one goes first.
        if let Some(m) = existing.as_ref().filter(|m| m.machine_type != t) {
            tracing::info!(file = %path.display(), state_machine = %name, from = ?m.machine_type, to = ?t, "the type changed: the state machine is made anew");
            if let Err(e) = self.svc.delete_machine(&arn).await {
                self.reject(report, Kind::Definition, path, e.message);
                return false;
            }
            existing = None;
        }
        let saved = match &existing {
            Some(m) if m.definition == text => Ok(()),
            Some(_) => self.svc.update_machine(&arn, Some(text), None).await.map(|_| ()),
            None => self.svc.create_machine(name, text, ROLE_ARN, t).await.map(|_| ()),
        };
        if let Err(e) = saved {
            let reason = match crate::asl::project::project_kind(path) {
                Some(_) => format!("state machine {name}: {}", e.message),
                None => e.message,
            };
            self.reject(report, Kind::Definition, path, reason);
            return false;
        }
        if let Ok(m) = self.svc.machine(&arn) {
            for w in &m.compiled.warnings {
                tracing::warn!(file = %path.display(), "{w}");
            }
        }
        let load_ms = millis(t0.elapsed());
        let source = path.to_string_lossy();
        if source.chars().count() <= 256
            && let Err(e) = self
                .svc
                .tag_resource(&arn, &[(SOURCE_TAG.to_string(), source.to_string())])
                .await
        {
            tracing::warn!(file = %path.display(), error = %e.message, "cannot record where the state machine comes from");
        }
        // Every definition that serves is a version: DescribeStateMachine shows the new text,
        // ListStateMachineVersions the history, and an unchanged text publishes nothing new.
        let version = match self
            .svc
            .publish_version(&arn, Some("loaded from the definitions directory"))
            .await
        {
            Ok((v, _)) => v,
            Err(e) => {
                self.reject(report, Kind::Definition, path, e.message);
                return false;
            }
        };
        if let Some((_, n)) = crate::daemon::catalog::versions::split_version(&version) {
            self.svc
                .metrics
                .state_machine_version
                .with_label_values(&[name])
                .set(n as i64);
        }
        if existing.is_some_and(|m| m.definition == text) {
            // Already serving (loaded before this process started): nothing changed.
            report.unchanged += 1;
            return true;
        }
        self.loaded(
            report,
            Loaded {
                kind: Kind::Definition,
                name: name.to_string(),
                file: path.to_path_buf(),
                version,
                load_ms,
            },
            since,
        );
        true
    }
}

//! Schedules that project files in the definitions directory define (`serverless.yml`
//! `schedule` events, SAM `Schedule` / `ScheduleV2` events): kept in the schedule group
//! `definitions`, each marked with the file it comes from, and brought in line with the file
//! at every load — created, updated, or deleted with the file.

use serde_json::{Value, json};

use super::schedules::{OWN, Schedule};
use crate::asl::project::{ProjectSchedule, ScheduleInput};
use crate::daemon::arns::machine_arn;
use crate::daemon::error::{Result, error, unavailable};
use crate::daemon::service::{Service, now_secs};
use crate::store::{GroupRecord, ScheduleRecord};

/// The group file-defined schedules live in.
pub const FILE_GROUP: &str = "definitions";

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/wasmstep";

/// A schedule name as Scheduler allows one (`[0-9a-zA-Z-_.]{1,64}`).
fn schedule_name(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() { "schedule".into() } else { clean }
}

/// The CreateSchedule request a file's schedule stands for, and its name.
pub fn file_schedule(source: &str, machine: &str, s: &ProjectSchedule) -> (String, Value) {
    let mut target = json!({"Arn": machine_arn(machine), "RoleArn": ROLE_ARN});
    let mut own = json!({"Source": source});
    match &s.input {
        ScheduleInput::Fixed(v) => {
            target["Input"] = json!(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        }
        ScheduleInput::Event { path } => {
            own["ScheduledEvent"] = json!(true);
            if let Some(p) = path {
                own["InputPath"] = json!(p);
            }
        }
    }
    let mut request = json!({
        "ScheduleExpression": s.expression,
        "State": if s.enabled { "ENABLED" } else { "DISABLED" },
        "Description": s.description.clone().unwrap_or_else(|| format!("Defined by {source}")),
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": target,
        OWN: own,
    });
    if let Some(tz) = &s.timezone {
        request["ScheduleExpressionTimezone"] = json!(tz);
    }
    (schedule_name(&s.name), request)
}

/// Whether a file's schedule would be accepted, and why not.
pub fn check_file_schedule(name: &str, request: &Value) -> std::result::Result<(), String> {
    Schedule::from_request(FILE_GROUP, name, request, now_secs())
        .map(|_| ())
        .map_err(|e| format!("schedule {name}: {}", e.message))
}

fn source_of(r: &ScheduleRecord) -> Option<String> {
    let body: Value = serde_json::from_str(&r.body).ok()?;
    body.get(OWN)?.get("Source")?.as_str().map(str::to_string)
}

impl Service {
    /// Brings the schedules `source` defines in line with `wanted` (name, request).
    pub async fn sync_file_schedules(&self, source: &str, wanted: &[(String, Value)]) -> Result<()> {
        let now = now_secs();
        let existing = self.store.schedules(Some(FILE_GROUP)).await.map_err(unavailable)?;
        if !wanted.is_empty() {
            self.store.put_group(&GroupRecord {
                name: FILE_GROUP.into(),
                created: now,
            });
        }
        for (name, request) in wanted {
            match existing.iter().find(|r| r.name == *name) {
                Some(r) if source_of(r).as_deref() != Some(source) => {
                    return Err(error(
                        "ConflictException",
                        format!(
                            "schedule {name} is already defined by {}",
                            source_of(r).unwrap_or_else(|| "the API".into())
                        ),
                    ));
                }
                Some(r) => {
                    let s = Schedule::from_request(FILE_GROUP, name, request, r.created)?;
                    let next = s.record(r.created, now, now);
                    // Unchanged, it keeps its due time.
                    if next.body != r.body || next.enabled != r.enabled {
                        self.store.replace_schedule(&next);
                    }
                }
                None => {
                    let s = Schedule::from_request(FILE_GROUP, name, request, now)?;
                    self.store.put_schedule(&s.record(now, now, now));
                }
            }
        }
        for r in existing.iter().filter(|r| source_of(r).as_deref() == Some(source)) {
            if !wanted.iter().any(|(n, _)| *n == r.name) {
                self.store.delete_schedule(FILE_GROUP, &r.name);
            }
        }
        self.store.flush().await.map_err(unavailable)?;
        self.triggers.changed.notify_one();
        Ok(())
    }
}

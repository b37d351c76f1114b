//! Schedules and schedule groups as EventBridge Scheduler manages them: a request (already
//! checked against the service model) is validated into a `Schedule` — its expression parsed,
//! its time zone found, its target one wasmstep can start — then recorded with the next time
//! it is due. GetSchedule answers from the record.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::expression::{Expression, Timing, zone};
use crate::daemon::error::{Result, ServiceError, error, unavailable};
use crate::daemon::service::{Service, now_secs};
use crate::engine::{ACCOUNT, REGION};
use crate::store::{GroupRecord, ScheduleRecord};

/// The group every account has; it is not recorded and cannot be deleted.
pub const DEFAULT_GROUP: &str = "default";

/// The universal target that starts an execution from a StartExecution request in `Input`.
pub const START_EXECUTION: &str = "arn:aws:scheduler:::aws-sdk:sfn:startExecution";

/// EventBridge Scheduler's defaults for a target's retry policy.
const MAX_EVENT_AGE: u64 = 86_400;
const MAX_ATTEMPTS: u32 = 185;

/// A schedule, validated.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub group: String,
    pub name: String,
    pub timing: Timing,
    pub enabled: bool,
    pub target: Target,
    /// `FlexibleTimeWindow` in FLEXIBLE mode: fire up to this many minutes after the due time.
    pub window_minutes: Option<u32>,
    /// `ActionAfterCompletion: DELETE`: delete the schedule once it fires no more.
    pub delete_after: bool,
    /// The members GetSchedule answers, as they were given.
    pub body: Map<String, Value>,
}

/// What a schedule's execution gets as input.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetInput {
    /// This JSON text.
    Fixed(String),
    /// EventBridge's "Scheduled Event" for the due time, or what a JSONPath selects from it:
    /// what a rule made by the Serverless Framework or SAM sends (file-defined schedules).
    Event(Option<String>),
}

/// The member of a recorded schedule holding wasmstep's own settings (never answered by
/// GetSchedule): where a file-defined schedule comes from, and its input kind.
pub const OWN: &str = "wasmstep:Own";

/// What a schedule starts.
#[derive(Debug, Clone)]
pub struct Target {
    pub state_machine: String,
    pub input: TargetInput,
    /// A name the request gave (universal target only); otherwise one per due time.
    pub name: Option<String>,
    pub max_age: u64,
    pub max_attempts: u32,
}

pub fn schedule_arn(group: &str, name: &str) -> String {
    format!("arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/{name}")
}

pub fn group_arn(name: &str) -> String {
    format!("arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{name}")
}

fn validation(message: impl Into<String>) -> ServiceError {
    error("ValidationException", message)
}

/// A timestamp member: epoch seconds (what the SDKs send) or an ISO 8601 string.
fn timestamp(v: &Value, member: &str) -> Result<DateTime<Utc>> {
    let parsed = match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(|s| DateTime::from_timestamp_micros((s * 1e6) as i64)),
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc)),
        _ => None,
    };
    parsed.ok_or_else(|| validation(format!("{member} must be a timestamp, not {v}")))
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_micros() as f64 / 1e6
}

fn from_seconds(s: f64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros((s * 1e6) as i64).unwrap_or_default()
}

impl Schedule {
    /// Validates a CreateSchedule/UpdateSchedule request (or a recorded body) into a schedule.
    pub fn from_request(group: &str, name: &str, request: &Value, created: f64) -> Result<Schedule> {
        let get = |k: &str| request.get(k).filter(|v| !v.is_null());
        let text = get("ScheduleExpression").and_then(Value::as_str).unwrap_or_default();
        let expression = Expression::parse(text).map_err(validation)?;
        let zone_name = get("ScheduleExpressionTimezone")
            .and_then(Value::as_str)
            .unwrap_or("UTC");
        let start = get("StartDate").map(|v| timestamp(v, "StartDate")).transpose()?;
        let end = get("EndDate").map(|v| timestamp(v, "EndDate")).transpose()?;
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            return Err(validation("The EndDate you specify must be after the StartDate."));
        }
        let timing = Timing {
            expression,
            zone: zone(zone_name).map_err(validation)?,
            start,
            end,
            created: from_seconds(created),
        };
        let window = get("FlexibleTimeWindow").cloned().unwrap_or(Value::Null);
        let window_minutes = match window.get("Mode").and_then(Value::as_str) {
            Some("FLEXIBLE") => Some(
                window
                    .get("MaximumWindowInMinutes")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| {
                        validation("MaximumWindowInMinutes is required when FlexibleTimeWindow's Mode is FLEXIBLE")
                    })? as u32,
            ),
            _ => None,
        };
        let enabled = get("State").and_then(Value::as_str) != Some("DISABLED");
        let delete_after = get("ActionAfterCompletion").and_then(Value::as_str) == Some("DELETE");
        let mut target = Target::from_request(get("Target").unwrap_or(&Value::Null))?;
        let mut own = get(OWN).cloned();
        // Kept so a create retried with the same token answers as the first did.
        if let Some(t) = get("ClientToken") {
            own.get_or_insert_with(|| json!({}))["ClientToken"] = t.clone();
        }
        if let Some(o) = &own
            && o.get("ScheduledEvent").and_then(Value::as_bool) == Some(true)
        {
            let path = o.get("InputPath").and_then(Value::as_str).map(str::to_string);
            if let Some(p) = &path {
                crate::path::Path::parse(p).map_err(|e| validation(format!("InputPath: {e}")))?;
            }
            target.input = TargetInput::Event(path);
        }
        let mut body = Map::new();
        for k in [
            "ScheduleExpression",
            "ScheduleExpressionTimezone",
            "Description",
            "KmsKeyArn",
            "Target",
            "FlexibleTimeWindow",
            "ActionAfterCompletion",
        ] {
            if let Some(v) = get(k) {
                body.insert(k.into(), v.clone());
            }
        }
        for (k, v) in [("StartDate", start), ("EndDate", end)] {
            if let Some(t) = v {
                body.insert(k.into(), json!(seconds(t)));
            }
        }
        if let Some(o) = own {
            body.insert(OWN.into(), o);
        }
        Ok(Schedule {
            group: group.to_string(),
            name: name.to_string(),
            timing,
            enabled,
            target,
            window_minutes,
            delete_after,
            body,
        })
    }

    /// The schedule a record holds.
    pub fn from_record(r: &ScheduleRecord) -> Result<Schedule> {
        let mut body: Value =
            serde_json::from_str(&r.body).map_err(|e| error("InternalServerException", e.to_string()))?;
        body["State"] = json!(if r.enabled { "ENABLED" } else { "DISABLED" });
        Schedule::from_request(&r.group, &r.name, &body, r.created)
    }

    pub fn arn(&self) -> String {
        schedule_arn(&self.group, &self.name)
    }

    /// The first due time after `after`.
    pub fn next_after(&self, after: f64) -> Option<f64> {
        self.timing.next_after(from_seconds(after)).map(seconds)
    }

    /// Its record, due next after `after`.
    pub(super) fn record(&self, created: f64, modified: f64, after: f64) -> ScheduleRecord {
        ScheduleRecord {
            group: self.group.clone(),
            name: self.name.clone(),
            body: Value::Object(self.body.clone()).to_string(),
            enabled: self.enabled,
            created,
            modified,
            due: self.next_after(after),
        }
    }
}

impl Target {
    fn from_request(t: &Value) -> Result<Target> {
        let arn = t.get("Arn").and_then(Value::as_str).unwrap_or_default();
        let policy = t.get("RetryPolicy");
        let max_age = policy
            .and_then(|p| p.get("MaximumEventAgeInSeconds"))
            .and_then(Value::as_u64)
            .unwrap_or(MAX_EVENT_AGE);
        let max_attempts = policy
            .and_then(|p| p.get("MaximumRetryAttempts"))
            .and_then(Value::as_u64)
            .map(|n| n as u32)
            .unwrap_or(MAX_ATTEMPTS);
        let input = t.get("Input").and_then(Value::as_str);
        if arn == START_EXECUTION {
            // The request StartExecution takes, as the SDK's own members.
            let request: Value = serde_json::from_str(input.unwrap_or_default()).map_err(|_| {
                validation(format!(
                    "Target.Input must be a StartExecution request in JSON for the target {START_EXECUTION}"
                ))
            })?;
            let machine = request.get("StateMachineArn").and_then(Value::as_str).ok_or_else(|| {
                validation(format!(
                    "Target.Input needs StateMachineArn for the target {START_EXECUTION}"
                ))
            })?;
            return Ok(Target {
                state_machine: machine.to_string(),
                input: TargetInput::Fixed(request.get("Input").and_then(Value::as_str).unwrap_or("{}").to_string()),
                name: request.get("Name").and_then(Value::as_str).map(str::to_string),
                max_age,
                max_attempts,
            });
        }
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        if !matches!(parts.as_slice(), ["arn", _, "states", _, _, "stateMachine", _]) {
            return Err(validation(format!(
                "Target.Arn '{arn}' is not a target wasmstep can invoke: use a state machine ARN (arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:NAME, or one of its versions or aliases) or {START_EXECUTION}"
            )));
        }
        if let Some(i) = input
            && serde_json::from_str::<Value>(i).is_err()
        {
            return Err(validation(
                "Target.Input must be JSON: it becomes the execution's input",
            ));
        }
        Ok(Target {
            state_machine: arn.to_string(),
            input: TargetInput::Fixed(input.unwrap_or("{}").to_string()),
            name: None,
            max_age,
            max_attempts,
        })
    }
}

/// GetSchedule's answer for a record.
pub fn describe(r: &ScheduleRecord) -> Value {
    let mut out: Map<String, Value> = serde_json::from_str(&r.body).unwrap_or_default();
    out.remove(OWN);
    out.insert("Arn".into(), json!(schedule_arn(&r.group, &r.name)));
    out.insert("GroupName".into(), json!(r.group));
    out.insert("Name".into(), json!(r.name));
    out.insert("State".into(), json!(if r.enabled { "ENABLED" } else { "DISABLED" }));
    out.insert("CreationDate".into(), json!(r.created));
    out.insert("LastModificationDate".into(), json!(r.modified));
    out.entry("ScheduleExpressionTimezone").or_insert(json!("UTC"));
    Value::Object(out)
}

/// ListSchedules' summary of a record.
fn summary(r: &ScheduleRecord) -> Value {
    let target = serde_json::from_str::<Value>(&r.body)
        .ok()
        .and_then(|b| b.pointer("/Target/Arn").cloned())
        .unwrap_or(Value::Null);
    json!({
        "Arn": schedule_arn(&r.group, &r.name),
        "GroupName": r.group,
        "Name": r.name,
        "State": if r.enabled { "ENABLED" } else { "DISABLED" },
        "CreationDate": r.created,
        "LastModificationDate": r.modified,
        "Target": {"Arn": target},
    })
}

fn not_found(group: &str, name: &str) -> ServiceError {
    error(
        "ResourceNotFoundException",
        format!("Schedule {name} does not exist in group {group}."),
    )
}

fn group_not_found(group: &str) -> ServiceError {
    error(
        "ResourceNotFoundException",
        format!("Schedule group {group} does not exist."),
    )
}

/// One page of `items` after the token, at most `max`, and the next token.
fn page(items: Vec<Value>, token: Option<&str>, max: usize) -> Result<(Vec<Value>, Option<String>)> {
    let from = match token {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| validation(format!("Invalid NextToken {t}")))?,
        None => 0,
    };
    let rest: Vec<Value> = items.into_iter().skip(from).collect();
    let next = (rest.len() > max).then(|| (from + max).to_string());
    Ok((rest.into_iter().take(max).collect(), next))
}

impl Service {
    /// Whether a group exists (`default` always does).
    async fn group_exists(&self, group: &str) -> Result<bool> {
        if group == DEFAULT_GROUP {
            return Ok(true);
        }
        let groups = self.store.groups().await.map_err(unavailable)?;
        Ok(groups.iter().any(|g| g.name == group))
    }

    async fn require_group(&self, group: &str) -> Result<()> {
        if self.group_exists(group).await? {
            Ok(())
        } else {
            Err(group_not_found(group))
        }
    }

    pub async fn create_schedule(&self, name: &str, request: &Value) -> Result<Value> {
        let group = request
            .get("GroupName")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_GROUP);
        self.require_group(group).await?;
        let now = now_secs();
        let s = Schedule::from_request(group, name, request, now)?;
        if let Some(existing) = self.store.schedule(group, name).await.map_err(unavailable)? {
            // The same request again (an SDK retrying after a lost answer): the same answer.
            let token = request.get("ClientToken").and_then(Value::as_str);
            let made_with = serde_json::from_str::<Value>(&existing.body)
                .ok()
                .and_then(|b| b.pointer(&format!("/{OWN}/ClientToken")).cloned());
            if token.is_some() && made_with.as_ref().and_then(Value::as_str) == token {
                return Ok(json!({"ScheduleArn": s.arn()}));
            }
            return Err(error("ConflictException", format!("Schedule {name} already exists.")));
        }
        let record = s.record(now, now, now);
        self.store.put_schedule(&record);
        self.store.flush().await.map_err(unavailable)?;
        // Two creates of one name at once: the one on record won.
        match self.store.schedule(group, name).await.map_err(unavailable)? {
            Some(r) if r.created == now && r.body == record.body => {}
            _ => return Err(error("ConflictException", format!("Schedule {name} already exists."))),
        }
        self.triggers.changed.notify_one();
        Ok(json!({"ScheduleArn": s.arn()}))
    }

    pub async fn update_schedule(&self, name: &str, request: &Value) -> Result<Value> {
        let group = request
            .get("GroupName")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_GROUP);
        let Some(old) = self.store.schedule(group, name).await.map_err(unavailable)? else {
            return Err(not_found(group, name));
        };
        let now = now_secs();
        let s = Schedule::from_request(group, name, request, old.created)?;
        self.store.replace_schedule(&s.record(old.created, now, now));
        self.store.flush().await.map_err(unavailable)?;
        self.triggers.changed.notify_one();
        Ok(json!({"ScheduleArn": s.arn()}))
    }

    pub async fn get_schedule(&self, name: &str, group: Option<&str>) -> Result<Value> {
        let group = group.unwrap_or(DEFAULT_GROUP);
        match self.store.schedule(group, name).await.map_err(unavailable)? {
            Some(r) => Ok(describe(&r)),
            None => Err(not_found(group, name)),
        }
    }

    pub async fn delete_schedule(&self, name: &str, group: Option<&str>) -> Result<Value> {
        let group = group.unwrap_or(DEFAULT_GROUP);
        if self.store.schedule(group, name).await.map_err(unavailable)?.is_none() {
            return Err(not_found(group, name));
        }
        self.store.delete_schedule(group, name);
        self.store.flush().await.map_err(unavailable)?;
        Ok(json!({}))
    }

    pub async fn list_schedules(&self, request: &Value) -> Result<Value> {
        let s = |k: &str| request.get(k).and_then(Value::as_str);
        let group = s("GroupName");
        if let Some(g) = group {
            self.require_group(g).await?;
        }
        let all = self.store.schedules(group).await.map_err(unavailable)?;
        let wanted_state = s("State");
        let items: Vec<Value> = all
            .iter()
            .filter(|r| s("NamePrefix").is_none_or(|p| r.name.starts_with(p)))
            .filter(|r| wanted_state.is_none_or(|w| (w == "ENABLED") == r.enabled))
            .map(summary)
            .collect();
        let max = request.get("MaxResults").and_then(Value::as_u64).unwrap_or(100) as usize;
        let (items, next) = page(items, s("NextToken"), max)?;
        let mut out = json!({"Schedules": items});
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok(out)
    }

    pub async fn create_schedule_group(&self, name: &str, request: &Value) -> Result<Value> {
        if self.group_exists(name).await? {
            return Err(error(
                "ConflictException",
                format!("Schedule group {name} already exists."),
            ));
        }
        self.store.put_group(&GroupRecord {
            name: name.to_string(),
            created: now_secs(),
        });
        let arn = group_arn(name);
        for t in request.get("Tags").and_then(Value::as_array).into_iter().flatten() {
            if let (Some(k), Some(v)) = (
                t.get("Key").and_then(Value::as_str),
                t.get("Value").and_then(Value::as_str),
            ) {
                self.store.put_tag(&arn, k, v);
            }
        }
        self.store.flush().await.map_err(unavailable)?;
        Ok(json!({"ScheduleGroupArn": arn}))
    }

    /// Every group, `default` first, as GetScheduleGroup answers each.
    async fn all_groups(&self) -> Result<Vec<Value>> {
        let mut out = vec![group_json(DEFAULT_GROUP, 0.0)];
        for g in self.store.groups().await.map_err(unavailable)? {
            out.push(group_json(&g.name, g.created));
        }
        Ok(out)
    }

    pub async fn get_schedule_group(&self, name: &str) -> Result<Value> {
        self.all_groups()
            .await?
            .into_iter()
            .find(|g| g["Name"] == name)
            .ok_or_else(|| group_not_found(name))
    }

    pub async fn delete_schedule_group(&self, name: &str) -> Result<Value> {
        if name == DEFAULT_GROUP {
            return Err(validation("The default schedule group cannot be deleted."));
        }
        self.require_group(name).await?;
        self.store.delete_group(name);
        let arn = group_arn(name);
        for (k, _) in self.store.tags(&arn).await.map_err(unavailable)? {
            self.store.delete_tag(&arn, &k);
        }
        self.store.flush().await.map_err(unavailable)?;
        Ok(json!({}))
    }

    pub async fn list_schedule_groups(&self, request: &Value) -> Result<Value> {
        let prefix = request.get("NamePrefix").and_then(Value::as_str);
        let items: Vec<Value> = self
            .all_groups()
            .await?
            .into_iter()
            .filter(|g| prefix.is_none_or(|p| g["Name"].as_str().is_some_and(|n| n.starts_with(p))))
            .collect();
        let max = request.get("MaxResults").and_then(Value::as_u64).unwrap_or(100) as usize;
        let (items, next) = page(items, request.get("NextToken").and_then(Value::as_str), max)?;
        let mut out = json!({"ScheduleGroups": items});
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok(out)
    }

    /// The group a Scheduler ARN names, when it exists (tags are kept on groups only).
    pub async fn tagged_group(&self, arn: &str) -> Result<String> {
        let name = arn.rsplit_once(":schedule-group/").map(|(_, n)| n).unwrap_or_default();
        if name.is_empty() || arn != group_arn(name) || !self.group_exists(name).await? {
            return Err(error(
                "ResourceNotFoundException",
                format!("Resource {arn} does not exist."),
            ));
        }
        Ok(arn.to_string())
    }
}

fn group_json(name: &str, created: f64) -> Value {
    json!({
        "Arn": group_arn(name),
        "Name": name,
        "State": "ACTIVE",
        "CreationDate": created,
        "LastModificationDate": created,
    })
}

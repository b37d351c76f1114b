//! State machine aliases (Create/Describe/Update/Delete/ListStateMachineAliases): a name,
//! `<state machine ARN>:<alias>`, for one or two versions of a state machine with the share of
//! starts each gets. StartExecution through an alias picks a version by those weights and
//! records the alias on the execution; a version an alias routes to cannot be deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::Machine;
use super::versions::split_version;
use crate::daemon::error::{Result, ServiceError, error, unavailable};
use crate::daemon::service::{Service, now_secs};
use crate::store::AliasRecord;

/// Starts through aliases so far (this process): where each takes its place in the split.
static STARTS: AtomicU64 = AtomicU64::new(0);

/// What AWS's model says an alias name is (the regex crate has no look-ahead, so it is checked
/// here by hand).
const NAME_PATTERN: &str = "^(?=.*[a-zA-Z_\\-\\.])[a-zA-Z0-9_\\-\\.]+$";

/// `…:stateMachine:NAME:ALIAS` -> (`…:stateMachine:NAME`, ALIAS); None for a state machine or
/// version ARN.
pub fn split_alias(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(8, ':').collect();
    if parts.len() != 8 || parts[5] != "stateMachine" || parts[7].parse::<u64>().is_ok() || parts[7].is_empty() {
        return None;
    }
    let (base, alias) = arn.rsplit_once(':')?;
    Some((base, alias))
}

fn not_found(arn: &str) -> ServiceError {
    error("ResourceNotFound", format!("Resource not found: '{arn}'"))
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 80
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && name.chars().any(|c| c.is_ascii_alphabetic() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(error(
            "ValidationException",
            format!(
                "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}"
            ),
        ))
    }
}

/// A routing configuration: (version ARN, weight), one or two, weights adding up to 100.
type Routing = Vec<(String, u64)>;

fn parse_routing(v: &Value) -> Result<Routing> {
    let items = v
        .as_array()
        .ok_or_else(|| error("ValidationException", "routingConfiguration must be a list"))?;
    let routing: Routing = items
        .iter()
        .map(|i| {
            (
                i["stateMachineVersionArn"].as_str().unwrap_or_default().to_string(),
                i["weight"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    if routing.iter().map(|(_, w)| w).sum::<u64>() != 100 {
        return Err(error(
            "ValidationException",
            "The sum of the weights in the routing configuration must be equal to 100.",
        ));
    }
    if routing.len() == 2 && routing[0].0 == routing[1].0 {
        return Err(error(
            "ValidationException",
            "The routing configuration must not name the same version twice.",
        ));
    }
    Ok(routing)
}

fn routing_json(routing: &Routing) -> Value {
    Value::Array(
        routing
            .iter()
            .map(|(arn, w)| json!({"stateMachineVersionArn": arn, "weight": w}))
            .collect(),
    )
}

fn describe(a: &AliasRecord) -> Value {
    let mut v = json!({
        "stateMachineAliasArn": format!("{}:{}", a.machine_arn, a.name),
        "name": a.name,
        "routingConfiguration": serde_json::from_str::<Value>(&a.routing).unwrap_or(Value::Null),
        "creationDate": a.created,
        "updateDate": a.updated,
    });
    if let Some(d) = &a.description {
        v["description"] = json!(d);
    }
    v
}

impl Service {
    /// Checks that every version of a routing belongs to one state machine and exists; that
    /// state machine's ARN.
    async fn check_routing(&self, routing: &Routing) -> Result<String> {
        let mut machine: Option<&str> = None;
        for (arn, _) in routing {
            let Some((base, n)) = split_version(arn) else {
                return Err(error("InvalidArn", format!("Invalid Arn: '{arn}'")));
            };
            if machine.is_some_and(|m| m != base) {
                return Err(error(
                    "ValidationException",
                    "The versions of a routing configuration must belong to the same state machine.",
                ));
            }
            machine = Some(base);
            self.machine_fresh(base).await.map_err(|_| not_found(arn))?;
            if self.store.version(base, n).await.map_err(unavailable)?.is_none() {
                return Err(not_found(arn));
            }
        }
        machine
            .map(str::to_string)
            .ok_or_else(|| error("ValidationException", "routingConfiguration is empty"))
    }

    async fn alias_record(&self, arn: &str) -> Result<AliasRecord> {
        let Some((base, name)) = split_alias(arn) else {
            return Err(error("InvalidArn", format!("Invalid Arn: '{arn}'")));
        };
        let all = self.store.aliases(base).await.map_err(unavailable)?;
        all.into_iter().find(|a| a.name == name).ok_or_else(|| not_found(arn))
    }

    /// CreateStateMachineAlias: the alias ARN and its creation date. Creating the same alias
    /// again with the same configuration answers the first; with another, ConflictException.
    pub async fn create_alias(&self, name: &str, description: Option<&str>, routing: &Value) -> Result<(String, f64)> {
        check_name(name)?;
        let routing = parse_routing(routing)?;
        let machine = self.check_routing(&routing).await?;
        let arn = format!("{machine}:{name}");
        let routing_text = routing_json(&routing).to_string();
        let existing = self.store.aliases(&machine).await.map_err(unavailable)?;
        if let Some(a) = existing.iter().find(|a| a.name == name) {
            if a.routing == routing_text && a.description.as_deref() == description {
                return Ok((arn, a.created));
            }
            return Err(error(
                "ConflictException",
                format!(
                    "Failed to create alias because an alias with the same name and a different routing configuration already exists: '{arn}'"
                ),
            ));
        }
        let now = now_secs();
        self.store.put_alias(&AliasRecord {
            machine_arn: machine,
            name: name.to_string(),
            description: description.map(str::to_string),
            routing: routing_text,
            created: now,
            updated: now,
        });
        self.store.flush().await.map_err(unavailable)?;
        Ok((arn, now))
    }

    pub async fn describe_alias(&self, arn: &str) -> Result<Value> {
        Ok(describe(&self.alias_record(arn).await?))
    }

    /// UpdateStateMachineAlias: the update date.
    pub async fn update_alias(&self, arn: &str, description: Option<&str>, routing: Option<&Value>) -> Result<f64> {
        if description.is_none() && routing.is_none() {
            return Err(error(
                "ValidationException",
                "Either the description or the RoutingConfiguration must be specified",
            ));
        }
        let mut a = self.alias_record(arn).await?;
        if let Some(r) = routing {
            let routing = parse_routing(r)?;
            if self.check_routing(&routing).await? != a.machine_arn {
                return Err(error(
                    "ValidationException",
                    "An alias can only route to versions of its own state machine.",
                ));
            }
            a.routing = routing_json(&routing).to_string();
        }
        if let Some(d) = description {
            a.description = Some(d.to_string());
        }
        a.updated = now_secs();
        self.store.put_alias(&a);
        self.store.flush().await.map_err(unavailable)?;
        Ok(a.updated)
    }

    pub async fn delete_alias(&self, arn: &str) -> Result<()> {
        let a = self.alias_record(arn).await?;
        self.store.delete_alias(&a.machine_arn, &a.name);
        self.store.flush().await.map_err(unavailable)?;
        Ok(())
    }

    /// A state machine's aliases, by name: (alias ARN, creation date).
    pub async fn list_aliases(&self, machine_arn: &str) -> Result<Vec<(String, f64)>> {
        self.machine_fresh(machine_arn).await?;
        let all = self.store.aliases(machine_arn).await.map_err(unavailable)?;
        Ok(all
            .into_iter()
            .map(|a| (format!("{machine_arn}:{}", a.name), a.created))
            .collect())
    }

    /// The aliases that route to a version (a version they name cannot be deleted).
    pub(crate) async fn aliases_of_version(&self, version_arn: &str) -> Result<Vec<String>> {
        let Some((base, _)) = split_version(version_arn) else {
            return Ok(Vec::new());
        };
        let all = self.store.aliases(base).await.map_err(unavailable)?;
        Ok(all
            .into_iter()
            .filter(|a| a.routing.contains(&format!("\"{version_arn}\"")))
            .map(|a| format!("{base}:{}", a.name))
            .collect())
    }

    /// What a start names: a state machine, a version, or an alias (a version picked by the
    /// alias's weights), and the alias when it was one.
    pub async fn resolve_start(&self, arn: &str) -> Result<(Arc<Machine>, Option<String>)> {
        if split_alias(arn).is_none() {
            return Ok((self.resolve(arn).await?, None));
        }
        let a = self.alias_record(arn).await.map_err(|e| match e.kind {
            "ResourceNotFound" => error(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            ),
            _ => e,
        })?;
        let routing: Vec<(String, u64)> = serde_json::from_str::<Value>(&a.routing)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|i| {
                (
                    i["stateMachineVersionArn"].as_str().unwrap_or_default().to_string(),
                    i["weight"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        // Every start takes the next point of a permutation of 0..100 (a stride prime to 100):
        // each hundred starts through an alias split exactly by its weights, well mixed.
        let mut pick = (STARTS.fetch_add(1, Ordering::Relaxed) * 61 + 7) % 100;
        let mut chosen = routing.first().map(|(v, _)| v.clone()).unwrap_or_default();
        for (version, weight) in &routing {
            if pick < *weight {
                chosen = version.clone();
                break;
            }
            pick -= weight;
        }
        Ok((self.resolve(&chosen).await?, Some(arn.to_string())))
    }
}

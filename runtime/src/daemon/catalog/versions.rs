//! State machine versions (PublishStateMachineVersion, ListStateMachineVersions,
//! DeleteStateMachineVersion, `publish` on UpdateStateMachine): numbered, immutable snapshots of a
//! definition, addressed as `<state machine ARN>:<n>`, which DescribeStateMachine and
//! StartExecution accept wherever a state machine ARN goes.

use std::sync::Arc;

use super::{Machine, compile};
use crate::daemon::error::{ServiceError, error, unavailable};
use crate::daemon::service::Service;
use crate::store::VersionRecord;

type Result<T> = std::result::Result<T, ServiceError>;

/// `…:stateMachine:NAME:N` -> (`…:stateMachine:NAME`, N); None for an unversioned ARN.
pub fn split_version(arn: &str) -> Option<(&str, u64)> {
    let (base, n) = arn.rsplit_once(':')?;
    if !base.contains(":stateMachine:") || base.ends_with(":stateMachine") {
        return None;
    }
    n.parse().ok().map(|n| (base, n))
}

impl Service {
    /// A state machine or one of its versions.
    pub async fn resolve(&self, arn: &str) -> Result<Arc<Machine>> {
        let Some((base, n)) = split_version(arn) else {
            return self.machine_fresh(arn).await;
        };
        if let Some(m) = self.cached_version(arn) {
            return Ok(m);
        }
        let m = self.machine_fresh(base).await?;
        let Some(VersionRecord {
            definition,
            role_arn,
            created,
            ..
        }) = self.store.version(base, n).await.map_err(unavailable)?
        else {
            return Err(error(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            ));
        };
        let compiled = Arc::new(compile(&definition, m.machine_type)?);
        let v = Arc::new(Machine {
            arn: arn.to_string(),
            name: m.name.clone(),
            machine_type: m.machine_type,
            definition,
            role_arn,
            created,
            compiled,
        });
        self.cache_version(v.clone());
        Ok(v)
    }

    /// Publishes the current definition as the next version; publishing an unchanged
    /// definition again returns the latest version.
    pub async fn publish_version(&self, arn: &str, description: Option<&str>) -> Result<(String, f64)> {
        let m = self.machine(arn)?;
        if description.is_some_and(|d| d.chars().count() > 256) {
            return Err(error(
                "ValidationException",
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256",
            ));
        }
        let latest = self.store.versions(arn).await.map_err(unavailable)?;
        let next = match latest.into_iter().next() {
            Some(v) if v.definition == m.definition && v.role_arn == m.role_arn => {
                return Ok((format!("{arn}:{}", v.version), v.created));
            }
            Some(v) => v.version + 1,
            None => 1,
        };
        let created = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
        self.store.put_version(&VersionRecord {
            machine_arn: arn.to_string(),
            version: next,
            definition: m.definition.clone(),
            role_arn: m.role_arn.clone(),
            description: description.map(str::to_string),
            created,
        });
        self.store.flush().await.map_err(unavailable)?;
        Ok((format!("{arn}:{next}"), created))
    }

    /// Versions of a state machine, newest first: (version ARN, creation date).
    pub async fn list_versions(&self, arn: &str) -> Result<Vec<(String, f64)>> {
        self.machine(arn)?;
        let versions = self.store.versions(arn).await.map_err(unavailable)?;
        Ok(versions
            .into_iter()
            .map(|v| (format!("{arn}:{}", v.version), v.created))
            .collect())
    }

    pub async fn delete_version(&self, version_arn: &str) -> Result<()> {
        let Some((base, n)) = split_version(version_arn) else {
            return Err(error(
                "InvalidArn",
                format!("Invalid Arn: 'Resource type not valid in this context: {version_arn}'"),
            ));
        };
        let aliases = self.aliases_of_version(version_arn).await?;
        if !aliases.is_empty() {
            return Err(error(
                "ConflictException",
                format!(
                    "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [{}]",
                    aliases.join(", ")
                ),
            ));
        }
        self.store.delete_version(base, n);
        self.store.flush().await.map_err(unavailable)?;
        self.forget_version(version_arn);
        Ok(())
    }
}

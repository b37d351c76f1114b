//! State machine versions (PublishStateMachineVersion, ListStateMachineVersions,
//! DeleteStateMachineVersion, `publish` on UpdateStateMachine): numbered, immutable snapshots of a
//! definition, addressed as `<state machine ARN>:<n>`, which DescribeStateMachine and
//! StartExecution accept wherever a state machine ARN goes.

use std::sync::Arc;

use rusqlite::types::Value as Sql;

use super::{Machine, compile};
use crate::daemon::error::{ServiceError, error, unavailable};
use crate::daemon::service::Service;
use crate::store::ExecutionStore;

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
    pub fn resolve(&self, arn: &str) -> Result<Arc<Machine>> {
        let Some((base, n)) = split_version(arn) else {
            return self.machine(arn);
        };
        if let Some(m) = self.cached_version(arn) {
            return Ok(m);
        }
        let m = self.machine(base)?;
        let rows = self
            .store
            .read(
                "SELECT definition, role_arn, created FROM versions WHERE machine_arn = ?1 AND version = ?2",
                &[Sql::Text(base.to_string()), Sql::Integer(n as i64)],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, f64>(2)?)),
            )
            .map_err(unavailable)?;
        let Some((definition, role_arn, created)) = rows.into_iter().next() else {
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
        let latest = self
            .store
            .read(
                "SELECT version, definition, role_arn, created FROM versions WHERE machine_arn = ?1 ORDER BY version DESC LIMIT 1",
                &[Sql::Text(arn.to_string())],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, f64>(3)?)),
            )
            .map_err(unavailable)?;
        let next = match latest.into_iter().next() {
            Some((n, d, r, created)) if d == m.definition && r == m.role_arn => {
                return Ok((format!("{arn}:{n}"), created));
            }
            Some((n, ..)) => n + 1,
            None => 1,
        };
        let created = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
        self.store.write(
            "INSERT INTO versions (machine_arn, version, definition, role_arn, description, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![
                Sql::Text(arn.to_string()),
                Sql::Integer(next),
                Sql::Text(m.definition.clone()),
                Sql::Text(m.role_arn.clone()),
                description.map(|d| Sql::Text(d.to_string())).unwrap_or(Sql::Null),
                Sql::Real(created),
            ],
        );
        self.store.flush().await.map_err(unavailable)?;
        Ok((format!("{arn}:{next}"), created))
    }

    /// Versions of a state machine, newest first: (version ARN, creation date).
    pub fn list_versions(&self, arn: &str) -> Result<Vec<(String, f64)>> {
        self.machine(arn)?;
        self.store
            .read(
                "SELECT version, created FROM versions WHERE machine_arn = ?1 ORDER BY version DESC",
                &[Sql::Text(arn.to_string())],
                |r| Ok((format!("{arn}:{}", r.get::<_, i64>(0)?), r.get::<_, f64>(1)?)),
            )
            .map_err(unavailable)
    }

    pub async fn delete_version(&self, version_arn: &str) -> Result<()> {
        let Some((base, n)) = split_version(version_arn) else {
            return Err(error(
                "InvalidArn",
                format!("Invalid Arn: 'Resource type not valid in this context: {version_arn}'"),
            ));
        };
        self.store.write(
            "DELETE FROM versions WHERE machine_arn = ?1 AND version = ?2",
            vec![Sql::Text(base.to_string()), Sql::Integer(n as i64)],
        );
        self.store.flush().await.map_err(unavailable)?;
        self.forget_version(version_arn);
        Ok(())
    }
}

//! State machines: create, update, delete, look up and list them, and the cache of compiled
//! versions.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Machine, compile, type_name};
use crate::asl::MachineType;
use crate::daemon::arns::{arn_rest, check_name, machine_arn};
use crate::daemon::error::{Result, error, unavailable};
use crate::daemon::service::{Service, now_secs};
use crate::store::MachineRecord;

impl Service {
    pub(in crate::daemon) fn machines(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Machine>>> {
        self.machines.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn cached_version(&self, arn: &str) -> Option<Arc<Machine>> {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(arn)
            .cloned()
    }

    pub(crate) fn cache_version(&self, m: Arc<Machine>) {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(m.arn.clone(), m);
    }

    pub(crate) fn forget_version(&self, arn: &str) {
        self.versions.lock().unwrap_or_else(|e| e.into_inner()).remove(arn);
    }

    /// A state machine (shared, not copied: StartExecution looks one up per request).
    pub fn machine(&self, arn: &str) -> Result<Arc<Machine>> {
        arn_rest(arn, "stateMachine")?;
        self.machines().get(arn).cloned().ok_or_else(|| {
            error(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            )
        })
    }

    /// A state machine, looking again at the store when this node does not know it (another
    /// node may have just created it).
    pub async fn machine_fresh(&self, arn: &str) -> Result<Arc<Machine>> {
        match self.machine(arn) {
            Ok(m) => Ok(m),
            Err(e) if e.kind == "StateMachineDoesNotExist" => {
                self.refresh_catalog().await;
                self.machine(arn)
            }
            Err(e) => Err(e),
        }
    }

    pub async fn create_machine(
        &self,
        name: &str,
        definition: &str,
        role_arn: &str,
        t: MachineType,
    ) -> Result<Arc<Machine>> {
        check_name(name)?;
        let compiled = compile(definition, t)?;
        // Another node may have created it.
        self.refresh_catalog().await;
        let arn = machine_arn(name);
        if let Some(existing) = self.machines().get(&arn) {
            if existing.definition == definition && existing.machine_type == t {
                return Ok(existing.clone());
            }
            return Err(error(
                "StateMachineAlreadyExists",
                format!("State Machine Already Exists: '{arn}'"),
            ));
        }
        let m = Machine {
            arn: arn.clone(),
            name: name.to_string(),
            machine_type: t,
            definition: definition.to_string(),
            role_arn: role_arn.to_string(),
            created: now_secs(),
            compiled: Arc::new(compiled),
        };
        self.store.put_machine(&MachineRecord {
            arn: arn.clone(),
            name: m.name.clone(),
            machine_type: type_name(t).to_string(),
            definition: m.definition.clone(),
            role_arn: m.role_arn.clone(),
            created: m.created,
        });
        self.store.flush().await.map_err(unavailable)?;
        let m = Arc::new(m);
        self.machines().insert(arn, m.clone());
        Ok(m)
    }

    pub async fn update_machine(&self, arn: &str, definition: Option<&str>, role_arn: Option<&str>) -> Result<f64> {
        let mut m = Machine::clone(&*self.machine_fresh(arn).await?);
        if definition.is_none() && role_arn.is_none() {
            return Err(error(
                "MissingRequiredParameter",
                "Either the definition or the roleArn must be specified.",
            ));
        }
        if let Some(d) = definition {
            m.compiled = Arc::new(compile(d, m.machine_type)?);
            m.definition = d.to_string();
        }
        if let Some(r) = role_arn {
            m.role_arn = r.to_string();
        }
        let updated = now_secs();
        self.store.update_machine(arn, &m.definition, &m.role_arn, updated);
        self.store.flush().await.map_err(unavailable)?;
        self.machines().insert(arn.to_string(), Arc::new(m));
        Ok(updated)
    }

    pub async fn delete_machine(&self, arn: &str) -> Result<()> {
        self.machine_fresh(arn).await?;
        self.store.delete_machine(arn);
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| crate::daemon::catalog::versions::split_version(k).is_none_or(|(b, _)| b != arn));
        self.store.flush().await.map_err(unavailable)?;
        self.machines().remove(arn);
        // Its finished executions go now, the running ones when they end (as on AWS).
        self.sweep.notify_one();
        Ok(())
    }

    pub fn list_machines(&self) -> Vec<Arc<Machine>> {
        let mut v: Vec<Arc<Machine>> = self.machines().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

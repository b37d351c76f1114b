//! Workflow variables: one scope per `States` object, reading outer scopes as snapshots.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

/// The variables visible in one scope. Cloning is cheap (shared, copy-on-write), which is how
/// a Parallel branch or Map iteration gets a snapshot of its parent's variables at entry.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    local: Arc<HashMap<String, Value>>,
    outer: Option<Arc<Vars>>,
}

impl Vars {
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self.local.get(name) {
            Some(v) => Some(v),
            None => self.outer.as_ref().and_then(|o| o.get(name)),
        }
    }

    /// A child scope that reads this one as it is now.
    pub fn child(&self) -> Vars {
        Vars {
            local: Arc::default(),
            outer: Some(Arc::new(self.clone())),
        }
    }

    /// Applies one `Assign` block's results (all evaluated before any is written).
    pub fn assign(&mut self, values: Vec<(String, Value)>) {
        if values.is_empty() {
            return;
        }
        let local = Arc::make_mut(&mut self.local);
        for (k, v) in values {
            local.insert(k, v);
        }
    }
}

//! Whether a backend's writes go through now, shared by its writer and its readers
//! (`/healthz`, the API's fail-fast check).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::StoreError;

/// Whether the last commit went through.
#[derive(Default)]
pub(crate) struct WriteHealth {
    pub(crate) failing: AtomicBool,
    pub(crate) reason: Mutex<String>,
}

impl WriteHealth {
    pub(crate) fn failed(&self, e: &StoreError) {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner()) = e.0.clone();
        self.failing.store(true, Ordering::Release);
    }

    pub(crate) fn recovered(&self) {
        self.failing.store(false, Ordering::Release);
    }

    /// `Err(why)` while commits fail.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::Acquire) {
            return Err(StoreError(
                self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            ));
        }
        Ok(())
    }
}

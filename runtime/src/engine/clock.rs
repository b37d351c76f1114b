//! Time for the engine: a real clock, or a virtual one that makes waits instant.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

/// Where the engine reads the time and sleeps. Waits and retry delays go through it, so
/// tests and `--skip-waits` do not sleep.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves once `now() >= deadline`.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// Wall-clock time and real sleeps.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let wait = (deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// Starts at the wall-clock time and jumps forward instead of sleeping.
#[derive(Debug, Default)]
pub struct VirtualClock {
    /// How far ahead of the wall clock this clock is, in microseconds. Atomic, because every
    /// transition of every execution reads it.
    offset_us: AtomicI64,
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::microseconds(self.offset_us.load(Ordering::Relaxed));
        Utc::now()
            .checked_add_signed(offset)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let ahead = (deadline - self.now()).num_microseconds().unwrap_or(i64::MAX / 4);
        if ahead > 0 {
            let _ = self
                .offset_us
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| Some(o.saturating_add(ahead)));
        }
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_clock_jumps() {
        let c = VirtualClock::default();
        let start = c.now();
        c.sleep_until(start + chrono::Duration::seconds(3600)).await;
        assert!(c.now() - start >= chrono::Duration::seconds(3600));
    }
}

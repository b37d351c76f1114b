//! Tasks that wait on the world outside, as the daemon serves them: task tokens answered with
//! SendTaskSuccess/Failure/Heartbeat (`tokens.rs`), activities and their workers' long polls
//! (`activities.rs`), nested executions (`nested.rs`). Everything is in the store's token
//! table (`store::tokens`); this module only wakes the Task or poller a change concerns, on
//! this node at once and on a shared store within `SHARED_POLL`.

pub mod activities;
pub mod nested;
pub mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::Notify;

use super::service::{Service, now_secs};
use crate::asl::ErrorName;
use crate::engine::error::AslError;
use crate::engine::outside::{Answer, Outside, TokenView, Waiting};
use crate::path::context::ExecutionInfo;
use crate::store::{TokenChange, TokenRecord};

/// How often a wait looks at its token again when another node may have answered it (a
/// PostgreSQL store shared by several daemons).
const SHARED_POLL: Duration = Duration::from_secs(1);
/// The same when only this daemon answers (every change wakes the wait at once): a backstop.
const LOCAL_POLL: Duration = Duration::from_secs(30);

/// Who to wake when a token or an activity's queue changes.
#[derive(Default)]
pub struct Waits {
    tokens: Mutex<HashMap<String, Arc<Notify>>>,
    activities: Mutex<HashMap<String, Arc<Notify>>>,
    /// Express children a `.sync` Task started (they run in memory, to their end, when
    /// started): their answer until the parent waits for it, right after.
    express: Mutex<HashMap<String, Answer>>,
}

fn entry(map: &Mutex<HashMap<String, Arc<Notify>>>, key: &str) -> Arc<Notify> {
    map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_string())
        .or_default()
        .clone()
}

impl Waits {
    /// Wakes the Task waiting on `token` here, if one is (or keeps the wake-up for it).
    pub fn token_changed(&self, token: &str) {
        if let Some(n) = self.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(token) {
            n.notify_one();
        }
    }

    /// Wakes one poller of `activity`: a task was queued for it.
    pub fn task_queued(&self, activity: &str) {
        entry(&self.activities, activity).notify_one();
    }

    pub(super) fn token_notify(&self, token: &str) -> Arc<Notify> {
        entry(&self.tokens, token)
    }

    pub(super) fn activity_notify(&self, activity: &str) -> Arc<Notify> {
        entry(&self.activities, activity)
    }

    pub(super) fn express_done(&self, arn: &str, answer: Answer) {
        self.express
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(arn.to_string(), answer);
    }

    pub(super) fn express_ended(&self, arn: &str) -> Option<Answer> {
        self.express.lock().unwrap_or_else(|e| e.into_inner()).remove(arn)
    }

    fn forget(&self, token: &str) {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
    }
}

/// A token as the engine sees it.
pub(super) fn view(t: &TokenRecord) -> TokenView {
    TokenView {
        answer: t.answer.as_deref().map(Answer::from_text),
        closed: t.closed,
        worker: t.worker.clone().zip(t.started),
        heartbeat: t.heartbeat,
    }
}

fn store_failed(e: impl std::fmt::Display) -> AslError {
    AslError::new(
        ErrorName::Runtime,
        format!("The Task's token could not be recorded: {e}"),
    )
}

/// The engine's door to the daemon (`engine::outside::Outside`), one per service.
pub struct Door {
    pub(super) svc: Weak<Service>,
    /// Whether other nodes may change tokens (a shared store): waits look again every
    /// `SHARED_POLL`.
    pub(super) shared: bool,
}

impl Door {
    fn svc(&self) -> Result<Arc<Service>, String> {
        self.svc.upgrade().ok_or_else(|| "the daemon is stopping".to_string())
    }
}

impl Outside for Door {
    fn open<'a>(
        &'a self,
        execution: &'a str,
        token: &'a str,
        waiting: Waiting<'a>,
    ) -> BoxFuture<'a, Result<(), AslError>> {
        Box::pin(async move {
            let svc = self.svc().map_err(store_failed)?;
            let mut t = TokenRecord {
                token: token.to_string(),
                execution: execution.to_string(),
                activity: None,
                input: None,
                child: None,
                created: now_secs(),
                worker: None,
                started: None,
                heartbeat: None,
                answer: None,
                closed: false,
            };
            match waiting {
                Waiting::Callback => {}
                Waiting::Activity { arn, input } => {
                    if !svc.activity_exists(arn).await.map_err(store_failed)? {
                        return Err(AslError::new(
                            ErrorName::Runtime,
                            format!("The activity {arn} does not exist."),
                        ));
                    }
                    t.activity = Some(arn.to_string());
                    t.input = Some(input.to_string());
                }
                Waiting::Child { arn } => t.child = Some(arn.to_string()),
            }
            svc.store.put_token(&t);
            svc.store.flush().await.map_err(store_failed)?;
            match waiting {
                Waiting::Activity { arn, .. } => svc.waits.task_queued(arn),
                // The child may have ended before its parent waited for it (an Express child
                // always has: it ran when it was started).
                Waiting::Child { arn } => match svc.waits.express_ended(arn) {
                    Some(answer) => svc.answer_waiting(arn, answer).await,
                    None => svc.child_ended(arn).await,
                },
                Waiting::Callback => {}
            }
            Ok(())
        })
    }

    fn look<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenView, String>> {
        Box::pin(async move {
            let svc = self.svc()?;
            match svc.store.token(token).await.map_err(|e| e.to_string())? {
                Some(t) => Ok(view(&t)),
                None => Err(format!("the task token of this Task is not on record ({token})")),
            }
        })
    }

    fn changed<'a>(&'a self, token: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Ok(svc) = self.svc() else {
                return std::future::pending().await;
            };
            let notify = svc.waits.token_notify(token);
            let poll = if self.shared { SHARED_POLL } else { LOCAL_POLL };
            let _ = tokio::time::timeout(poll, notify.notified()).await;
        })
    }

    fn close<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenView, String>> {
        Box::pin(async move {
            let svc = self.svc()?;
            match svc.store.change_token(token, TokenChange::Close).await {
                Ok(Ok(t)) => Ok(view(&t)),
                Ok(Err(_)) => Err(format!("the task token of this Task is not on record ({token})")),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn forget(&self, token: &str) {
        if let Some(svc) = self.svc.upgrade() {
            svc.waits.forget(token);
        }
    }

    fn start_execution<'a>(
        &'a self,
        parent: &'a ExecutionInfo,
        params: &'a Value,
        name: &'a str,
        sync: bool,
    ) -> BoxFuture<'a, Result<Value, AslError>> {
        Box::pin(async move {
            let svc = self.svc().map_err(store_failed)?;
            svc.start_child(parent, params, name, sync).await
        })
    }
}

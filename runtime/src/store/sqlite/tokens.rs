//! Task tokens and activities in SQLite. The daemon is the file's only writer, so a change
//! reads the token, queues its write and waits for the flush while holding one lock: the
//! next change reads what this one wrote.

use rusqlite::types::Value as Sql;

use super::{SqliteStore, ready};
use crate::store::ExecutionStore;
use crate::store::catalog::Read;
use crate::store::tokens::{ActivityRecord, TokenChange, TokenRecord, TokenRefusal, Tokens};

const TOKEN_COLUMNS: &str =
    "SELECT token, execution, activity, input, child, created, worker, started, heartbeat, answer, closed FROM tokens";

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        token: r.get(0)?,
        execution: r.get(1)?,
        activity: r.get(2)?,
        input: r.get(3)?,
        child: r.get(4)?,
        created: r.get(5)?,
        worker: r.get(6)?,
        started: r.get(7)?,
        heartbeat: r.get(8)?,
        answer: r.get(9)?,
        closed: r.get::<_, i64>(10)? != 0,
    })
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

fn opt(v: &Option<String>) -> Sql {
    v.clone().map(Sql::Text).unwrap_or(Sql::Null)
}

impl SqliteStore {
    fn tokens_where(&self, cond: &str, arg: &str) -> Result<Vec<TokenRecord>, crate::store::StoreError> {
        self.read(&format!("{TOKEN_COLUMNS} WHERE {cond}"), &[text(arg)], token_row)
    }
}

impl Tokens for SqliteStore {
    fn put_token(&self, t: &TokenRecord) {
        self.write(
            "INSERT OR IGNORE INTO tokens (token, execution, activity, input, child, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![
                text(&t.token),
                text(&t.execution),
                opt(&t.activity),
                opt(&t.input),
                opt(&t.child),
                Sql::Real(t.created),
            ],
        );
    }

    fn token<'a>(&'a self, token: &'a str) -> Read<'a, Option<TokenRecord>> {
        ready(self.tokens_where("token = ?1", token).map(|mut v| v.pop()))
    }

    fn change_token<'a>(&'a self, token: &'a str, change: TokenChange) -> Read<'a, Result<TokenRecord, TokenRefusal>> {
        Box::pin(async move {
            let _one_at_a_time = self.tokens.lock().await;
            let Some(mut t) = self.tokens_where("token = ?1", token)?.pop() else {
                return Ok(Err(TokenRefusal::Unknown));
            };
            let settled = t.answer.is_some() || t.closed;
            match change {
                TokenChange::Answer(_) | TokenChange::Heartbeat(_) if settled => return Ok(Err(TokenRefusal::Settled)),
                TokenChange::Close if settled => return Ok(Ok(t)),
                TokenChange::Answer(a) => {
                    self.write(
                        "UPDATE tokens SET answer = ?2 WHERE token = ?1",
                        vec![text(token), text(&a)],
                    );
                    t.answer = Some(a);
                }
                TokenChange::Heartbeat(at) => {
                    self.write(
                        "UPDATE tokens SET heartbeat = ?2 WHERE token = ?1",
                        vec![text(token), Sql::Real(at)],
                    );
                    t.heartbeat = Some(at);
                }
                TokenChange::Close => {
                    self.write("UPDATE tokens SET closed = 1 WHERE token = ?1", vec![text(token)]);
                    t.closed = true;
                }
            }
            self.flush().await?;
            Ok(Ok(t))
        })
    }

    fn take_activity_task<'a>(&'a self, activity: &'a str, worker: &'a str, now: f64) -> Read<'a, Option<TokenRecord>> {
        Box::pin(async move {
            let _one_at_a_time = self.tokens.lock().await;
            let Some(mut t) = self
                .tokens_where(
                    "activity = ?1 AND worker IS NULL AND answer IS NULL AND closed = 0 ORDER BY created, token LIMIT 1",
                    activity,
                )?
                .pop()
            else {
                return Ok(None);
            };
            self.write(
                "UPDATE tokens SET worker = ?2, started = ?3 WHERE token = ?1",
                vec![text(&t.token), text(worker), Sql::Real(now)],
            );
            self.flush().await?;
            t.worker = Some(worker.to_string());
            t.started = Some(now);
            Ok(Some(t))
        })
    }

    fn open_tokens<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<TokenRecord>> {
        ready(self.tokens_where("execution = ?1 AND answer IS NULL AND closed = 0", execution))
    }

    fn tokens_waiting_on<'a>(&'a self, child: &'a str) -> Read<'a, Vec<TokenRecord>> {
        ready(self.tokens_where("child = ?1 AND answer IS NULL AND closed = 0", child))
    }

    fn put_activity(&self, a: &ActivityRecord) {
        self.write(
            "INSERT OR IGNORE INTO activities (arn, name, created) VALUES (?1, ?2, ?3)",
            vec![text(&a.arn), text(&a.name), Sql::Real(a.created)],
        );
    }

    fn delete_activity(&self, arn: &str) {
        self.write("DELETE FROM activities WHERE arn = ?1", vec![text(arn)]);
        self.write("DELETE FROM tags WHERE resource = ?1", vec![text(arn)]);
    }

    fn activities(&self) -> Read<'_, Vec<ActivityRecord>> {
        ready(self.read(
            "SELECT arn, name, created FROM activities ORDER BY created, arn",
            &[],
            |r| {
                Ok(ActivityRecord {
                    arn: r.get(0)?,
                    name: r.get(1)?,
                    created: r.get(2)?,
                })
            },
        ))
    }
}

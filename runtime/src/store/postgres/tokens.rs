//! Task tokens and activities in PostgreSQL. Any node may answer any token, so each change is
//! one conditional statement, run at once and committed before it answers: the first answer
//! wins, and an activity task goes to one poller (`FOR UPDATE SKIP LOCKED`).

use tokio_postgres::Row;

use super::PgStore;
use super::writer::Param;
use crate::store::catalog::Read;
use crate::store::tokens::{ActivityRecord, TokenChange, TokenRecord, TokenRefusal, Tokens};

const TOKEN_COLUMNS: &str =
    "token, execution, activity, input, child, created, worker, started, heartbeat, answer, closed";

fn token_row(r: &Row) -> TokenRecord {
    TokenRecord {
        token: r.get(0),
        execution: r.get(1),
        activity: r.get(2),
        input: r.get(3),
        child: r.get(4),
        created: r.get(5),
        worker: r.get(6),
        started: r.get(7),
        heartbeat: r.get(8),
        answer: r.get(9),
        closed: r.get(10),
    }
}

fn p<T: tokio_postgres::types::ToSql + Send + Sync + 'static>(v: T) -> Param {
    Box::new(v)
}

impl PgStore {
    async fn tokens_where(&self, cond: &str, arg: &str) -> Result<Vec<TokenRecord>, crate::store::StoreError> {
        let rows = self
            .query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {cond}"), &[&arg])
            .await?;
        Ok(rows.iter().map(token_row).collect())
    }
}

impl Tokens for PgStore {
    fn shared(&self) -> bool {
        true
    }

    fn put_token(&self, t: &TokenRecord) {
        self.write(
            "INSERT INTO tokens (token, execution, activity, input, child, created) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token) DO NOTHING",
            vec![
                p(t.token.clone()),
                p(t.execution.clone()),
                p(t.activity.clone()),
                p(t.input.clone()),
                p(t.child.clone()),
                p(t.created),
            ],
        );
    }

    fn token<'a>(&'a self, token: &'a str) -> Read<'a, Option<TokenRecord>> {
        Box::pin(async move { Ok(self.tokens_where("token = $1", token).await?.pop()) })
    }

    fn change_token<'a>(&'a self, token: &'a str, change: TokenChange) -> Read<'a, Result<TokenRecord, TokenRefusal>> {
        Box::pin(async move {
            let open = "answer IS NULL AND NOT closed";
            let rows = match &change {
                TokenChange::Answer(a) => {
                    self.query(
                        &format!("UPDATE tokens SET answer = $2 WHERE token = $1 AND {open} RETURNING {TOKEN_COLUMNS}"),
                        &[&token, a],
                    )
                    .await?
                }
                TokenChange::Heartbeat(at) => {
                    self.query(
                        &format!(
                            "UPDATE tokens SET heartbeat = $2 WHERE token = $1 AND {open} RETURNING {TOKEN_COLUMNS}"
                        ),
                        &[&token, at],
                    )
                    .await?
                }
                TokenChange::Close => {
                    self.query(
                        &format!(
                            "UPDATE tokens SET closed = true WHERE token = $1 AND {open} RETURNING {TOKEN_COLUMNS}"
                        ),
                        &[&token],
                    )
                    .await?
                }
            };
            if let Some(r) = rows.first() {
                return Ok(Ok(token_row(r)));
            }
            // Not changed: unknown, or settled before (closing a settled token is no refusal).
            Ok(match self.tokens_where("token = $1", token).await?.pop() {
                None => Err(TokenRefusal::Unknown),
                Some(t) if change == TokenChange::Close => Ok(t),
                Some(_) => Err(TokenRefusal::Settled),
            })
        })
    }

    fn take_activity_task<'a>(&'a self, activity: &'a str, worker: &'a str, now: f64) -> Read<'a, Option<TokenRecord>> {
        Box::pin(async move {
            let rows = self
                .query(
                    &format!(
                        "UPDATE tokens SET worker = $2, started = $3 WHERE token = (\
                           SELECT token FROM tokens WHERE activity = $1 AND worker IS NULL AND answer IS NULL AND NOT closed \
                           ORDER BY created, token LIMIT 1 FOR UPDATE SKIP LOCKED) \
                         RETURNING {TOKEN_COLUMNS}"
                    ),
                    &[&activity, &worker, &now],
                )
                .await?;
            Ok(rows.first().map(token_row))
        })
    }

    fn open_tokens<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<TokenRecord>> {
        Box::pin(self.tokens_where("execution = $1 AND answer IS NULL AND NOT closed", execution))
    }

    fn tokens_waiting_on<'a>(&'a self, child: &'a str) -> Read<'a, Vec<TokenRecord>> {
        Box::pin(self.tokens_where("child = $1 AND answer IS NULL AND NOT closed", child))
    }

    fn put_activity(&self, a: &ActivityRecord) {
        self.write(
            "INSERT INTO activities (arn, name, created) VALUES ($1, $2, $3) ON CONFLICT (arn) DO NOTHING",
            vec![p(a.arn.clone()), p(a.name.clone()), p(a.created)],
        );
    }

    fn delete_activity(&self, arn: &str) {
        self.write("DELETE FROM activities WHERE arn = $1", vec![p(arn.to_string())]);
        self.write("DELETE FROM tags WHERE resource = $1", vec![p(arn.to_string())]);
    }

    fn activities(&self) -> Read<'_, Vec<ActivityRecord>> {
        Box::pin(async move {
            let rows = self
                .query("SELECT arn, name, created FROM activities ORDER BY created, arn", &[])
                .await?;
            Ok(rows
                .iter()
                .map(|r| ActivityRecord {
                    arn: r.get(0),
                    name: r.get(1),
                    created: r.get(2),
                })
                .collect())
        })
    }
}

//! The PostgreSQL writer: one task commits whatever has queued since its last commit in one
//! transaction (group commit, as on SQLite), pipelined: history events and journal records go
//! in as one `UNNEST` insert per run, catalog writes as statements sent without waiting for
//! each answer, so a batch costs a few round trips whatever its size. Before committing it
//! checks the leases of the executions it writes for (fencing): writes of an execution this
//! node no longer holds are dropped, never committed. When the database cannot be reached, the
//! batch is kept and tried again until it goes through.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use deadpool_postgres::{Object, Pool};
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;

use super::leases::Leases;
use crate::store::StoreError;
use crate::store::health::{FlushReply, Flushes, WriteHealth};

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 20_000;

pub(super) type Param = Box<dyn ToSql + Send + Sync>;

pub(super) enum Op {
    Event {
        execution: String,
        id: i64,
        key: Option<String>,
        body: String,
    },
    Journal {
        execution: String,
        body: String,
    },
    /// A catalog write, ordered with the events; `execution` when it belongs to a running
    /// execution (its end), so that it is fenced like that execution's events. `starts`: it
    /// inserts that execution with this node's lease (held from its commit on).
    Sql {
        sql: &'static str,
        params: Vec<Param>,
        execution: Option<String>,
        starts: bool,
    },
    Flush(FlushReply),
}

impl Op {
    fn execution(&self) -> Option<&str> {
        match self {
            Op::Event { execution, .. } | Op::Journal { execution, .. } => Some(execution),
            Op::Sql { execution, .. } => execution.as_deref(),
            Op::Flush(_) => None,
        }
    }
}

const INSERT_EVENTS: &str = "INSERT INTO events (execution, id, key, body) \
     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[])";
const INSERT_JOURNAL: &str = "INSERT INTO journal (execution, body) \
     SELECT e, b FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS t(e, b, n) ORDER BY n";

/// A run of the batch, sent as one statement.
enum Part<'a> {
    Events {
        execution: Vec<&'a str>,
        id: Vec<i64>,
        key: Vec<Option<&'a str>>,
        body: Vec<&'a str>,
    },
    Journal {
        execution: Vec<&'a str>,
        body: Vec<&'a str>,
    },
    Sql(&'static str, &'a [Param]),
}

/// Groups consecutive events, and consecutive journal records, into one statement each.
fn parts(ops: &[Op]) -> Vec<Part<'_>> {
    let mut parts: Vec<Part<'_>> = Vec::new();
    for op in ops {
        match (op, parts.last_mut()) {
            (
                Op::Event {
                    execution: x,
                    id: i,
                    key: k,
                    body: b,
                },
                Some(Part::Events {
                    execution,
                    id,
                    key,
                    body,
                }),
            ) => {
                execution.push(x);
                id.push(*i);
                key.push(k.as_deref());
                body.push(b);
            }
            (
                Op::Event {
                    execution,
                    id,
                    key,
                    body,
                },
                _,
            ) => parts.push(Part::Events {
                execution: vec![execution],
                id: vec![*id],
                key: vec![key.as_deref()],
                body: vec![body],
            }),
            (Op::Journal { execution: x, body: b }, Some(Part::Journal { execution, body })) => {
                execution.push(x);
                body.push(b);
            }
            (Op::Journal { execution, body }, _) => parts.push(Part::Journal {
                execution: vec![execution],
                body: vec![body],
            }),
            (Op::Sql { sql, params, .. }, _) => parts.push(Part::Sql(sql, params)),
            (Op::Flush(_), _) => {}
        }
    }
    parts
}

/// Why a batch did not commit.
enum Failure {
    Db(tokio_postgres::Error),
    /// These executions' leases are no longer this node's.
    Fenced(Vec<String>),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Failure {
        Failure::Db(e)
    }
}

/// Applies writes in one transaction, if this node still holds the lease of every execution
/// they belong to.
async fn apply(client: &mut Object, ops: &[Op], leases: &Leases) -> Result<(), Failure> {
    let tx = client.transaction().await?;
    // Fencing: the leases of the executions written for, locked until the commit (a node
    // claiming one of them waits for it, or skips it), must still be the ones this node holds.
    // Locked first, in one order (by ARN) as every statement that locks several executions
    // does, so that two transactions never wait on each other.
    let held = leases.epochs(ops.iter().filter_map(Op::execution));
    if !held.is_empty() {
        let arns: Vec<&str> = held.keys().copied().collect();
        let rows = tx
            .query(
                "SELECT arn, epoch FROM executions WHERE arn = ANY($1) AND owner = $2 ORDER BY arn FOR SHARE",
                &[&arns, &leases.node()],
            )
            .await?;
        let ok: HashSet<(&str, i64)> = rows.iter().map(|r| (r.get::<_, &str>(0), r.get::<_, i64>(1))).collect();
        let lost: Vec<String> = held
            .iter()
            .filter(|(arn, epoch)| !ok.contains(&(**arn, **epoch)))
            .map(|(arn, _)| arn.to_string())
            .collect();
        if !lost.is_empty() {
            return Err(Failure::Fenced(lost));
        }
    }
    let parts = parts(ops);
    let mut statements = Vec::with_capacity(parts.len());
    for p in &parts {
        let sql = match p {
            Part::Events { .. } => INSERT_EVENTS,
            Part::Journal { .. } => INSERT_JOURNAL,
            Part::Sql(sql, _) => sql,
        };
        statements.push(tx.prepare_cached(sql).await?);
    }
    // Sent in order, all before the first answer is awaited: one round trip for the lot.
    let sends: Vec<BoxFuture<'_, Result<u64, tokio_postgres::Error>>> = parts
        .iter()
        .zip(&statements)
        .map(|(p, st)| -> BoxFuture<'_, _> {
            match p {
                Part::Events {
                    execution,
                    id,
                    key,
                    body,
                } => Box::pin(tx.execute_raw(
                    st,
                    [
                        execution as &(dyn ToSql + Sync),
                        id as &(dyn ToSql + Sync),
                        key as &(dyn ToSql + Sync),
                        body as &(dyn ToSql + Sync),
                    ],
                )),
                Part::Journal { execution, body } => {
                    Box::pin(tx.execute_raw(st, [execution as &(dyn ToSql + Sync), body as &(dyn ToSql + Sync)]))
                }
                Part::Sql(_, params) => {
                    Box::pin(tx.execute_raw(st, params.iter().map(|p| &**p as &(dyn ToSql + Sync))))
                }
            }
        })
        .collect();
    futures::future::try_join_all(sends).await?;
    tx.commit().await?;
    Ok(())
}

/// A failure that goes away by itself (the server restarting, the network, a serialisation
/// conflict): the writes are kept and tried again. A write the database rejects for what it
/// is (a broken constraint, bad data: a bug) loses only itself.
fn transient(e: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    match e.code() {
        Some(code) => !matches!(&code.code()[..2], "22" | "23" | "42" | "2B" | "2D"),
        // No answer from the server: the connection (closed, an I/O error, a timeout) is
        // transient; a value this side could not encode or decode is a bug of that write.
        None => e.is_closed() || e.source().is_none_or(|s| s.is::<std::io::Error>()),
    }
}

fn failure(e: &(dyn std::error::Error + 'static)) -> StoreError {
    StoreError(format!("cannot record to the database: {}", super::explain(e)))
}

/// A committed insert of an execution: this node holds its first lease.
fn started(op: &Op, leases: &Leases) {
    if let Op::Sql {
        execution: Some(x),
        starts: true,
        ..
    } = op
    {
        leases.hold(x, 1);
    }
}

/// Commits `writes`, removing what is done from the front. `Err` when the database cannot
/// take writes for now: what remains stays queued. `Ok` carries the first lost write's error.
async fn commit(pool: &Pool, writes: &mut VecDeque<Op>, leases: &Leases) -> Result<Result<(), StoreError>, StoreError> {
    // Queued for an execution after this node lost it (a handler call that returned after the
    // loss, before its execution was stopped): never written, as no lease would be checked.
    leases.drop_lost(writes, Op::execution);
    let mut client = pool.get().await.map_err(|e| failure(&e))?;
    loop {
        match apply(&mut client, writes.make_contiguous(), leases).await {
            Ok(()) => {
                writes.iter().for_each(|op| started(op, leases));
                writes.clear();
                return Ok(Ok(()));
            }
            Err(Failure::Fenced(lost)) => {
                // Another node runs these now: what this one queued for them never counts.
                for arn in &lost {
                    leases.lose(arn);
                }
                writes.retain(|op| op.execution().is_none_or(|x| !lost.iter().any(|l| l == x)));
            }
            Err(Failure::Db(e)) if transient(&e) => return Err(failure(&e)),
            Err(Failure::Db(_)) => break,
        }
    }
    // A write of the batch is bad: apply them one by one, so that it loses only itself.
    let mut lost = Ok(());
    while let Some(op) = writes.front() {
        match apply(&mut client, std::slice::from_ref(op), leases).await {
            Ok(()) => started(op, leases),
            Err(Failure::Fenced(arns)) => arns.iter().for_each(|a| leases.lose(a)),
            Err(Failure::Db(e)) if transient(&e) => return Err(failure(&e)),
            Err(Failure::Db(e)) => {
                if lost.is_ok() {
                    lost = Err(failure(&e));
                }
            }
        }
        writes.pop_front();
    }
    Ok(lost)
}

/// Drains the queue into one transaction at a time and answers every flush in the batch after
/// the commit; while the database cannot take writes, flushes wait (executions stop moving
/// rather than run unrecorded) and the batch is tried again with what queued meanwhile.
pub(super) async fn writer(
    pool: Pool,
    mut rx: mpsc::UnboundedReceiver<Op>,
    health: Arc<WriteHealth>,
    leases: Arc<Leases>,
) {
    use std::sync::atomic::Ordering;
    let mut writes: VecDeque<Op> = VecDeque::new();
    let mut flushes = Flushes::default();
    let mut open = true;
    loop {
        let first = if writes.is_empty() && flushes.is_empty() {
            match rx.recv().await {
                Some(op) => Some(op),
                None => return,
            }
        } else if health.failing.load(Ordering::Acquire) {
            match tokio::time::timeout(flushes.backoff(), rx.recv()).await {
                Ok(Some(op)) => Some(op),
                Ok(None) => {
                    open = false;
                    None
                }
                Err(_) => None,
            }
        } else {
            None
        };
        let mut taken = 0;
        let mut next = first;
        while let Some(op) = next {
            match op {
                Op::Flush(w) => flushes.push(w),
                op => writes.push_back(op),
            }
            taken += 1;
            next = if taken < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        match commit(&pool, &mut writes, &leases).await {
            Err(e) => {
                if !health.failing.load(Ordering::Acquire) {
                    tracing::error!("{e}; writes are kept and tried again until the database accepts them");
                }
                health.failed(&e);
                flushes.failed();
                if !open {
                    return;
                }
                continue;
            }
            Ok(result) => {
                if health.failing.load(Ordering::Acquire) {
                    tracing::info!("the database accepts writes again");
                }
                health.recovered();
                flushes.committed(result);
            }
        }
        if !open {
            return;
        }
    }
}

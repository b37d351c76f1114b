//! RedriveExecution's write on every store backend (SQLite, and a real PostgreSQL server): a
//! stopped execution goes back to RUNNING with its redrive counted and its end cleared, keeps
//! only the journal's state exits, is made once when two redrives race on the same view, and
//! is this node's to run (on a shared store, another node sees it held).

#[macro_use]
mod common;

use std::time::Duration;

use common::backends::{Backend, execution_row, open, open_as, place};
use wasmstep::store::{ExecutionEnd, ExecutionRecord, JournalRecord, Redrive};

both!(a_redrive_is_made_once_and_keeps_only_state_exits);

const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:m:x";

fn execution() -> ExecutionRecord {
    ExecutionRecord {
        handler_set: Some(1),
        ..execution_row(ARN, "arn:aws:states:us-east-1:123456789012:stateMachine:m", 10.0)
    }
}

/// How the execution fails each time.
fn failed_at(stopped: f64) -> ExecutionEnd {
    ExecutionEnd {
        status: "FAILED".into(),
        output: None,
        error: Some("Boom".into()),
        cause: Some("it broke".into()),
        stopped,
    }
}

fn redrive(count: u32, date: f64, token: &str) -> Redrive {
    Redrive {
        arn: ARN.into(),
        status: "FAILED".into(),
        count,
        date,
        handler_set: Some(2),
        token: Some(token.into()),
    }
}

async fn a_redrive_is_made_once_and_keeps_only_state_exits(b: Backend) {
    let p = place(b, "redrive");
    let s = open(&p).await;
    s.insert_execution(&execution());
    let exited = JournalRecord::Exited {
        addr: "/0".into(),
        output: serde_json::json!({"done": 1}),
        assigned: vec![],
        next: Some(1),
    };
    s.append_journal(ARN, exited.clone());
    s.append_journal(
        ARN,
        JournalRecord::TaskResult {
            addr: "/1".into(),
            attempt: 0,
            ok: None,
            error: Some(("Boom".into(), None)),
        },
    );
    s.append_journal(
        ARN,
        JournalRecord::Deadline {
            addr: "/1~r0".into(),
            until: chrono::Utc::now(),
        },
    );
    s.end_execution(ARN, &failed_at(20.0));
    s.flush().await.expect("flush");

    // A redrive that saw another status, or another count, is not made.
    let mut stale = redrive(0, 30.0, "a");
    stale.status = "TIMED_OUT".into();
    assert!(!s.redrive(&stale).await.expect("redrive"));
    assert!(!s.redrive(&redrive(1, 30.0, "a")).await.expect("redrive"));
    assert!(s.redrive(&redrive(0, 30.0, "a")).await.expect("redrive"));
    // The same view again (a second client racing the first) finds it changed.
    assert!(!s.redrive(&redrive(0, 31.0, "b")).await.expect("redrive"));

    let row = s.execution(ARN).await.expect("read").expect("exists");
    assert_eq!(row.status, "RUNNING");
    assert_eq!((row.redrive_count, row.redrive_date), (1, Some(30.0)));
    assert_eq!(row.redrive_token.as_deref(), Some("a"));
    assert_eq!(row.handler_set, Some(2), "the redrive runs on the handlers serving now");
    assert_eq!(
        (row.stopped, row.error.as_deref(), row.cause.as_deref()),
        (None, None, None)
    );
    assert_eq!(
        s.journal(ARN).await.expect("journal"),
        vec![exited],
        "only state exits are kept"
    );

    // It ends again and can be redriven again, from its new count.
    s.end_execution(ARN, &failed_at(40.0));
    s.flush().await.expect("flush");
    assert!(s.redrive(&redrive(1, 50.0, "c")).await.expect("redrive"));
    let row = s.execution(ARN).await.expect("read").expect("exists");
    assert_eq!((row.redrive_count, row.redrive_date), (2, Some(50.0)));

    if b == Backend::Postgres {
        // Redriven here, it is this node's: another node has nothing to claim.
        let other = open_as(&p, "n2", Duration::from_secs(30)).await;
        assert!(other.claim_executions(10, false).await.expect("claim").is_empty());
    }
}

//! Map Runs and their child executions on every store backend (SQLite, and a real PostgreSQL
//! server): a run recorded, updated (keeping when it started), listed by execution; children
//! recorded, replaced, listed by run and status; all gone with their execution.

#[macro_use]
mod common;

use common::backends::{Backend, execution_row, open, place};
use wasmstep::store::{ChildExecution, MapRunRecord};

both!(map_runs_and_children_are_kept_and_go_with_their_execution);

const EXEC: &str = "arn:aws:states:us-east-1:123456789012:execution:m:x";

fn run(arn: &str, started: f64, status: &str) -> MapRunRecord {
    MapRunRecord {
        arn: arn.into(),
        execution_arn: EXEC.into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m/Each".into(),
        status: status.into(),
        started,
        stopped: None,
        max_concurrency: 10,
        tolerated_pct: 5.5,
        tolerated_count: 3,
        counts: r#"{"items":{}}"#.into(),
        redrive_count: 0,
        redrive_date: None,
    }
}

fn child(arn: &str, run: &str, started: f64, status: &str) -> ChildExecution {
    ChildExecution {
        arn: arn.into(),
        map_run_arn: run.into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m/Each".into(),
        name: arn.rsplit(':').next().unwrap_or_default().into(),
        status: status.into(),
        input: "{}".into(),
        output: (status == "SUCCEEDED").then(|| "1".into()),
        error: (status != "SUCCEEDED").then(|| "Boom".into()),
        cause: None,
        started,
        stopped: started + 1.0,
    }
}

async fn map_runs_and_children_are_kept_and_go_with_their_execution(b: Backend) {
    let p = place(b, "map_runs");
    let s = open(&p).await;
    s.insert_execution(&execution_row(
        EXEC,
        "arn:aws:states:us-east-1:123456789012:stateMachine:m",
        1.0,
    ));
    let (r1, r2) = (
        "arn:aws:states:us-east-1:123456789012:mapRun:m/Each:1",
        "arn:aws:states:us-east-1:123456789012:mapRun:m/Each:2",
    );
    s.put_map_run(&run(r1, 10.0, "RUNNING"));
    s.put_map_run(&run(r2, 20.0, "RUNNING"));
    // Updated as it runs and when it ends; when it started stays.
    let mut ended = run(r1, 99.0, "SUCCEEDED");
    ended.stopped = Some(30.0);
    ended.redrive_count = 1;
    ended.redrive_date = Some(25.0);
    s.put_map_run(&ended);
    for (arn, at, status) in [
        ("c:1", 11.0, "SUCCEEDED"),
        ("c:2", 12.0, "FAILED"),
        ("c:3", 13.0, "SUCCEEDED"),
    ] {
        s.put_child(&child(arn, r1, at, status));
    }
    // A redriven run records a child again under its ARN.
    s.put_child(&child("c:2", r1, 14.0, "SUCCEEDED"));
    s.put_child(&child("c:9", r2, 21.0, "SUCCEEDED"));
    s.flush().await.expect("flush");

    let got = s.map_run(r1).await.expect("read").expect("kept");
    assert_eq!(
        (got.status.as_str(), got.started, got.stopped),
        ("SUCCEEDED", 10.0, Some(30.0))
    );
    assert_eq!(
        (
            got.redrive_count,
            got.redrive_date,
            got.tolerated_pct,
            got.tolerated_count
        ),
        (1, Some(25.0), 5.5, 3)
    );
    let runs: Vec<String> = s
        .map_runs(EXEC)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.arn)
        .collect();
    assert_eq!(runs, vec![r2.to_string(), r1.to_string()], "newest first");
    let kids: Vec<(String, String)> = s
        .children(r1, None)
        .await
        .expect("children")
        .into_iter()
        .map(|c| (c.arn, c.status))
        .collect();
    assert_eq!(
        kids,
        vec![
            ("c:2".to_string(), "SUCCEEDED".to_string()),
            ("c:3".into(), "SUCCEEDED".into()),
            ("c:1".into(), "SUCCEEDED".into())
        ]
    );
    assert!(s.children(r1, Some("FAILED")).await.expect("children").is_empty());
    assert_eq!(s.child("c:9").await.expect("child").expect("kept").map_run_arn, r2);
    assert!(s.map_run("arn:none").await.expect("read").is_none());

    s.delete_execution(EXEC);
    s.flush().await.expect("flush");
    assert!(s.map_runs(EXEC).await.expect("list").is_empty());
    assert!(s.child("c:1").await.expect("child").is_none());
    assert!(s.children(r2, None).await.expect("children").is_empty());
}

//! Schedules and the status-event outbox on every store backend (SQLite, and a real PostgreSQL
//! server): a schedule is created once (a second create of the name keeps the first), due
//! schedules come back most overdue first, advancing is conditional on the due time read, a
//! group's deletion takes its schedules; and every execution status change leaves exactly one
//! event in the outbox, in the same commit, in order, where a cursor reads on from; one node
//! at a time holds a notify target (until its lease runs out).

#[macro_use]
mod common;

use common::backends::{Backend, execution_row, open, open_as, place};
use wasmstep::store::{ExecutionEnd, ExecutionRecord, GroupRecord, Position, ScheduleRecord};

both!(
    schedules_are_created_once_and_advance_conditionally,
    every_status_change_leaves_one_event_in_order,
    one_node_at_a_time_delivers_to_a_target,
    an_event_waits_for_the_transactions_before_it_and_no_others,
);

fn schedule(group: &str, name: &str, due: Option<f64>) -> ScheduleRecord {
    ScheduleRecord {
        group: group.into(),
        name: name.into(),
        body: format!("{{\"ScheduleExpression\":\"rate(1 minute)\",\"n\":\"{name}\"}}"),
        enabled: true,
        created: 1.0,
        modified: 1.0,
        due,
    }
}

async fn schedules_are_created_once_and_advance_conditionally(b: Backend) {
    let p = place(b, "triggers-schedules");
    {
        let s = open(&p).await;
        s.put_schedule(&schedule("default", "b", Some(200.0)));
        s.put_schedule(&schedule("default", "a", Some(100.0)));
        s.put_schedule(&schedule("nightly", "c", Some(50.0)));
        s.put_schedule(&ScheduleRecord {
            enabled: false,
            ..schedule("default", "off", Some(10.0))
        });
        s.put_group(&GroupRecord {
            name: "nightly".into(),
            created: 5.0,
        });
        s.flush().await.unwrap();
        // A second create of the same name keeps the first.
        s.put_schedule(&ScheduleRecord {
            body: "{}".into(),
            ..schedule("default", "a", Some(1.0))
        });
        s.flush().await.unwrap();
        let a = s.schedule("default", "a").await.unwrap().unwrap();
        assert_eq!(a.due, Some(100.0));
        assert!(a.body.contains("\"n\":\"a\""));
        assert_eq!(s.schedule("default", "zzz").await.unwrap(), None);

        let names = |v: Vec<ScheduleRecord>| {
            v.into_iter()
                .map(|s| format!("{}/{}", s.group, s.name))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(s.schedules(Some("default")).await.unwrap()),
            ["default/a", "default/b", "default/off"]
        );
        assert_eq!(names(s.schedules(None).await.unwrap()).len(), 4);
        // Due: enabled, most overdue first; the disabled one never.
        assert_eq!(
            names(s.due_schedules(150.0, 10).await.unwrap()),
            ["nightly/c", "default/a"]
        );
        assert_eq!(names(s.due_schedules(150.0, 1).await.unwrap()), ["nightly/c"]);

        // Advancing from a due time another node already moved on from changes nothing.
        s.advance_schedule("default", "a", 100.0, Some(160.0));
        s.flush().await.unwrap();
        s.advance_schedule("default", "a", 100.0, Some(999.0));
        s.flush().await.unwrap();
        assert_eq!(s.schedule("default", "a").await.unwrap().unwrap().due, Some(160.0));
        // A one-time schedule that fired: no due time any more.
        s.advance_schedule("default", "b", 200.0, None);
        s.replace_schedule(&ScheduleRecord {
            enabled: false,
            modified: 7.0,
            ..schedule("nightly", "c", Some(70.0))
        });
        s.flush().await.unwrap();
        assert_eq!(names(s.due_schedules(1e9, 10).await.unwrap()), ["default/a"]);
        let c = s.schedule("nightly", "c").await.unwrap().unwrap();
        assert_eq!((c.enabled, c.modified, c.created, c.due), (false, 7.0, 1.0, Some(70.0)));

        assert_eq!(s.groups().await.unwrap().len(), 1);
        s.delete_group("nightly");
        s.delete_schedule("default", "off");
        s.flush().await.unwrap();
        assert!(s.groups().await.unwrap().is_empty());
        assert_eq!(names(s.schedules(None).await.unwrap()), ["default/a", "default/b"]);
    }
    // Durable: another open of the same place sees them.
    let s = open(&p).await;
    assert_eq!(s.schedule("default", "a").await.unwrap().unwrap().due, Some(160.0));
}

fn execution(arn: &str, started: f64) -> ExecutionRecord {
    execution_row(arn, "arn:aws:states:us-east-1:123456789012:stateMachine:m", started)
}

fn end(status: &str, stopped: f64) -> ExecutionEnd {
    ExecutionEnd {
        status: status.into(),
        output: None,
        error: None,
        cause: None,
        stopped,
    }
}

async fn every_status_change_leaves_one_event_in_order(b: Backend) {
    let p = place(b, "triggers-outbox");
    let s = open(&p).await;
    assert_eq!(s.last_position().await.unwrap(), Position::default());
    s.insert_execution(&execution("arn:e1", 10.0));
    s.insert_execution(&execution("arn:e2", 11.0));
    s.flush().await.unwrap();
    let head = s.last_position().await.unwrap();
    s.end_execution("arn:e1", &end("SUCCEEDED", 12.0));
    // The same status again is no change: no event.
    s.end_execution("arn:e1", &end("SUCCEEDED", 12.5));
    s.end_execution("arn:e2", &end("FAILED", 13.0));
    s.flush().await.unwrap();

    let all = s.status_events(Position::default(), 100).await.unwrap();
    let seen: Vec<(String, String, f64)> = all
        .iter()
        .map(|e| (e.execution.clone(), e.status.clone(), e.at))
        .collect();
    assert_eq!(
        seen,
        [
            ("arn:e1".into(), "RUNNING".into(), 10.0),
            ("arn:e2".into(), "RUNNING".into(), 11.0),
            ("arn:e1".into(), "SUCCEEDED".into(), 12.0),
            ("arn:e2".into(), "FAILED".into(), 13.0),
        ]
    );
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    // Reading on from a position gives what came after it.
    let after: Vec<String> = s
        .status_events(head, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(after, ["SUCCEEDED", "FAILED"]);
    assert_eq!(
        s.status_events(all[0].position, 1).await.unwrap()[0].position,
        all[1].position
    );

    // Cursors: none until set; set twice, the last one counts.
    assert_eq!(s.cursor("hook").await.unwrap(), None);
    s.set_cursor("hook", all[1].position);
    s.set_cursor("hook", all[2].position);
    s.flush().await.unwrap();
    assert_eq!(s.cursor("hook").await.unwrap(), Some(all[2].position));

    // Pruning by age.
    s.prune_status_events(11.5);
    s.flush().await.unwrap();
    assert_eq!(s.status_events(Position::default(), 100).await.unwrap().len(), 2);
}

async fn one_node_at_a_time_delivers_to_a_target(b: Backend) {
    let p = place(b, "triggers-targets");
    let lease = std::time::Duration::from_secs(1);
    let one = open_as(&p, "n1", lease).await;
    assert!(one.hold_target("hook").await.unwrap());
    assert!(one.hold_target("hook").await.unwrap(), "renewed by its holder");
    if b == Backend::Sqlite {
        // Alone on its file: nobody to share with.
        return;
    }
    let two = open_as(&p, "n2", lease).await;
    assert!(!two.hold_target("hook").await.unwrap(), "held by n1");
    assert!(two.hold_target("other").await.unwrap(), "each target on its own");
    // n1 stops renewing: after its lease, n2 takes over, and n1 no longer holds it.
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert!(two.hold_target("hook").await.unwrap());
    assert!(!one.hold_target("hook").await.unwrap());
}

/// On PostgreSQL, events are read only once every transaction of the same database that could
/// write one before them has ended — and transactions of other databases on the server never
/// hold them up. (SQLite has one writer: nothing to wait for.)
async fn an_event_waits_for_the_transactions_before_it_and_no_others(b: Backend) {
    let p = place(b, "triggers-horizon");
    let s = open(&p).await;
    let wasmstep::store::Location::Postgres(url) = &p.location else {
        s.insert_execution(&execution("arn:s1", 1.0));
        s.flush().await.unwrap();
        assert_eq!(s.status_events(Position::default(), 10).await.unwrap().len(), 1);
        return;
    };
    let connect = |url: String| async move {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        c
    };
    // A long transaction in another database of the server.
    let elsewhere = connect(common::pg::server().to_string()).await;
    elsewhere
        .batch_execute("BEGIN; SELECT pg_current_xact_id();")
        .await
        .unwrap();
    s.insert_execution(&execution("arn:h1", 1.0));
    s.flush().await.unwrap();
    assert_eq!(
        s.status_events(Position::default(), 10).await.unwrap().len(),
        1,
        "not held up by another database"
    );
    // A transaction of this database that wrote an event and has not committed yet: events
    // committed after it wait for it, then come in the order of their transactions.
    let here = connect(url.clone()).await;
    here.batch_execute(
        "BEGIN; INSERT INTO executions (arn, machine_arn, name, status, definition, input, started) \
         VALUES ('arn:h2', 'arn:m', 'h2', 'RUNNING', '{}', '{}', 2.0);",
    )
    .await
    .unwrap();
    s.insert_execution(&execution("arn:h3", 3.0));
    s.flush().await.unwrap();
    let seen = |v: Vec<wasmstep::store::StatusEvent>| v.into_iter().map(|e| e.execution).collect::<Vec<_>>();
    assert_eq!(
        seen(s.status_events(Position::default(), 10).await.unwrap()),
        ["arn:h1"]
    );
    here.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        seen(s.status_events(Position::default(), 10).await.unwrap()),
        ["arn:h1", "arn:h2", "arn:h3"]
    );
    elsewhere.batch_execute("COMMIT").await.unwrap();
}

//! One suite for every store backend: each test runs on SQLite (a file) and on a real
//! PostgreSQL server (`common/pg.rs`), through the `Store` traits only, so both keep the same
//! promises: durable appends, a bad write that loses only itself, the catalog's records,
//! executions and their upkeep, handler sets and module releases, schema versions, and the
//! leases several daemons share work with.

#[macro_use]
mod common;

use std::time::Duration;

use serde_json::json;
use wasmstep::store::{
    ExecutionEnd, ExecutionRecord, ExecutionsOf, JournalRecord, Location, MachineRecord, Node, VersionRecord,
};

use common::backends::{Backend, execution_row, open, open_as, place};

both!(
    appends_are_durable_after_flush_and_survive_reopening,
    a_bad_write_loses_only_itself,
    state_machines_versions_and_tags,
    executions_are_listed_ended_and_deleted,
    handler_sets_and_module_releases,
    a_schema_newer_than_the_binary_is_refused,
    leases_share_executions_between_nodes,
    concurrent_claims_never_take_the_same_execution,
);

fn execution(arn: &str, machine: &str, started: f64) -> ExecutionRecord {
    ExecutionRecord {
        handler_set: Some(7),
        ..execution_row(arn, machine, started)
    }
}

fn end(status: &str, stopped: f64) -> ExecutionEnd {
    ExecutionEnd {
        status: status.into(),
        output: Some("{\"ok\":true}".into()),
        error: None,
        cause: None,
        stopped,
    }
}

async fn appends_are_durable_after_flush_and_survive_reopening(b: Backend) {
    let p = place(b, "durable");
    {
        let s = open(&p).await;
        s.append_event(
            "e1",
            1,
            Some("execution:started"),
            json!({"type": "ExecutionStarted", "z": 1, "a": 2}),
        );
        s.append_journal(
            "e1",
            JournalRecord::Deadline {
                addr: "/0".into(),
                until: chrono::Utc::now(),
            },
        );
        s.append_event("e1", 2, Some("/0:entered"), json!({"type": "PassStateEntered"}));
        s.append_event("e1", 3, None, json!({"type": "ExecutionSucceeded"}));
        s.flush().await.expect("flush");
    }
    let s = open(&p).await;
    let events = s.events("e1").await.expect("events");
    assert_eq!(events.len(), 3);
    // Keys come back in the order they were written (history is shown as recorded).
    assert_eq!(events[0].to_string(), r#"{"type":"ExecutionStarted","z":1,"a":2}"#);
    let keys = s.event_keys("e1").await.expect("keys");
    assert_eq!((keys.len(), keys.get("/0:entered")), (2, Some(&2)));
    assert_eq!(s.journal("e1").await.expect("journal")[0].addr(), "/0");
    assert!(s.events("other").await.expect("events").is_empty());
    // Many appends in one batch keep their order.
    for i in 0..2000u64 {
        s.append_event("big", i + 1, Some(&format!("k{i}")), json!({"id": i + 1}));
        s.append_journal(
            "big",
            JournalRecord::Exited {
                addr: format!("/{i}"),
                output: json!(i),
                assigned: vec![],
                next: None,
            },
        );
    }
    s.flush().await.expect("flush");
    let journal = s.journal("big").await.expect("journal");
    assert_eq!(journal.len(), 2000);
    assert!(journal.iter().enumerate().all(|(i, r)| r.addr() == format!("/{i}")));
    assert_eq!(s.events("big").await.expect("events")[1999]["id"], 2000);
}

async fn a_bad_write_loses_only_itself(b: Backend) {
    let p = place(b, "isolation");
    let s = open(&p).await;
    s.append_event("a", 1, None, json!({"id": 1}));
    s.flush().await.expect("flush");
    // In one batch: a duplicate event id for `a` between good events of `b`.
    s.append_event("b", 1, None, json!({"id": 1}));
    s.append_event("a", 1, None, json!({"id": 1, "again": true}));
    s.append_event("b", 2, None, json!({"id": 2}));
    assert!(s.flush().await.is_err(), "the flush reports the lost write");
    assert_eq!(s.events("b").await.expect("events").len(), 2);
    assert_eq!(s.events("a").await.expect("events"), vec![json!({"id": 1})]);
    // The store keeps working.
    s.append_event("b", 3, None, json!({"id": 3}));
    s.flush().await.expect("flush");
    assert_eq!(s.events("b").await.expect("events").len(), 3);
    assert!(s.writable().is_ok());
    s.ping().await.expect("ping");
}

async fn state_machines_versions_and_tags(b: Backend) {
    let p = place(b, "catalog");
    let s = open(&p).await;
    let v0 = s.catalog_version().await.expect("version");
    let m = MachineRecord {
        arn: "arn:sm:a".into(),
        name: "a".into(),
        machine_type: "STANDARD".into(),
        definition: "{\"v\":1}".into(),
        role_arn: "r1".into(),
        created: 1.5,
    };
    s.put_machine(&m);
    s.put_machine(&MachineRecord {
        arn: "arn:sm:b".into(),
        name: "b".into(),
        ..m.clone()
    });
    s.update_machine("arn:sm:a", "{\"v\":2}", "r2", 2.5);
    s.put_version(&VersionRecord {
        machine_arn: "arn:sm:a".into(),
        version: 1,
        definition: "{\"v\":1}".into(),
        role_arn: "r1".into(),
        description: Some("first".into()),
        created: 1.6,
    });
    s.put_version(&VersionRecord {
        machine_arn: "arn:sm:a".into(),
        version: 2,
        definition: "{\"v\":2}".into(),
        role_arn: "r2".into(),
        description: None,
        created: 2.6,
    });
    s.put_tag("arn:sm:a", "team", "x");
    s.put_tag("arn:sm:a", "team", "y");
    s.put_tag("arn:sm:a", "env", "prod");
    s.flush().await.expect("flush");
    let mut machines = s.machines().await.expect("machines");
    machines.sort_by(|a, b| a.arn.cmp(&b.arn));
    assert_eq!(machines.len(), 2);
    assert_eq!(
        (machines[0].definition.as_str(), machines[0].role_arn.as_str()),
        ("{\"v\":2}", "r2")
    );
    let versions = s.versions("arn:sm:a").await.expect("versions");
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(
        s.version("arn:sm:a", 1)
            .await
            .expect("version")
            .and_then(|v| v.description),
        Some("first".into())
    );
    assert_eq!(s.version("arn:sm:a", 9).await.expect("version"), None);
    assert_eq!(
        s.tags("arn:sm:a").await.expect("tags"),
        vec![("env".into(), "prod".into()), ("team".into(), "y".into())]
    );
    s.delete_tag("arn:sm:a", "env");
    s.delete_version("arn:sm:a", 2);
    s.delete_machine("arn:sm:b");
    s.flush().await.expect("flush");
    assert_eq!(s.tags("arn:sm:a").await.expect("tags").len(), 1);
    assert_eq!(s.versions("arn:sm:a").await.expect("versions").len(), 1);
    assert_eq!(s.machines().await.expect("machines").len(), 1);
    // Deleting a state machine takes its versions and tags with it.
    s.delete_machine("arn:sm:a");
    s.flush().await.expect("flush");
    assert!(s.versions("arn:sm:a").await.expect("versions").is_empty());
    assert!(s.tags("arn:sm:a").await.expect("tags").is_empty());
    // Every node caches the catalog: a shared store says when it changed.
    let v1 = s.catalog_version().await.expect("version");
    match b {
        Backend::Sqlite => assert_eq!(v1, v0, "alone, a daemon's cache is the catalog"),
        Backend::Postgres => assert!(v1 > v0, "{v1} after {v0}"),
    }
}

async fn executions_are_listed_ended_and_deleted(b: Backend) {
    let p = place(b, "executions");
    let s = open(&p).await;
    let sm = "arn:sm:m";
    for (i, arn) in ["arn:x:m:1", "arn:x:m:2", "arn:x:m:3"].iter().enumerate() {
        let mut e = execution(arn, sm, 10.0 + i as f64);
        if i == 2 {
            e.version_arn = Some("arn:sm:m:1".into());
        }
        s.insert_execution(&e);
        s.append_event(arn, 1, Some("execution:started"), json!({"id": 1}));
        s.append_journal(
            arn,
            JournalRecord::Deadline {
                addr: "/0".into(),
                until: chrono::Utc::now(),
            },
        );
    }
    s.insert_execution(&execution("arn:x:gone:1", "arn:sm:gone", 5.0));
    s.end_execution("arn:x:m:1", &end("SUCCEEDED", 20.0));
    s.end_execution("arn:x:gone:1", &end("FAILED", 6.0));
    s.flush().await.expect("flush");
    let all = s
        .executions(&ExecutionsOf::Machine(sm.into()), None)
        .await
        .expect("list");
    assert_eq!(
        all.iter().map(|e| e.arn.as_str()).collect::<Vec<_>>(),
        vec!["arn:x:m:3", "arn:x:m:2", "arn:x:m:1"],
        "newest first"
    );
    let done = s.execution("arn:x:m:1").await.expect("describe").expect("exists");
    assert_eq!(
        (
            done.status.as_str(),
            done.output.as_deref(),
            done.stopped,
            done.handler_set
        ),
        ("SUCCEEDED", Some("{\"ok\":true}"), Some(20.0), Some(7))
    );
    let running = s
        .executions(&ExecutionsOf::Machine(sm.into()), Some("RUNNING"))
        .await
        .expect("list");
    assert_eq!(running.len(), 2);
    let of_version = s
        .executions(&ExecutionsOf::Version("arn:sm:m:1".into()), None)
        .await
        .expect("list");
    assert_eq!(of_version.len(), 1);
    assert_eq!(s.running_executions().await.expect("running").len(), 2);
    assert_eq!(
        s.expired_executions(15.0, 10).await.expect("expired"),
        vec!["arn:x:gone:1".to_string()]
    );
    assert_eq!(s.expired_executions(25.0, 10).await.expect("expired").len(), 2);
    assert_eq!(s.expired_executions(25.0, 1).await.expect("expired").len(), 1);
    // Only arn:sm:m exists as a state machine? Neither does: both finished ones are orphans.
    s.put_machine(&MachineRecord {
        arn: sm.into(),
        name: "m".into(),
        machine_type: "STANDARD".into(),
        definition: "{}".into(),
        role_arn: "r".into(),
        created: 1.0,
    });
    s.flush().await.expect("flush");
    assert_eq!(
        s.orphaned_executions(100.0, 10).await.expect("orphans"),
        vec!["arn:x:gone:1".to_string()]
    );
    s.delete_execution("arn:x:m:1");
    s.flush().await.expect("flush");
    assert_eq!(s.execution("arn:x:m:1").await.expect("describe"), None);
    assert!(s.events("arn:x:m:1").await.expect("events").is_empty());
    assert!(s.journal("arn:x:m:1").await.expect("journal").is_empty());
    assert_eq!(s.events("arn:x:m:2").await.expect("events").len(), 1);
    s.reclaim();
    s.flush().await.expect("flush");
}

async fn handler_sets_and_module_releases(b: Backend) {
    let p = place(b, "releases");
    let s = open(&p).await;
    let first = s.next_handler_set().await.expect("id");
    s.put_handler_set(first, r#"{"add":{"sha256":"aa","manifest":null}}"#);
    s.flush().await.expect("flush");
    let second = s.next_handler_set().await.expect("id");
    assert!(second > first, "{second} after {first}");
    s.put_handler_set(second, r#"{"add":{"sha256":"bb","manifest":null}}"#);
    s.put_module("aa", b"\0asm-one");
    s.put_module("bb", b"\0asm-two");
    s.put_module("aa", b"ignored: already archived");
    // A running execution holds the first set.
    let mut e = execution("arn:x:m:1", "arn:sm:m", 1.0);
    e.handler_set = Some(first as i64);
    s.insert_execution(&e);
    s.flush().await.expect("flush");
    assert_eq!(
        s.module("aa").await.expect("module").as_deref(),
        Some(&b"\0asm-one"[..])
    );
    assert_eq!(s.module("zz").await.expect("module"), None);
    let of = s.handler_sets_of(&[second, 999]).await.expect("sets");
    assert_eq!(of.len(), 1);
    assert!(of[&second].contains("bb"));
    assert_eq!(s.running_handler_sets().await.expect("running").len(), 1);
    // Neither set is live, but a running execution holds the first: only the second goes.
    s.delete_handler_sets_except(&[]);
    s.flush().await.expect("flush");
    let left: Vec<u64> = s.handler_sets().await.expect("sets").into_keys().collect();
    assert_eq!(left, vec![first]);
    s.delete_modules_except(&["aa".to_string()]);
    s.flush().await.expect("flush");
    let mut modules = s.modules().await.expect("modules");
    modules.sort();
    match b {
        Backend::Sqlite => assert_eq!(modules, vec!["aa".to_string()]),
        // Shared: another node may be about to record a set naming a module archived just
        // now, so recent modules stay a while.
        Backend::Postgres => assert_eq!(modules, vec!["aa".to_string(), "bb".to_string()]),
    }
}

async fn a_schema_newer_than_the_binary_is_refused(b: Backend) {
    let p = place(b, "schema");
    drop(open(&p).await);
    match (&p.location, b) {
        (Location::Sqlite(path), _) => {
            let c = rusqlite::Connection::open(path).expect("open");
            c.execute("INSERT INTO wasmstep_schema (version) VALUES (999)", [])
                .expect("insert");
        }
        (Location::Postgres(url), _) => common::pg::run(url, "INSERT INTO wasmstep_schema (version) VALUES (999)"),
    }
    let node = Node {
        id: "n1".into(),
        lease: Duration::from_secs(30),
    };
    let err = match wasmstep::store::open(&p.location, &node).await {
        Ok(_) => panic!("a newer schema must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("schema version 999") && err.contains("newer"), "{err}");
}

async fn leases_share_executions_between_nodes(b: Backend) {
    let p = place(b, "leases");
    // Long enough that a busy machine's late wake-up never lets a renewed lease lapse.
    let lease = Duration::from_secs(3);
    let a = open_as(&p, "a", lease).await;
    a.insert_execution(&execution("arn:x:m:1", "arn:sm:m", 1.0));
    a.append_event("arn:x:m:1", 1, Some("execution:started"), json!({"id": 1}));
    a.flush().await.expect("flush");
    if b == Backend::Sqlite {
        // Alone on a file, a daemon claims every running execution once, at start-up.
        let again = open_as(&p, "a", lease).await;
        assert_eq!(again.claim_executions(10, true).await.expect("claim").len(), 1);
        assert!(again.claim_executions(10, true).await.expect("claim").is_empty());
        assert!(!again.take_over("arn:x:m:1").await.expect("take over"));
        assert!(again.renew_leases().await.expect("renew").is_empty());
        return;
    }
    let bee = open_as(&p, "b", lease).await;
    assert_eq!(a.leases_held(), 1);
    // Held and renewed by `a`: nothing for `b` to claim.
    assert!(bee.claim_executions(10, false).await.expect("claim").is_empty());
    assert!(a.renew_leases().await.expect("renew").is_empty());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(a.renew_leases().await.expect("renew").is_empty());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        bee.claim_executions(10, false).await.expect("claim").is_empty(),
        "renewed"
    );
    // `a` stops renewing (a long pause): its lease expires and `b` takes the execution.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let claimed = bee.claim_executions(10, false).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].arn, "arn:x:m:1");
    // `a` comes back and writes for it: fenced, nothing of it is committed, and it learns it
    // lost the execution.
    a.append_event("arn:x:m:1", 2, Some("stale"), json!({"id": 2, "from": "a"}));
    a.end_execution("arn:x:m:1", &end("SUCCEEDED", 9.0));
    a.flush().await.expect("flush");
    assert!(!a.owns("arn:x:m:1"));
    assert_eq!(a.renew_leases().await.expect("renew"), vec!["arn:x:m:1".to_string()]);
    bee.append_event("arn:x:m:1", 2, Some("fresh"), json!({"id": 2, "from": "b"}));
    bee.flush().await.expect("flush");
    let events = bee.events("arn:x:m:1").await.expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["from"], "b");
    assert_eq!(
        bee.execution("arn:x:m:1").await.expect("row").expect("exists").status,
        "RUNNING"
    );
    // A hand-over: `b` releases it and `a` may claim it at once, lease live or not.
    bee.release_executions(&["arn:x:m:1".to_string()])
        .await
        .expect("release");
    assert_eq!(bee.leases_held(), 0);
    let back = a.claim_executions(10, false).await.expect("claim");
    assert_eq!(back.len(), 1);
    assert!(a.owns("arn:x:m:1"));
    // Taking it over (StopExecution on another node) fences the holder at once.
    assert!(bee.take_over("arn:x:m:1").await.expect("take over"));
    assert!(!bee.take_over("arn:x:m:1").await.expect("take over"), "already its own");
    a.append_event("arn:x:m:1", 3, None, json!({"from": "a"}));
    a.flush().await.expect("flush");
    assert!(!a.owns("arn:x:m:1"));
    bee.end_execution("arn:x:m:1", &end("ABORTED", 10.0));
    bee.flush().await.expect("flush");
    assert_eq!(
        bee.execution("arn:x:m:1").await.expect("row").expect("exists").status,
        "ABORTED"
    );
    assert_eq!(bee.events("arn:x:m:1").await.expect("events").len(), 2);
    // An ended execution is nobody's to claim.
    assert!(a.claim_executions(10, true).await.expect("claim").is_empty());
}

async fn concurrent_claims_never_take_the_same_execution(b: Backend) {
    let p = place(b, "claims");
    let lease = Duration::from_secs(30);
    let starter = open_as(&p, "starter", lease).await;
    for i in 0..300 {
        starter.insert_execution(&execution(&format!("arn:x:m:{i}"), "arn:sm:m", i as f64));
    }
    starter.flush().await.expect("flush");
    if b == Backend::Sqlite {
        assert_eq!(starter.claim_executions(50, true).await.expect("claim").len(), 300);
        return;
    }
    // The starter hands them all over; three nodes race to claim them.
    let all: Vec<String> = (0..300).map(|i| format!("arn:x:m:{i}")).collect();
    starter.release_executions(&all).await.expect("release");
    let mut nodes = Vec::new();
    for n in ["x", "y", "z"] {
        nodes.push(open_as(&p, n, lease).await);
    }
    let tasks: Vec<_> = nodes
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s.claim_executions(7, false).await.expect("claim");
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|r| r.arn));
                }
            })
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut per_node = Vec::new();
    for t in tasks {
        let mine = t.await.expect("task");
        per_node.push(mine.len());
        for arn in mine {
            assert!(seen.insert(arn.clone()), "{arn} claimed twice");
        }
    }
    assert_eq!(seen.len(), 300, "every execution claimed once: {per_node:?}");
    assert_eq!(nodes.iter().map(|n| n.leases_held()).sum::<usize>(), 300);
}

/// `?sslmode=require`: encrypted and verified (the server's certificate against the roots and
/// `sslrootcert`), refused when it cannot be verified; settings that make no sense are errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_is_verified() {
    let root = common::pg::tls_root().display().to_string();
    let url = common::pg::database("tls");
    let node = Node {
        id: "tls-node".into(),
        lease: Duration::from_secs(30),
    };
    let open = |u: String| {
        let node = node.clone();
        async move { wasmstep::store::open(&Location::Postgres(u), &node).await }
    };
    let s = open(format!("{url}?sslmode=require&sslrootcert={root}"))
        .await
        .unwrap_or_else(|e| panic!("TLS with the test CA: {e}"));
    s.append_event("t", 1, None, json!({"id": 1}));
    s.flush().await.expect("flush");
    assert_eq!(s.events("t").await.expect("events").len(), 1);
    let encrypted = common::pg::value(
        common::pg::server(),
        "SELECT count(*)::text FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE ssl AND application_name = 'wasmstep tls-node'",
    );
    assert_ne!(encrypted, "0", "the store's connections use TLS");
    // The test CA is not among the system's roots: refused, and said why.
    let err = match open(format!("{url}?sslmode=verify-full")).await {
        Ok(_) => panic!("an unverifiable certificate must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("certificate") && !err.contains("panicked"), "{err}");
    for (query, says) in [
        ("sslmode=maybe", "sslmode=maybe is not one of"),
        (
            "sslrootcert=/nonexistent.pem&sslmode=require",
            "sslrootcert=/nonexistent.pem",
        ),
        ("sslrootcert=/x.pem", "sslmode is not require"),
    ] {
        let err = match open(format!("{url}?{query}")).await {
            Ok(_) => panic!("{query} must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(says), "{query}: {err}");
    }
}

//! Task tokens and activities on every store backend (SQLite, and a real PostgreSQL server):
//! a token is recorded once, the first answer wins and a second is refused, closing keeps an
//! answer that got there first, an activity's tasks go out oldest first and each to one poller
//! even when many poll at once, and a token survives reopening the store.

#[macro_use]
mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::backends::{Backend, open, place};
use wasmstep::store::{ActivityRecord, Store, TokenChange, TokenRecord, TokenRefusal};

both!(
    the_first_answer_wins_and_survives_reopening,
    activity_tasks_go_out_oldest_first_each_once,
);

fn token(token: &str, execution: &str, created: f64) -> TokenRecord {
    TokenRecord {
        token: token.into(),
        execution: execution.into(),
        activity: None,
        input: None,
        child: None,
        created,
        worker: None,
        started: None,
        heartbeat: None,
        answer: None,
        closed: false,
    }
}

async fn the_first_answer_wins_and_survives_reopening(b: Backend) {
    let p = place(b, "tokens-answers");
    {
        let s = open(&p).await;
        s.put_token(&token("t1", "e1", 1.0));
        s.put_token(&TokenRecord {
            child: Some("child-1".into()),
            ..token("t2", "e1", 2.0)
        });
        s.put_token(&token("t3", "e2", 3.0));
        s.flush().await.unwrap();
        // Recorded again by a resumed execution: kept as it was.
        s.put_token(&TokenRecord {
            execution: "other".into(),
            ..token("t1", "e1", 9.0)
        });
        s.flush().await.unwrap();
        assert_eq!(s.token("t1").await.unwrap().unwrap().execution, "e1");
        assert_eq!(s.token("nope").await.unwrap(), None);

        let beat = s
            .change_token("t1", TokenChange::Heartbeat(5.0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(beat.heartbeat, Some(5.0));
        let answered = s
            .change_token("t1", TokenChange::Answer(r#"{"output":1}"#.into()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answered.answer.as_deref(), Some(r#"{"output":1}"#));
        for change in [TokenChange::Answer("{}".into()), TokenChange::Heartbeat(6.0)] {
            assert_eq!(s.change_token("t1", change).await.unwrap(), Err(TokenRefusal::Settled));
        }
        assert_eq!(
            s.change_token("nope", TokenChange::Answer("{}".into())).await.unwrap(),
            Err(TokenRefusal::Unknown)
        );
        // Closing an answered token keeps (and returns) its answer.
        let closed = s.change_token("t1", TokenChange::Close).await.unwrap().unwrap();
        assert!(!closed.closed && closed.answer.is_some(), "{closed:?}");
        // Closing an open one refuses later answers.
        assert!(s.change_token("t3", TokenChange::Close).await.unwrap().unwrap().closed);
        assert_eq!(
            s.change_token("t3", TokenChange::Answer("{}".into())).await.unwrap(),
            Err(TokenRefusal::Settled)
        );
        let open_of_e1: Vec<String> = s
            .open_tokens("e1")
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.token)
            .collect();
        assert_eq!(open_of_e1, ["t2"]);
        assert_eq!(s.tokens_waiting_on("child-1").await.unwrap().len(), 1);
        // Deleting an execution deletes its tokens.
        s.delete_execution("e2");
        s.flush().await.unwrap();
        assert_eq!(s.token("t3").await.unwrap(), None);
    }
    let s = open(&p).await;
    let t = s.token("t1").await.unwrap().expect("kept");
    assert_eq!(t.answer.as_deref(), Some(r#"{"output":1}"#));
    assert_eq!(t.heartbeat, Some(5.0));
}

async fn activity_tasks_go_out_oldest_first_each_once(b: Backend) {
    let p = place(b, "tokens-activities");
    let s: Arc<dyn Store> = open(&p).await;
    let arn = "arn:aws:states:us-east-1:123456789012:activity:resize";
    s.put_activity(&ActivityRecord {
        arn: arn.into(),
        name: "resize".into(),
        created: 1.0,
    });
    for i in 0..40 {
        s.put_token(&TokenRecord {
            activity: Some(arn.into()),
            input: Some(format!("{{\"n\":{i}}}")),
            ..token(&format!("task-{i:02}"), "e", 10.0 + i as f64)
        });
    }
    s.flush().await.unwrap();
    assert_eq!(s.activities().await.unwrap()[0].name, "resize");
    let first = s.take_activity_task(arn, "w0", 100.0).await.unwrap().unwrap();
    assert_eq!((first.token.as_str(), first.worker.as_deref()), ("task-00", Some("w0")));
    assert_eq!(first.started, Some(100.0));
    // 8 pollers at once take the other 39, none twice.
    let pollers = (0..8).map(|w| {
        let s = s.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(t) = s.take_activity_task(arn, &format!("w{w}"), 101.0).await.unwrap() {
                got.push(t.token);
            }
            got
        })
    });
    let mut all = Vec::new();
    for p in pollers {
        all.extend(p.await.unwrap());
    }
    assert_eq!(all.len(), 39, "{all:?}");
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        39,
        "a task went out twice: {all:?}"
    );
    assert_eq!(s.take_activity_task(arn, "late", 102.0).await.unwrap(), None);
    s.delete_activity(arn);
    s.flush().await.unwrap();
    assert!(s.activities().await.unwrap().is_empty());
}

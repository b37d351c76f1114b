//! State machine aliases on every store backend (SQLite, and a real PostgreSQL server): put,
//! replace, list by name, delete, gone with their state machine, and kept across reopening.

#[macro_use]
mod common;

use common::backends::{Backend, open, place};
use wasmstep::store::{AliasRecord, MachineRecord};

both!(aliases_are_kept_replaced_and_go_with_their_state_machine);

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:m";

fn alias(name: &str, routing: &str, at: f64) -> AliasRecord {
    AliasRecord {
        machine_arn: MACHINE.into(),
        name: name.into(),
        description: None,
        routing: routing.into(),
        created: at,
        updated: at,
    }
}

async fn aliases_are_kept_replaced_and_go_with_their_state_machine(b: Backend) {
    let p = place(b, "aliases");
    {
        let s = open(&p).await;
        s.put_machine(&MachineRecord {
            arn: MACHINE.into(),
            name: "m".into(),
            machine_type: "STANDARD".into(),
            definition: "{}".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            created: 1.0,
        });
        s.put_alias(&alias("prod", "[1]", 1.0));
        s.put_alias(&alias("beta", "[2]", 2.0));
        s.flush().await.unwrap();
        // Replaced: the routing and update date change, the creation date stays.
        s.put_alias(&AliasRecord {
            description: Some("moved".into()),
            ..alias("prod", "[3]", 5.0)
        });
        s.flush().await.unwrap();
        let all = s.aliases(MACHINE).await.unwrap();
        let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["beta", "prod"]);
        let prod = &all[1];
        assert_eq!((prod.routing.as_str(), prod.created, prod.updated), ("[3]", 1.0, 5.0));
        assert_eq!(prod.description.as_deref(), Some("moved"));
        s.delete_alias(MACHINE, "beta");
        s.flush().await.unwrap();
    }
    let s = open(&p).await;
    assert_eq!(s.aliases(MACHINE).await.unwrap().len(), 1, "kept across reopening");
    s.delete_machine(MACHINE);
    s.flush().await.unwrap();
    assert!(s.aliases(MACHINE).await.unwrap().is_empty());
}

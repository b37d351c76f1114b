//! State machine aliases in SQLite.

use rusqlite::types::Value as Sql;

use super::{SqliteStore, ready};
use crate::store::aliases::Aliases;
use crate::store::catalog::Read;
use crate::store::records::AliasRecord;

impl Aliases for SqliteStore {
    fn put_alias(&self, a: &AliasRecord) {
        self.write(
            "INSERT INTO aliases (machine_arn, name, description, routing, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (machine_arn, name) DO UPDATE SET description = excluded.description, routing = excluded.routing, updated = excluded.updated",
            vec![
                Sql::Text(a.machine_arn.clone()),
                Sql::Text(a.name.clone()),
                a.description.clone().map(Sql::Text).unwrap_or(Sql::Null),
                Sql::Text(a.routing.clone()),
                Sql::Real(a.created),
                Sql::Real(a.updated),
            ],
        );
    }

    fn delete_alias(&self, machine_arn: &str, name: &str) {
        self.write(
            "DELETE FROM aliases WHERE machine_arn = ?1 AND name = ?2",
            vec![Sql::Text(machine_arn.into()), Sql::Text(name.into())],
        );
    }

    fn aliases<'a>(&'a self, machine_arn: &'a str) -> Read<'a, Vec<AliasRecord>> {
        ready(self.read(
            "SELECT machine_arn, name, description, routing, created, updated FROM aliases WHERE machine_arn = ?1 ORDER BY name",
            &[Sql::Text(machine_arn.into())],
            |r| {
                Ok(AliasRecord {
                    machine_arn: r.get(0)?,
                    name: r.get(1)?,
                    description: r.get(2)?,
                    routing: r.get(3)?,
                    created: r.get(4)?,
                    updated: r.get(5)?,
                })
            },
        ))
    }
}

//! State machine aliases in PostgreSQL.

use super::PgStore;
use super::writer::Param;
use crate::store::aliases::Aliases;
use crate::store::catalog::Read;
use crate::store::records::AliasRecord;

fn p<T: tokio_postgres::types::ToSql + Send + Sync + 'static>(v: T) -> Param {
    Box::new(v)
}

impl Aliases for PgStore {
    fn put_alias(&self, a: &AliasRecord) {
        self.write(
            "INSERT INTO aliases (machine_arn, name, description, routing, created, updated) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (machine_arn, name) DO UPDATE SET description = excluded.description, routing = excluded.routing, updated = excluded.updated",
            vec![
                p(a.machine_arn.clone()),
                p(a.name.clone()),
                p(a.description.clone()),
                p(a.routing.clone()),
                p(a.created),
                p(a.updated),
            ],
        );
    }

    fn delete_alias(&self, machine_arn: &str, name: &str) {
        self.write(
            "DELETE FROM aliases WHERE machine_arn = $1 AND name = $2",
            vec![p(machine_arn.to_string()), p(name.to_string())],
        );
    }

    fn aliases<'a>(&'a self, machine_arn: &'a str) -> Read<'a, Vec<AliasRecord>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT machine_arn, name, description, routing, created, updated FROM aliases WHERE machine_arn = $1 ORDER BY name",
                    &[&machine_arn],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| AliasRecord {
                    machine_arn: r.get(0),
                    name: r.get(1),
                    description: r.get(2),
                    routing: r.get(3),
                    created: r.get(4),
                    updated: r.get(5),
                })
                .collect())
        })
    }
}

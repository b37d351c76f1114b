//! RedriveExecution in SQLite: the daemon is the file's only writer, so a redrive reads the
//! row, queues its writes and waits for the flush under one lock.

use rusqlite::types::Value as Sql;

use super::SqliteStore;
use crate::store::ExecutionStore;
use crate::store::catalog::Read;
use crate::store::redrive::{Redrive, Redrives};

impl Redrives for SqliteStore {
    fn redrive<'a>(&'a self, r: &'a Redrive) -> Read<'a, bool> {
        Box::pin(async move {
            let _one_at_a_time = self.redrives.lock().await;
            let now = self.read(
                "SELECT status, redrive_count FROM executions WHERE arn = ?1",
                &[Sql::Text(r.arn.clone())],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
            )?;
            if now.first() != Some(&(r.status.clone(), r.count as i64)) {
                return Ok(false);
            }
            self.write(
                "UPDATE executions SET status = 'RUNNING', output = NULL, error = NULL, cause = NULL, stopped = NULL, \
                 redrive_count = redrive_count + 1, redrive_date = ?2, handler_set = ?3, redrive_token = ?4 WHERE arn = ?1",
                vec![
                    Sql::Text(r.arn.clone()),
                    Sql::Real(r.date),
                    r.handler_set.map(Sql::Integer).unwrap_or(Sql::Null),
                    r.token.clone().map(Sql::Text).unwrap_or(Sql::Null),
                ],
            );
            self.write(
                "DELETE FROM journal WHERE execution = ?1 AND json_extract(body, '$.kind') IS NOT 'Exited'",
                vec![Sql::Text(r.arn.clone())],
            );
            self.flush().await?;
            Ok(true)
        })
    }
}

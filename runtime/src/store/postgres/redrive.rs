//! RedriveExecution in PostgreSQL: one transaction changes the row only if it is still as the
//! redrive saw it, takes this node's lease on it (a new epoch, as a claim does) and prunes the
//! journal.

use super::PgStore;
use crate::store::catalog::Read;
use crate::store::redrive::{Redrive, Redrives};

impl Redrives for PgStore {
    fn redrive<'a>(&'a self, r: &'a Redrive) -> Read<'a, bool> {
        Box::pin(async move {
            // Queued writes for it (its end) are committed before it is changed.
            crate::store::ExecutionStore::flush(self).await?;
            let count = r.count as i32;
            let rows = self
                .query(
                    "WITH redriven AS ( \
                       UPDATE executions SET status = 'RUNNING', output = NULL, error = NULL, cause = NULL, stopped = NULL, \
                         redrive_count = redrive_count + 1, redrive_date = $3, handler_set = $4, redrive_token = $8, \
                         owner = $5, epoch = epoch + 1, lease_until = now() + make_interval(secs => $6) \
                       WHERE arn = $1 AND status = $2 AND redrive_count = $7 RETURNING arn, epoch), \
                     pruned AS ( \
                       DELETE FROM journal WHERE execution IN (SELECT arn FROM redriven) \
                         AND (body::jsonb ->> 'kind') IS DISTINCT FROM 'Exited') \
                     SELECT epoch FROM redriven",
                    &[
                        &r.arn,
                        &r.status,
                        &r.date,
                        &r.handler_set,
                        &self.leases.node(),
                        &self.leases.ttl_secs(),
                        &count,
                        &r.token,
                    ],
                )
                .await?;
            match rows.first() {
                Some(row) => {
                    self.leases.hold(&r.arn, row.get(0));
                    Ok(true)
                }
                None => Ok(false),
            }
        })
    }
}

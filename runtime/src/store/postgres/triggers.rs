//! Schedules, their groups and the status-event outbox in PostgreSQL. Several nodes commit at
//! once, so events are read in the order of the transactions that wrote them, and only those
//! older than every transaction still running in this database (`schema.rs`, migration 3):
//! the horizon is the oldest transaction id a backend of this database holds (its 64-bit form:
//! the snapshot's next id less its age, which can only err low, delaying an event, never
//! skipping one), or the next id when none holds one. Transactions in other databases of the
//! server cannot write events here, so they never hold delivery up.

use tokio_postgres::Row;

use super::PgStore;
use super::writer::Param;
use crate::store::catalog::Read;
use crate::store::triggers::{GroupRecord, Position, ScheduleRecord, StatusEvent, Triggers};

const SCHEDULE_COLUMNS: &str = "SELECT grp, name, body, enabled, created, modified, due FROM schedules";

fn schedule_row(r: &Row) -> ScheduleRecord {
    ScheduleRecord {
        group: r.get(0),
        name: r.get(1),
        body: r.get(2),
        enabled: r.get(3),
        created: r.get(4),
        modified: r.get(5),
        due: r.get(6),
    }
}

fn p<T: tokio_postgres::types::ToSql + Send + Sync + 'static>(v: T) -> Param {
    Box::new(v)
}

impl Triggers for PgStore {
    fn put_schedule(&self, s: &ScheduleRecord) {
        self.write(
            "INSERT INTO schedules (grp, name, body, enabled, created, modified, due) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (grp, name) DO NOTHING",
            vec![
                p(s.group.clone()),
                p(s.name.clone()),
                p(s.body.clone()),
                p(s.enabled),
                p(s.created),
                p(s.modified),
                p(s.due),
            ],
        );
    }

    fn replace_schedule(&self, s: &ScheduleRecord) {
        self.write(
            "UPDATE schedules SET body = $3, enabled = $4, modified = $5, due = $6 WHERE grp = $1 AND name = $2",
            vec![
                p(s.group.clone()),
                p(s.name.clone()),
                p(s.body.clone()),
                p(s.enabled),
                p(s.modified),
                p(s.due),
            ],
        );
    }

    fn delete_schedule(&self, group: &str, name: &str) {
        self.write(
            "DELETE FROM schedules WHERE grp = $1 AND name = $2",
            vec![p(group.to_string()), p(name.to_string())],
        );
    }

    fn schedule<'a>(&'a self, group: &'a str, name: &'a str) -> Read<'a, Option<ScheduleRecord>> {
        Box::pin(async move {
            let rows = self
                .query(
                    &format!("{SCHEDULE_COLUMNS} WHERE grp = $1 AND name = $2"),
                    &[&group, &name],
                )
                .await?;
            Ok(rows.first().map(schedule_row))
        })
    }

    fn schedules<'a>(&'a self, group: Option<&'a str>) -> Read<'a, Vec<ScheduleRecord>> {
        Box::pin(async move {
            let rows = match group {
                Some(g) => {
                    self.query(&format!("{SCHEDULE_COLUMNS} WHERE grp = $1 ORDER BY grp, name"), &[&g])
                        .await?
                }
                None => {
                    self.query(&format!("{SCHEDULE_COLUMNS} ORDER BY grp, name"), &[])
                        .await?
                }
            };
            Ok(rows.iter().map(schedule_row).collect())
        })
    }

    fn due_schedules(&self, now: f64, limit: usize) -> Read<'_, Vec<ScheduleRecord>> {
        Box::pin(async move {
            let limit = limit as i64;
            let rows = self
                .query(
                    &format!(
                        "{SCHEDULE_COLUMNS} WHERE enabled AND due IS NOT NULL AND due <= $1 ORDER BY due LIMIT $2"
                    ),
                    &[&now, &limit],
                )
                .await?;
            Ok(rows.iter().map(schedule_row).collect())
        })
    }

    fn advance_schedule(&self, group: &str, name: &str, from: f64, to: Option<f64>) {
        self.write(
            "UPDATE schedules SET due = $4 WHERE grp = $1 AND name = $2 AND due = $3",
            vec![p(group.to_string()), p(name.to_string()), p(from), p(to)],
        );
    }

    fn put_group(&self, g: &GroupRecord) {
        self.write(
            "INSERT INTO schedule_groups (name, created) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            vec![p(g.name.clone()), p(g.created)],
        );
    }

    fn delete_group(&self, name: &str) {
        self.write("DELETE FROM schedules WHERE grp = $1", vec![p(name.to_string())]);
        self.write("DELETE FROM schedule_groups WHERE name = $1", vec![p(name.to_string())]);
    }

    fn groups(&self) -> Read<'_, Vec<GroupRecord>> {
        Box::pin(async move {
            let rows = self
                .query("SELECT name, created FROM schedule_groups ORDER BY name", &[])
                .await?;
            Ok(rows
                .iter()
                .map(|r| GroupRecord {
                    name: r.get(0),
                    created: r.get(1),
                })
                .collect())
        })
    }

    fn status_events(&self, after: Position, limit: usize) -> Read<'_, Vec<StatusEvent>> {
        Box::pin(async move {
            let limit = limit as i64;
            let rows = self
                .query(
                    "SELECT tx, seq, execution, status, at FROM status_events
                     WHERE (tx, seq) > ($1, $2) AND tx < (SELECT COALESCE(MIN(h.next - age(a.backend_xid)), MIN(h.next))
                         FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next) h
                         LEFT JOIN pg_stat_activity a ON a.datname = current_database() AND a.backend_xid IS NOT NULL)
                     ORDER BY tx, seq LIMIT $3",
                    &[&after.tx, &after.seq, &limit],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| StatusEvent {
                    position: Position {
                        tx: r.get(0),
                        seq: r.get(1),
                    },
                    execution: r.get(2),
                    status: r.get(3),
                    at: r.get(4),
                })
                .collect())
        })
    }

    fn last_position(&self) -> Read<'_, Position> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT tx, seq FROM status_events ORDER BY tx DESC, seq DESC LIMIT 1",
                    &[],
                )
                .await?;
            Ok(rows
                .first()
                .map(|r| Position {
                    tx: r.get(0),
                    seq: r.get(1),
                })
                .unwrap_or_default())
        })
    }

    fn cursor<'a>(&'a self, target: &'a str) -> Read<'a, Option<Position>> {
        Box::pin(async move {
            let rows = self
                .query("SELECT tx, seq FROM event_cursors WHERE target = $1", &[&target])
                .await?;
            Ok(rows.first().map(|r| Position {
                tx: r.get(0),
                seq: r.get(1),
            }))
        })
    }

    fn set_cursor(&self, target: &str, at: Position) {
        self.write(
            "INSERT INTO event_cursors (target, tx, seq) VALUES ($1, $2, $3) ON CONFLICT (target) DO UPDATE SET tx = excluded.tx, seq = excluded.seq",
            vec![p(target.to_string()), p(at.tx), p(at.seq)],
        );
    }

    fn prune_status_events(&self, before: f64) {
        self.write("DELETE FROM status_events WHERE at < $1", vec![p(before)]);
    }

    fn hold_target<'a>(&'a self, target: &'a str) -> Read<'a, bool> {
        Box::pin(async move {
            let (node, ttl) = (self.leases.node(), self.leases.ttl_secs());
            let rows = self
                .query(
                    "INSERT INTO target_leases (target, owner, until) VALUES ($1, $2, now() + make_interval(secs => $3))
                     ON CONFLICT (target) DO UPDATE SET owner = excluded.owner, until = excluded.until
                     WHERE target_leases.owner = excluded.owner OR target_leases.until < now()
                     RETURNING owner",
                    &[&target, &node, &ttl],
                )
                .await?;
            Ok(!rows.is_empty())
        })
    }
}

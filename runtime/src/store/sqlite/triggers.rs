//! Schedules, their groups and the status-event outbox in SQLite. One writer commits in
//! order, so an event's sequence number is its place in the outbox (`Position::tx` is 0).

use rusqlite::types::Value as Sql;

use super::{SqliteStore, ready};
use crate::store::catalog::Read;
use crate::store::triggers::{GroupRecord, Position, ScheduleRecord, StatusEvent, Triggers};

const SCHEDULE_COLUMNS: &str = "SELECT grp, name, body, enabled, created, modified, due FROM schedules";

fn schedule_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        group: r.get(0)?,
        name: r.get(1)?,
        body: r.get(2)?,
        enabled: r.get::<_, i64>(3)? != 0,
        created: r.get(4)?,
        modified: r.get(5)?,
        due: r.get(6)?,
    })
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

fn real(v: Option<f64>) -> Sql {
    v.map(Sql::Real).unwrap_or(Sql::Null)
}

impl Triggers for SqliteStore {
    fn put_schedule(&self, s: &ScheduleRecord) {
        self.write(
            "INSERT OR IGNORE INTO schedules (grp, name, body, enabled, created, modified, due) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vec![
                text(&s.group),
                text(&s.name),
                text(&s.body),
                Sql::Integer(s.enabled as i64),
                Sql::Real(s.created),
                Sql::Real(s.modified),
                real(s.due),
            ],
        );
    }

    fn replace_schedule(&self, s: &ScheduleRecord) {
        self.write(
            "UPDATE schedules SET body = ?3, enabled = ?4, modified = ?5, due = ?6 WHERE grp = ?1 AND name = ?2",
            vec![
                text(&s.group),
                text(&s.name),
                text(&s.body),
                Sql::Integer(s.enabled as i64),
                Sql::Real(s.modified),
                real(s.due),
            ],
        );
    }

    fn delete_schedule(&self, group: &str, name: &str) {
        self.write(
            "DELETE FROM schedules WHERE grp = ?1 AND name = ?2",
            vec![text(group), text(name)],
        );
    }

    fn schedule<'a>(&'a self, group: &'a str, name: &'a str) -> Read<'a, Option<ScheduleRecord>> {
        ready(
            self.read(
                &format!("{SCHEDULE_COLUMNS} WHERE grp = ?1 AND name = ?2"),
                &[text(group), text(name)],
                schedule_row,
            )
            .map(|mut v| v.pop()),
        )
    }

    fn schedules<'a>(&'a self, group: Option<&'a str>) -> Read<'a, Vec<ScheduleRecord>> {
        ready(match group {
            Some(g) => self.read(
                &format!("{SCHEDULE_COLUMNS} WHERE grp = ?1 ORDER BY grp, name"),
                &[text(g)],
                schedule_row,
            ),
            None => self.read(&format!("{SCHEDULE_COLUMNS} ORDER BY grp, name"), &[], schedule_row),
        })
    }

    fn due_schedules(&self, now: f64, limit: usize) -> Read<'_, Vec<ScheduleRecord>> {
        ready(self.read(
            &format!("{SCHEDULE_COLUMNS} WHERE enabled = 1 AND due IS NOT NULL AND due <= ?1 ORDER BY due LIMIT ?2"),
            &[Sql::Real(now), Sql::Integer(limit as i64)],
            schedule_row,
        ))
    }

    fn advance_schedule(&self, group: &str, name: &str, from: f64, to: Option<f64>) {
        self.write(
            "UPDATE schedules SET due = ?4 WHERE grp = ?1 AND name = ?2 AND due = ?3",
            vec![text(group), text(name), Sql::Real(from), real(to)],
        );
    }

    fn put_group(&self, g: &GroupRecord) {
        self.write(
            "INSERT OR IGNORE INTO schedule_groups (name, created) VALUES (?1, ?2)",
            vec![text(&g.name), Sql::Real(g.created)],
        );
    }

    fn delete_group(&self, name: &str) {
        self.write("DELETE FROM schedules WHERE grp = ?1", vec![text(name)]);
        self.write("DELETE FROM schedule_groups WHERE name = ?1", vec![text(name)]);
    }

    fn groups(&self) -> Read<'_, Vec<GroupRecord>> {
        ready(
            self.read("SELECT name, created FROM schedule_groups ORDER BY name", &[], |r| {
                Ok(GroupRecord {
                    name: r.get(0)?,
                    created: r.get(1)?,
                })
            }),
        )
    }

    fn status_events(&self, after: Position, limit: usize) -> Read<'_, Vec<StatusEvent>> {
        ready(self.read(
            "SELECT seq, execution, status, at FROM status_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            &[Sql::Integer(after.seq), Sql::Integer(limit as i64)],
            |r| {
                Ok(StatusEvent {
                    position: Position { tx: 0, seq: r.get(0)? },
                    execution: r.get(1)?,
                    status: r.get(2)?,
                    at: r.get(3)?,
                })
            },
        ))
    }

    fn last_position(&self) -> Read<'_, Position> {
        ready(
            self.read("SELECT COALESCE(MAX(seq), 0) FROM status_events", &[], |r| r.get(0))
                .map(|v| Position {
                    tx: 0,
                    seq: v.first().copied().unwrap_or(0),
                }),
        )
    }

    fn cursor<'a>(&'a self, target: &'a str) -> Read<'a, Option<Position>> {
        ready(
            self.read(
                "SELECT seq FROM event_cursors WHERE target = ?1",
                &[text(target)],
                |r| r.get(0),
            )
            .map(|v| v.first().map(|&seq| Position { tx: 0, seq })),
        )
    }

    fn set_cursor(&self, target: &str, at: Position) {
        self.write(
            "INSERT INTO event_cursors (target, seq) VALUES (?1, ?2) ON CONFLICT (target) DO UPDATE SET seq = excluded.seq",
            vec![text(target), Sql::Integer(at.seq)],
        );
    }

    fn prune_status_events(&self, before: f64) {
        self.write("DELETE FROM status_events WHERE at < ?1", vec![Sql::Real(before)]);
    }
}

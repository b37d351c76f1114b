//! The SQLite schema, versioned: each migration runs once, in order, in one transaction,
//! recorded in `wasmstep_schema`; a file whose schema is newer than this binary is refused
//! rather than misread.

use rusqlite::Connection;

use crate::store::StoreError;

/// Each step's SQL; the version is its position (1-based).
const MIGRATIONS: &[&str] = &[
    // 1: the tables as they were when versioning began (`IF NOT EXISTS`: files from before it
    // already have them).
    "CREATE TABLE IF NOT EXISTS events (
        execution TEXT NOT NULL,
        id INTEGER NOT NULL,
        key TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (execution, id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX IF NOT EXISTS events_by_key ON events (execution, key) WHERE key IS NOT NULL;
    CREATE TABLE IF NOT EXISTS journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        execution TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS journal_by_execution ON journal (execution, seq);
    CREATE TABLE IF NOT EXISTS state_machines (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        definition TEXT NOT NULL,
        role_arn TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL
    );
    CREATE TABLE IF NOT EXISTS executions (
        arn TEXT PRIMARY KEY,
        machine_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        definition TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        cause TEXT,
        started REAL NOT NULL,
        stopped REAL,
        version_arn TEXT,
        handler_set INTEGER
    );
    CREATE INDEX IF NOT EXISTS executions_by_machine ON executions (machine_arn, started);
    CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status);
    CREATE INDEX IF NOT EXISTS executions_by_stopped ON executions (stopped);
    CREATE TABLE IF NOT EXISTS versions (
        machine_arn TEXT NOT NULL,
        version INTEGER NOT NULL,
        definition TEXT NOT NULL,
        role_arn TEXT NOT NULL,
        description TEXT,
        created REAL NOT NULL,
        PRIMARY KEY (machine_arn, version)
    );
    CREATE TABLE IF NOT EXISTS handler_sets (
        id INTEGER PRIMARY KEY,
        handlers TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS tags (
        resource TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (resource, key)
    );",
    // 2: handler releases archived in the database (they were files under the data directory).
    "CREATE TABLE modules (
        sha256 TEXT PRIMARY KEY,
        bytes BLOB NOT NULL,
        archived REAL NOT NULL
    );",
    // 3: task tokens (callbacks, activity tasks, nested executions) and activities.
    "CREATE TABLE tokens (
        token TEXT PRIMARY KEY,
        execution TEXT NOT NULL,
        activity TEXT,
        input TEXT,
        child TEXT,
        created REAL NOT NULL,
        worker TEXT,
        started REAL,
        heartbeat REAL,
        answer TEXT,
        closed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX tokens_by_execution ON tokens (execution);
    CREATE INDEX tokens_waiting ON tokens (activity, created) WHERE worker IS NULL AND answer IS NULL AND closed = 0;
    CREATE INDEX tokens_by_child ON tokens (child) WHERE child IS NOT NULL;
    CREATE TABLE activities (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created REAL NOT NULL
    );",
    // 4: schedules and their groups; the outbox of execution status changes, filled by
    // triggers in the transaction that changes the status, and each delivery target's cursor.
    "CREATE TABLE schedules (
        grp TEXT NOT NULL,
        name TEXT NOT NULL,
        body TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        created REAL NOT NULL,
        modified REAL NOT NULL,
        due REAL,
        PRIMARY KEY (grp, name)
    );
    CREATE INDEX schedules_due ON schedules (due) WHERE enabled = 1 AND due IS NOT NULL;
    CREATE TABLE schedule_groups (
        name TEXT PRIMARY KEY,
        created REAL NOT NULL
    );
    CREATE TABLE status_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        execution TEXT NOT NULL,
        status TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX status_events_at ON status_events (at);
    CREATE TRIGGER executions_started AFTER INSERT ON executions BEGIN
        INSERT INTO status_events (execution, status, at) VALUES (NEW.arn, NEW.status, NEW.started);
    END;
    CREATE TRIGGER executions_status AFTER UPDATE OF status ON executions
        WHEN NEW.status IS NOT OLD.status BEGIN
        INSERT INTO status_events (execution, status, at)
            VALUES (NEW.arn, NEW.status, COALESCE(NEW.stopped, unixepoch('subsec')));
    END;
    CREATE TABLE event_cursors (
        target TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    );",
    // 5: state machine aliases, and the alias an execution was started through.
    "CREATE TABLE aliases (
        machine_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        routing TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (machine_arn, name)
    );
    ALTER TABLE executions ADD COLUMN alias_arn TEXT;",
    // 6: ListExecutions of an alias.
    "CREATE INDEX executions_by_alias ON executions (alias_arn, started) WHERE alias_arn IS NOT NULL;",
    // 7: redrives (RedriveExecution).
    "ALTER TABLE executions ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE executions ADD COLUMN redrive_date REAL;
    ALTER TABLE executions ADD COLUMN redrive_token TEXT;",
    // 8: Map Runs and the child executions of Distributed Maps.
    "CREATE TABLE map_runs (
        arn TEXT PRIMARY KEY,
        execution TEXT NOT NULL,
        state_machine TEXT NOT NULL,
        status TEXT NOT NULL,
        started REAL NOT NULL,
        stopped REAL,
        max_concurrency INTEGER NOT NULL,
        tolerated_pct REAL NOT NULL,
        tolerated_count INTEGER NOT NULL,
        counts TEXT NOT NULL,
        redrive_count INTEGER NOT NULL,
        redrive_date REAL
    );
    CREATE INDEX map_runs_by_execution ON map_runs (execution, started);
    CREATE TABLE map_run_children (
        arn TEXT PRIMARY KEY,
        map_run TEXT NOT NULL,
        state_machine TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        cause TEXT,
        started REAL NOT NULL,
        stopped REAL NOT NULL
    );
    CREATE INDEX map_run_children_by_run ON map_run_children (map_run, started);",
];

/// The schema version this binary writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

fn fail(path: &std::path::Path, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("cannot prepare {}: {e}", path.display()))
}

/// Brings the file to [`LATEST`] (and sets the connection's durable-write mode).
pub(super) fn migrate(conn: &mut Connection, path: &std::path::Path) -> Result<(), StoreError> {
    // Files made before deleted rows gave their space back: switch them over once (the
    // setting takes effect with a VACUUM, which rewrites the file).
    let auto_vacuum: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .map_err(|e| fail(path, e))?;
    let has_tables: bool = conn
        .query_row("SELECT count(*) > 0 FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| fail(path, e))?;
    if auto_vacuum != 2 && has_tables {
        eprintln!(
            "upgrading {} to reclaim the space of deleted executions (once)",
            path.display()
        );
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
            .map_err(|e| fail(path, e))?;
    }
    conn.execute_batch(
        "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS wasmstep_schema (version INTEGER NOT NULL);",
    )
    .map_err(|e| fail(path, e))?;
    let current: i64 = conn
        .query_row("SELECT COALESCE(MAX(version), 0) FROM wasmstep_schema", [], |r| {
            r.get(0)
        })
        .map_err(|e| fail(path, e))?;
    if current > LATEST {
        return Err(StoreError(format!(
            "{} has schema version {current}, newer than this wasmstep's {LATEST}: run a newer wasmstep",
            path.display()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let tx = conn.transaction().map_err(|e| fail(path, e))?;
        tx.execute_batch(sql).map_err(|e| fail(path, e))?;
        if version == 1 {
            upgrade_first(&tx).map_err(|e| fail(path, e))?;
        }
        tx.execute("INSERT INTO wasmstep_schema (version) VALUES (?1)", [version])
            .map_err(|e| fail(path, e))?;
        tx.commit().map_err(|e| fail(path, e))?;
    }
    Ok(())
}

/// Files from before executions recorded their version and their handlers: add the columns.
fn upgrade_first(conn: &Connection) -> rusqlite::Result<()> {
    for (column, kind) in [("version_arn", "TEXT"), ("handler_set", "INTEGER")] {
        let has: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('executions') WHERE name = ?1")
            .and_then(|mut q| q.exists([column]))?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE executions ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

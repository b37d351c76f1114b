//! The PostgreSQL schema, versioned like SQLite's: each migration runs once, in order, in one
//! transaction, recorded in `wasmstep_schema`. Daemons starting together on one database take
//! an advisory lock first, so one migrates and the others find it done; a database whose schema
//! is newer than this binary is refused rather than misread.

use deadpool_postgres::Pool;

use crate::store::StoreError;

/// Each step's SQL; the version is its position (1-based).
const MIGRATIONS: &[&str] = &[
    // 1: the tables SQLite's migrations 1 and 2 make (`sqlite/schema.rs`), plus each execution's lease (who runs it, until when,
    // and the lease's number, which fences writes of a node that lost it). Bodies are TEXT, not
    // JSONB: history must come back with its keys in the order they were written.
    "CREATE TABLE events (
        execution TEXT NOT NULL,
        id BIGINT NOT NULL,
        key TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (execution, id)
    );
    CREATE UNIQUE INDEX events_by_key ON events (execution, key) WHERE key IS NOT NULL;
    CREATE TABLE journal (
        seq BIGSERIAL PRIMARY KEY,
        execution TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX journal_by_execution ON journal (execution, seq);
    CREATE TABLE state_machines (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        definition TEXT NOT NULL,
        role_arn TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION
    );
    CREATE TABLE executions (
        arn TEXT PRIMARY KEY,
        machine_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        definition TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        cause TEXT,
        started DOUBLE PRECISION NOT NULL,
        stopped DOUBLE PRECISION,
        version_arn TEXT,
        handler_set BIGINT,
        owner TEXT,
        epoch BIGINT NOT NULL DEFAULT 1,
        lease_until TIMESTAMPTZ
    );
    CREATE INDEX executions_by_machine ON executions (machine_arn, started);
    CREATE INDEX executions_by_version ON executions (version_arn, started) WHERE version_arn IS NOT NULL;
    CREATE INDEX executions_by_stopped ON executions (stopped) WHERE stopped IS NOT NULL;
    CREATE INDEX executions_running ON executions (lease_until) WHERE status = 'RUNNING';
    CREATE INDEX executions_by_owner ON executions (owner) WHERE status = 'RUNNING';
    CREATE TABLE versions (
        machine_arn TEXT NOT NULL,
        version BIGINT NOT NULL,
        definition TEXT NOT NULL,
        role_arn TEXT NOT NULL,
        description TEXT,
        created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (machine_arn, version)
    );
    CREATE TABLE handler_sets (
        id BIGINT PRIMARY KEY,
        node TEXT NOT NULL,
        handlers TEXT NOT NULL
    );
    CREATE SEQUENCE handler_set_ids;
    CREATE TABLE modules (
        sha256 TEXT PRIMARY KEY,
        bytes BYTEA NOT NULL,
        archived DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE tags (
        resource TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (resource, key)
    );
    -- Every node caches the catalog; a change by any node bumps this and says so.
    CREATE TABLE catalog_version (version BIGINT NOT NULL);
    INSERT INTO catalog_version VALUES (0);
    CREATE FUNCTION wasmstep_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE catalog_version SET version = version + 1;
        PERFORM pg_notify('wasmstep', 'catalog');
        RETURN NULL;
    END $$;
    CREATE TRIGGER state_machines_changed AFTER INSERT OR UPDATE OR DELETE ON state_machines
        FOR EACH STATEMENT EXECUTE FUNCTION wasmstep_catalog_changed();
    CREATE TRIGGER versions_changed AFTER INSERT OR UPDATE OR DELETE ON versions
        FOR EACH STATEMENT EXECUTE FUNCTION wasmstep_catalog_changed();",
    // 2: task tokens (callbacks, activity tasks, nested executions) and activities.
    "CREATE TABLE tokens (
        token TEXT PRIMARY KEY,
        execution TEXT NOT NULL,
        activity TEXT,
        input TEXT,
        child TEXT,
        created DOUBLE PRECISION NOT NULL,
        worker TEXT,
        started DOUBLE PRECISION,
        heartbeat DOUBLE PRECISION,
        answer TEXT,
        closed BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX tokens_by_execution ON tokens (execution);
    CREATE INDEX tokens_waiting ON tokens (activity, created) WHERE worker IS NULL AND answer IS NULL AND NOT closed;
    CREATE INDEX tokens_by_child ON tokens (child) WHERE child IS NOT NULL;
    CREATE TABLE activities (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL
    );",
    // 3: schedules and their groups; the outbox of execution status changes, filled by a
    // trigger in the transaction that changes the status, and each delivery target's cursor.
    // Sequence numbers can commit out of order when several nodes write at once, so events are
    // read in the order of the transaction that wrote them (`tx`), and only once every older
    // transaction of this database has ended (`triggers.rs`): a cursor never passes an event
    // still to come.
    // One node at a time delivers to each notify target (`target_leases`).
    "CREATE TABLE schedules (
        grp TEXT NOT NULL,
        name TEXT NOT NULL,
        body TEXT NOT NULL,
        enabled BOOLEAN NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        modified DOUBLE PRECISION NOT NULL,
        due DOUBLE PRECISION,
        PRIMARY KEY (grp, name)
    );
    CREATE INDEX schedules_due ON schedules (due) WHERE enabled AND due IS NOT NULL;
    CREATE TABLE schedule_groups (
        name TEXT PRIMARY KEY,
        created DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE status_events (
        seq BIGSERIAL PRIMARY KEY,
        tx BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
        execution TEXT NOT NULL,
        status TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX status_events_order ON status_events (tx, seq);
    CREATE INDEX status_events_at ON status_events (at);
    CREATE FUNCTION wasmstep_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO status_events (execution, status, at) VALUES (NEW.arn, NEW.status, NEW.started);
        ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
            INSERT INTO status_events (execution, status, at)
                VALUES (NEW.arn, NEW.status, COALESCE(NEW.stopped, extract(epoch FROM clock_timestamp())));
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER executions_status AFTER INSERT OR UPDATE OF status ON executions
        FOR EACH ROW EXECUTE FUNCTION wasmstep_status_changed();
    CREATE TABLE event_cursors (
        target TEXT PRIMARY KEY,
        tx BIGINT NOT NULL,
        seq BIGINT NOT NULL
    );
    CREATE TABLE target_leases (
        target TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until TIMESTAMPTZ NOT NULL
    );",
    // 4: state machine aliases, and the alias an execution was started through.
    "CREATE TABLE aliases (
        machine_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        routing TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (machine_arn, name)
    );
    ALTER TABLE executions ADD COLUMN alias_arn TEXT;",
    // 5: ListExecutions of an alias.
    "CREATE INDEX executions_by_alias ON executions (alias_arn, started) WHERE alias_arn IS NOT NULL;",
    // 6: redrives (RedriveExecution).
    "ALTER TABLE executions ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE executions ADD COLUMN redrive_date DOUBLE PRECISION;
    ALTER TABLE executions ADD COLUMN redrive_token TEXT;",
    // 7: Map Runs and the child executions of Distributed Maps.
    "CREATE TABLE map_runs (
        arn TEXT PRIMARY KEY,
        execution TEXT NOT NULL,
        state_machine TEXT NOT NULL,
        status TEXT NOT NULL,
        started DOUBLE PRECISION NOT NULL,
        stopped DOUBLE PRECISION,
        max_concurrency BIGINT NOT NULL,
        tolerated_pct DOUBLE PRECISION NOT NULL,
        tolerated_count BIGINT NOT NULL,
        counts TEXT NOT NULL,
        redrive_count INTEGER NOT NULL,
        redrive_date DOUBLE PRECISION
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
        started DOUBLE PRECISION NOT NULL,
        stopped DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX map_run_children_by_run ON map_run_children (map_run, started);",
];

/// The schema version this binary writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Serialises migrations between daemons starting at once (an arbitrary, fixed key).
const MIGRATION_LOCK: i64 = 0x7761_736d_7374_6570; // "wasmstep"

/// Brings the database to [`LATEST`].
pub(super) async fn migrate(pool: &Pool, place: &str) -> Result<(), StoreError> {
    let fail = |e: &(dyn std::error::Error + 'static)| {
        StoreError(format!("cannot prepare the database {place}: {}", super::explain(e)))
    };
    let mut client = pool.get().await.map_err(|e| fail(&e))?;
    let tx = client.transaction().await.map_err(|e| fail(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| fail(&e))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS wasmstep_schema (version BIGINT NOT NULL)")
        .await
        .map_err(|e| fail(&e))?;
    let current: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM wasmstep_schema", &[])
        .await
        .map_err(|e| fail(&e))?
        .get(0);
    if current > LATEST {
        return Err(StoreError(format!(
            "the database {place} has schema version {current}, newer than this wasmstep's {LATEST}: run a newer wasmstep"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        tx.batch_execute(sql).await.map_err(|e| fail(&e))?;
        tx.execute("INSERT INTO wasmstep_schema (version) VALUES ($1)", &[&version])
            .await
            .map_err(|e| fail(&e))?;
    }
    tx.commit().await.map_err(|e| fail(&e))
}

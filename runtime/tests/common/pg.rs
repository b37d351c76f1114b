//! A real PostgreSQL server for the tests: the one the test command started
//! (`WASMSTEP_TEST_POSTGRES`, see `.ci/test`), or else one this test process starts with
//! `.ci/postgres` (stopped when the process exits). Each caller gets a database of its own.

use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The server's URL (its `postgres` database).
pub fn server() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("WASMSTEP_TEST_POSTGRES") {
            return u;
        }
        let dir = std::env::temp_dir().join(format!("wasmstep-pg-{}", std::process::id()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/postgres");
        let out = Command::new("bash")
            .arg(script)
            .arg(&dir)
            .arg(std::process::id().to_string())
            .output()
            .expect("run .ci/postgres");
        assert!(
            out.status.success(),
            "cannot start PostgreSQL for the tests: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("a URL").trim().to_string()
    })
}

/// Runs SQL on the server's `postgres` database.
pub fn admin(sql: &str) {
    run(server(), sql);
}

/// Runs SQL on the database at `url` (on a thread of its own: callers may be inside a runtime).
pub fn run(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || run_here(&url, &sql))
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn run_here(url: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        let driver = tokio::spawn(conn);
        client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driver.await;
    });
}

/// A new, empty database on the server; its URL.
pub fn database(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let db = format!(
        "{}_{}_{}",
        name.to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    admin(&format!("CREATE DATABASE {db}"));
    let base = server();
    let (server_part, _) = base.rsplit_once('/').expect("a URL with a database");
    format!("{server_part}/{db}")
}

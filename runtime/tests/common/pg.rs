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

/// The first column of the first row `sql` returns on the database at `url`, as text.
pub fn value(url: &str, sql: &str) -> String {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
            let driver = tokio::spawn(conn);
            let row = client
                .query_one(&sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let v: String = row.get(0);
            drop(client);
            let _ = driver.await;
            v
        })
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Turns TLS on in the test server (plain connections keep working), with a server certificate
/// for 127.0.0.1 issued by a test CA made here (openssl); returns the CA's certificate file.
pub fn tls_root() -> &'static std::path::Path {
    static ROOT: OnceLock<std::path::PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let data = std::path::PathBuf::from(value(server(), "SHOW data_directory"));
        let dir = std::env::temp_dir().join(format!("wasmstep-pg-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl (Debian's openssl package)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-subj", "/CN=wasmstep test CA", "-keyout", "ca.key", "-out", "ca.crt"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &["-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ]);
        // The server reads its key and certificate as the user it runs as, from its data
        // directory, and refuses a key others can read.
        let owner = std::fs::metadata(&data).expect("data directory");
        for f in ["server.crt", "server.key"] {
            let to = data.join(format!("wasmstep-test-{f}"));
            std::fs::copy(dir.join(f), &to).expect("copy");
            std::os::unix::fs::chown(&to, Some(owner.uid()), Some(owner.gid())).expect("chown");
            let mut perm = std::fs::metadata(&to).expect("meta").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o600);
            std::fs::set_permissions(&to, perm).expect("chmod");
        }
        // One statement each: ALTER SYSTEM cannot run in the transaction a batch makes.
        for sql in [
            "ALTER SYSTEM SET ssl_cert_file = 'wasmstep-test-server.crt'",
            "ALTER SYSTEM SET ssl_key_file = 'wasmstep-test-server.key'",
            "ALTER SYSTEM SET ssl = on",
            "SELECT pg_reload_conf()",
        ] {
            admin(sql);
        }
        // The reload is asynchronous: wait until the server says TLS is on.
        for _ in 0..100 {
            if value(server(), "SHOW ssl") == "on" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        dir.join("ca.crt")
    })
}

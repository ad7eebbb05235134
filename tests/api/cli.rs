//! The command line, run as the real binary: `seed-demo`'s production guard, and `backup` /
//! `restore` of a SQLite database.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use uuid::Uuid;

/// `seed-demo` creates an admin whose password is printed in the README: in production it must
/// refuse before it touches the database.
#[test]
fn seed_demo_refuses_to_run_in_production() {
    let dir = std::env::temp_dir().join(format!("ticketmax-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("prod.db");
    let out = Command::new(env!("CARGO_BIN_EXE_ticketmax"))
        .arg("seed-demo")
        .env_clear()
        .env("APP_ENV", "production")
        .env("JWT_SECRET", "a-production-secret-of-at-least-32-bytes!")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("EMAIL_TRANSPORT", "log")
        .current_dir(&dir)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "seed-demo succeeded in production: {stderr}"
    );
    assert!(stderr.contains("APP_ENV=production"), "{stderr}");
    assert!(!db.exists(), "the database was opened");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A folder of its own for one test, removed at the end.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ticketmax-cli-{name}-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn database(&self) -> PathBuf {
        self.0.join("ticketmax.db")
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.database().display())
    }

    /// The names in the folder, sorted, but the database's own `-wal` and `-shm`.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("ticketmax.db-"))
            .collect();
        names.sort();
        names
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary in `dir` with `DATABASE_URL=url`.
fn ticketmax(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketmax"))
        .args(args)
        .env_clear()
        .env("APP_ENV", "development")
        .env("DATABASE_URL", url)
        .env("EMAIL_TRANSPORT", "log")
        .env("LOG_LEVEL", "warn")
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A migrated, empty TicketMax database in the folder.
fn migrated(folder: &Folder) {
    let out = ticketmax(&folder.0, &folder.url(), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A connection pool on a file in WAL mode, as the server opens it.
async fn connect(path: &Path) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10)),
        )
        .await
        .unwrap()
}

/// Account number `n` (its number is its last name).
async fn add_account(pool: &SqlitePool, n: i64) {
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, first_name, last_name, role, status, created_at, updated_at)
         VALUES (?, ?, 'x', 'Account', ?, 'USER', 'ACTIVE', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    )
    .bind(Uuid::new_v4())
    .bind(format!("account-{n}@example.com"))
    .bind(n.to_string())
    .execute(pool)
    .await
    .unwrap();
}

/// The numbers of the accounts a database file holds, in order (opened read-only).
async fn accounts(path: &Path) -> Vec<i64> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(path).read_only(true))
        .await
        .unwrap();
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT last_name FROM users WHERE email LIKE 'account-%'")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let mut numbers: Vec<i64> = rows.iter().map(|n| n.parse().unwrap()).collect();
    numbers.sort_unstable();
    numbers
}

async fn integrity(path: &Path) -> Vec<String> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(path).read_only(true))
        .await
        .unwrap();
    let verdict = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    verdict
}

/// The backup is one read transaction: it holds every account committed before it started, and
/// no gap (what it holds is a prefix of the writer's sequence), while the writer keeps writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_database_is_written_holds_every_row_committed_before_it() {
    // Arrange: a writer committing account after account.
    let folder = Folder::new("backup-online");
    migrated(&folder);
    let pool = connect(&folder.database()).await;
    let committed = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (pool, committed, stop) = (pool.clone(), committed.clone(), stop.clone());
        async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                add_account(&pool, n).await;
                committed.store(n, Ordering::SeqCst);
            }
        }
    });
    while committed.load(Ordering::SeqCst) < 300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Act
    let before = committed.load(Ordering::SeqCst);
    let (dir, url, target) = (folder.0.clone(), folder.url(), folder.0.join("backup.db"));
    let arg = target.display().to_string();
    let out = tokio::task::spawn_blocking(move || ticketmax(&dir, &url, &["backup", &arg]))
        .await
        .unwrap();
    let after = committed.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let total = committed.load(Ordering::SeqCst);
    pool.close().await;

    // Assert
    assert!(out.status.success(), "{}", text(&out));
    let size = std::fs::metadata(&target).unwrap().len();
    assert!(
        text(&out).contains(&format!("{} ({size} bytes)", target.display())),
        "{}",
        text(&out)
    );
    assert!(
        !folder.names().iter().any(|n| n.starts_with("backup.db-")),
        "the backup is not self-contained: {:?}",
        folder.names()
    );
    assert_eq!(integrity(&target).await, ["ok"]);
    let saved = accounts(&target).await;
    let held = saved.len() as i64;
    assert_eq!(saved, (1..=held).collect::<Vec<_>>(), "a gap in the backup");
    assert!(
        (before..=after).contains(&held),
        "the backup holds {held} accounts; {before} were committed when it started, {after} when it ended"
    );
    assert!(total > held, "the writer was stopped before the backup");
    assert_eq!(accounts(&folder.database()).await.len() as i64, total);
}

#[tokio::test]
async fn a_restore_brings_back_exactly_the_backed_up_rows_and_keeps_the_replaced_file() {
    // Arrange: accounts 1–3 backed up, then 4 and 5 added and 1 deleted.
    let folder = Folder::new("restore");
    migrated(&folder);
    let pool = connect(&folder.database()).await;
    for n in 1..=3 {
        add_account(&pool, n).await;
    }
    let backup = folder.0.join("backup.db");
    let out = ticketmax(
        &folder.0,
        &folder.url(),
        &["backup", &backup.display().to_string()],
    );
    assert!(out.status.success(), "{}", text(&out));
    for n in 4..=5 {
        add_account(&pool, n).await;
    }
    sqlx::query("DELETE FROM users WHERE email = 'account-1@example.com'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    // Act
    let out = ticketmax(
        &folder.0,
        &folder.url(),
        &["restore", &backup.display().to_string()],
    );

    // Assert
    assert!(out.status.success(), "{}", text(&out));
    for stale in ["ticketmax.db-wal", "ticketmax.db-shm"] {
        assert!(
            !folder.0.join(stale).exists(),
            "{stale} left beside the restored file"
        );
    }
    assert_eq!(accounts(&folder.database()).await, [1, 2, 3]);
    assert_eq!(integrity(&folder.database()).await, ["ok"]);
    let aside: Vec<String> = folder
        .names()
        .into_iter()
        .filter(|n| n.starts_with("ticketmax.db.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", folder.names());
    assert!(text(&out).contains(&aside[0]), "{}", text(&out));
    assert_eq!(accounts(&folder.0.join(&aside[0])).await, [2, 3, 4, 5]);
    assert_eq!(
        folder.names().len(),
        3,
        "temporary or stale files left: {:?}",
        folder.names()
    );
    // The server opens the restored file and applies nothing it lacks.
    let out = ticketmax(&folder.0, &folder.url(), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(accounts(&folder.database()).await, [1, 2, 3]);
}

#[tokio::test]
async fn a_restore_refuses_while_the_database_is_open() {
    let folder = Folder::new("restore-busy");
    migrated(&folder);
    let pool = connect(&folder.database()).await;
    add_account(&pool, 1).await;
    let backup = folder.0.join("backup.db");
    let out = ticketmax(
        &folder.0,
        &folder.url(),
        &["backup", &backup.display().to_string()],
    );
    assert!(out.status.success(), "{}", text(&out));
    add_account(&pool, 2).await;

    // The pool's idle connection stands for a running server.
    let out = ticketmax(
        &folder.0,
        &folder.url(),
        &["restore", &backup.display().to_string()],
    );

    assert!(!out.status.success(), "restored under a running server");
    assert!(
        text(&out).contains("stop the server first"),
        "{}",
        text(&out)
    );
    let numbers: Vec<String> = sqlx::query_scalar(
        "SELECT last_name FROM users WHERE email LIKE 'account-%' ORDER BY last_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(numbers, ["1", "2"]);
    pool.close().await;
    assert_eq!(folder.names(), ["backup.db", "ticketmax.db"]);
}

#[tokio::test]
async fn a_restore_refuses_a_file_that_is_not_a_ticketmax_database() {
    // Arrange: a text file, and a SQLite database of another application.
    let folder = Folder::new("restore-foreign");
    migrated(&folder);
    let pool = connect(&folder.database()).await;
    add_account(&pool, 1).await;
    pool.close().await;
    let notes = folder.0.join("notes.txt");
    std::fs::write(&notes, "SQLite format 2, or not a database at all\n").unwrap();
    let other = folder.0.join("other.db");
    let other_pool = SqlitePoolOptions::new()
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&other)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        .execute(&other_pool)
        .await
        .unwrap();
    other_pool.close().await;

    // Act
    let text_file = ticketmax(
        &folder.0,
        &folder.url(),
        &["restore", &notes.display().to_string()],
    );
    let foreign = ticketmax(
        &folder.0,
        &folder.url(),
        &["restore", &other.display().to_string()],
    );

    // Assert
    assert!(!text_file.status.success(), "a text file was restored");
    assert!(
        text(&text_file).contains("is not a SQLite database"),
        "{}",
        text(&text_file)
    );
    assert!(!foreign.status.success(), "a foreign database was restored");
    assert!(
        text(&foreign).contains("not a TicketMax one"),
        "{}",
        text(&foreign)
    );
    assert_eq!(accounts(&folder.database()).await, [1]);
    assert_eq!(folder.names(), ["notes.txt", "other.db", "ticketmax.db"]);
}

#[test]
fn a_backup_never_overwrites_an_existing_file() {
    let folder = Folder::new("backup-exists");
    migrated(&folder);
    let target = folder.0.join("backup.db");
    std::fs::write(&target, "yesterday's backup").unwrap();

    let out = ticketmax(
        &folder.0,
        &folder.url(),
        &["backup", &target.display().to_string()],
    );

    assert!(!out.status.success(), "the backup overwrote a file");
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "yesterday's backup"
    );
    assert_eq!(folder.names(), ["backup.db", "ticketmax.db"]);
}

#[test]
fn backup_and_restore_of_a_postgres_database_point_to_its_own_tools() {
    let folder = Folder::new("backup-postgres");
    let url = "postgres://postgres@127.0.0.1:5432/ticketmax";
    let target = folder.0.join("backup.db");
    std::fs::write(folder.0.join("old.db"), "x").unwrap();

    let backup = ticketmax(&folder.0, url, &["backup", &target.display().to_string()]);
    let restore = ticketmax(&folder.0, url, &["restore", "old.db"]);

    assert!(!backup.status.success(), "{}", text(&backup));
    assert!(text(&backup).contains("pg_dump -Fc"), "{}", text(&backup));
    assert!(!restore.status.success(), "{}", text(&restore));
    assert!(text(&restore).contains("pg_restore"), "{}", text(&restore));
    assert_eq!(folder.names(), ["old.db"]);
}

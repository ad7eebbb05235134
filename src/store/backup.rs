//! `ticketmax backup` and `ticketmax restore`: an online copy of the SQLite database, and putting
//! one back in place of the configured database (docs/DEPLOYMENT.md, "Backups").
//!
//! A backup is `VACUUM INTO` a temporary file beside the target: one read transaction, so it is a
//! consistent snapshot while the server keeps writing (WAL readers never block the writer), and
//! a compact, self-contained file (no `-wal` beside it). It is linked to its name only when
//! complete, and a link never replaces an existing file.
//!
//! A restore checks the file first (a SQLite database, `PRAGMA integrity_check`, and a migration
//! history this binary knows, checksums included), then refuses while any other connection has
//! the database open: switching it out of WAL mode needs every other connection gone, and doing so
//! also folds the WAL into the file, so the copy kept aside is whole. The replaced file stays as
//! `<name>.before-restore-<UTC time>`; the backup is copied to a temporary file in the same folder,
//! synced, and renamed over the database, so the database is always either the old file or the
//! whole new one.
//!
//! PostgreSQL has its own tools (`pg_dump -Fc`, `pg_restore`): both commands refuse and say so.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What a backup wrote.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// The database file that now holds the backup.
    pub database: PathBuf,
    /// Where the replaced database was kept, when there was one.
    pub kept_aside: Option<PathBuf>,
    /// The latest migration the backup had applied.
    pub migration: i64,
}

/// The SQLite file a `DATABASE_URL` names; for PostgreSQL, an error that points to `tool`.
fn sqlite_file(database_url: &str, postgres_hint: &str) -> anyhow::Result<PathBuf> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        bail!(
            "DATABASE_URL is a PostgreSQL database: use PostgreSQL's own tools, {postgres_hint} \
             (see docs/DEPLOYMENT.md, \"Backups\")"
        );
    }
    if !database_url.starts_with("sqlite:") {
        bail!("DATABASE_URL must start with sqlite:// or postgres://");
    }
    let options = SqliteConnectOptions::from_str(database_url)?;
    let path = options.get_filename();
    if path.as_os_str().is_empty() || path == Path::new(":memory:") {
        bail!("DATABASE_URL names no database file");
    }
    Ok(path.to_path_buf())
}

/// A connection to an existing file that waits `busy` for locks.
async fn open(path: &Path, busy: Duration) -> sqlx::Result<SqliteConnection> {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(busy)
        .connect()
        .await
}

/// The folder of a file, `.` for a bare name.
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a rename or a new name in `dir` durable.
fn sync_folder(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A file name with a suffix: `ticketmax.db` → `ticketmax.db-wal`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes a temporary file when dropped, unless it was kept.
struct Temporary(Option<PathBuf>);

impl Temporary {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            for p in [
                with_suffix(&path, "-journal"),
                with_suffix(&path, "-wal"),
                with_suffix(&path, "-shm"),
                path,
            ] {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// `ticketmax backup <target>`: a consistent copy of the live SQLite database, taken while the
/// server runs. Never overwrites `target`.
pub async fn backup(database_url: &str, target: &Path) -> anyhow::Result<Written> {
    let source = sqlite_file(database_url, "for example `pg_dump -Fc \"$DATABASE_URL\"`")?;
    if !source.is_file() {
        bail!("there is no database at {}", source.display());
    }
    if target.symlink_metadata().is_ok() {
        bail!(
            "{} already exists: a backup never overwrites a file",
            target.display()
        );
    }
    let dir = folder_of(target);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = target
        .file_name()
        .with_context(|| format!("{} names no file", target.display()))?;
    let temporary = Temporary(Some(dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ))));
    let tmp_name = temporary
        .path()
        .to_str()
        .context("the backup's path is not UTF-8")?
        .to_string();

    // The server's writer may hold the lock for a moment; a read transaction waits for nothing
    // else in WAL mode.
    let mut conn = open(&source, Duration::from_secs(30))
        .await
        .with_context(|| format!("opening {}", source.display()))?;
    let vacuum = sqlx::query("VACUUM INTO ?")
        .bind(&tmp_name)
        .execute(&mut conn)
        .await;
    conn.close().await.ok();
    vacuum.with_context(|| format!("copying {}", source.display()))?;

    std::fs::File::open(temporary.path())?.sync_all()?;
    // A hard link fails when the name is taken: even a file made meanwhile is never replaced.
    std::fs::hard_link(temporary.path(), target).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists: a backup never overwrites a file",
                target.display()
            )
        } else {
            anyhow::anyhow!("writing {}: {e}", target.display())
        }
    })?;
    drop(temporary);
    sync_folder(&dir)?;
    let bytes = std::fs::metadata(target)?.len();
    Ok(Written {
        path: target.to_path_buf(),
        bytes,
    })
}

/// Checks that `path` is a sound SQLite database whose migrations are this binary's (an older
/// backup is fine: the server applies the rest at start-up); returns its latest migration. Leaves
/// the file in rollback-journal mode, so that it is one self-contained file.
async fn check_backup(path: &Path, shown: &Path) -> anyhow::Result<i64> {
    let mut header = [0u8; 16];
    let read = std::io::Read::read(&mut std::fs::File::open(path)?, &mut header)?;
    if read < header.len() || &header != SQLITE_HEADER {
        bail!("{} is not a SQLite database", shown.display());
    }
    let mut conn = open(path, Duration::ZERO)
        .await
        .with_context(|| format!("{} cannot be opened as a database", shown.display()))?;
    let verdict = check_open_backup(&mut conn, shown).await;
    let journal = sqlx::query("PRAGMA journal_mode = DELETE")
        .execute(&mut conn)
        .await;
    conn.close().await.ok();
    let latest = verdict?;
    journal?;
    Ok(latest)
}

async fn check_open_backup(conn: &mut SqliteConnection, shown: &Path) -> anyhow::Result<i64> {
    let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await
        .with_context(|| format!("{} is not a usable SQLite database", shown.display()))?;
    if problems != ["ok"] {
        bail!(
            "{} fails SQLite's integrity check: {}",
            shown.display(),
            problems.join("; ")
        );
    }
    let has_history: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !has_history {
        bail!(
            "{} is a SQLite database but not a TicketMax one (it has no migration history)",
            shown.display()
        );
    }
    let applied: Vec<(i64, Vec<u8>, bool)> =
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?;
    let known = super::sqlite_migrator();
    let mut latest = None;
    for (version, checksum, success) in applied {
        let Some(ours) = known.iter().find(|m| m.version == version) else {
            bail!(
                "{} has migration {version}, which this version of TicketMax does not know: \
                 restore it with the version that made it",
                shown.display()
            );
        };
        if *ours.checksum != *checksum {
            bail!(
                "{}: migration {version} differs from this version's: not a TicketMax backup",
                shown.display()
            );
        }
        if !success {
            bail!(
                "{}: migration {version} did not finish in that database",
                shown.display()
            );
        }
        latest = Some(version);
    }
    latest.with_context(|| {
        format!(
            "{} is not a TicketMax database (no migration was applied)",
            shown.display()
        )
    })
}

/// Folds the WAL into the database file and leaves WAL mode, which SQLite only allows when no
/// other connection has the database open: the proof that no server is using it.
async fn take_offline(database: &Path) -> anyhow::Result<()> {
    let mut conn = open(database, Duration::ZERO)
        .await
        .with_context(|| format!("opening {}", database.display()))?;
    let switched = sqlx::query_scalar::<_, String>("PRAGMA journal_mode = DELETE")
        .fetch_one(&mut conn)
        .await;
    conn.close().await.ok();
    match switched {
        Ok(mode) if mode.eq_ignore_ascii_case("delete") => Ok(()),
        Ok(_) | Err(_) => bail!(
            "{} is in use (is the server running?): stop the server first, then restore",
            database.display()
        ),
    }
}

/// `ticketmax restore <backup>`: replaces the configured SQLite database with a backup. The
/// server must be stopped; the replaced file is kept aside.
pub async fn restore(database_url: &str, backup: &Path) -> anyhow::Result<Restored> {
    let database = sqlite_file(
        database_url,
        "for example `pg_restore --clean --if-exists -d \"$DATABASE_URL\" ticketmax.dump` \
         (or `psql` for a plain SQL dump)",
    )?;
    if !backup.is_file() {
        bail!("there is no file at {}", backup.display());
    }
    let dir = folder_of(&database);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = database
        .file_name()
        .with_context(|| format!("{} names no file", database.display()))?
        .to_string_lossy()
        .into_owned();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");

    // Checked on the copy that will be installed, not on the file it came from.
    let temporary = Temporary(Some(dir.join(format!(".{name}.restore-{stamp}.tmp"))));
    std::fs::copy(backup, temporary.path())
        .with_context(|| format!("copying {}", backup.display()))?;
    let migration = check_backup(temporary.path(), backup).await?;
    std::fs::File::open(temporary.path())?.sync_all()?;

    let kept_aside = if database.exists() {
        take_offline(&database).await?;
        let aside = dir.join(format!("{name}.before-restore-{stamp}"));
        // A second name for the old file: the database keeps existing until the rename below.
        std::fs::hard_link(&database, &aside)
            .with_context(|| format!("keeping the database aside as {}", aside.display()))?;
        Some(aside)
    } else {
        None
    };
    for stale in ["-wal", "-shm", "-journal"] {
        match std::fs::remove_file(with_suffix(&database, stale)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(format!("removing {name}{stale}")),
        }
    }
    std::fs::rename(temporary.path(), &database)
        .with_context(|| format!("replacing {}", database.display()))?;
    temporary.keep();
    sync_folder(&dir)?;
    Ok(Restored {
        database,
        kept_aside,
        migration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_point_to_the_postgres_tools() {
        let err = sqlite_file("postgres://u@h/db", "pg_dump").unwrap_err();
        assert!(err.to_string().contains("pg_dump"), "{err}");
        assert_eq!(
            sqlite_file("sqlite://data/x.db", "").unwrap(),
            PathBuf::from("data/x.db")
        );
    }
}

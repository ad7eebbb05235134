//! Storage: one [`Store`] interface with a SQLite and a PostgreSQL implementation.
//!
//! Each business area keeps its SQL in a `queries.rs` file written once against a backend alias
//! (`Db`) and compiled twice, as the area's modules `sqlite` and `postgres` (each declares `Db`
//! and `PG`, then `#[path = "queries.rs"] mod queries`), so both implementations are type-checked
//! and stay in step; where the dialects differ, the file branches on the constant `PG`. The
//! area's `store.rs` holds its [`Store`] methods, which [`dispatch!`] to the right build. [`Store`] picks the implementation at start-up from the URL scheme. SQLite uses one
//! writer connection (writes serialize in-process instead of failing with `SQLITE_BUSY`) and a
//! pool of readers in WAL mode; PostgreSQL uses one pool for both.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Database, Pool, Postgres, Sqlite};

pub mod backup;
pub mod batcher;

/// The SQLite migrations embedded in the binary (a restore checks a backup's history against
/// them).
pub(crate) fn sqlite_migrator() -> &'static sqlx::migrate::Migrator {
    static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
    &MIGRATOR
}

/// A reader pool and a writer pool of one backend (the same pool on PostgreSQL), and the pool
/// that holds job leases.
#[derive(Debug)]
pub struct Pools<DB: Database> {
    /// For reads.
    pub read: Pool<DB>,
    /// For writes and transactions.
    pub write: Pool<DB>,
    /// For [`Store::lead`] alone: a lease holds its connection for its whole round while the
    /// round's own queries take others, so leases drawn from `write` could take every connection
    /// of a small pool and leave their rounds (and requests) waiting for none. On SQLite, which
    /// always leads, it is `write`.
    leases: Pool<DB>,
}

impl<DB: Database> Clone for Pools<DB> {
    fn clone(&self) -> Self {
        Self {
            read: self.read.clone(),
            write: self.write.clone(),
            leases: self.leases.clone(),
        }
    }
}

impl<DB: Database> Pools<DB> {
    /// [`Store::writer_identity`].
    pub fn writer_identity(&self) -> usize {
        std::sync::Arc::as_ptr(&self.write.connect_options()) as usize
    }
}

/// Reader passes at most in one [`Store::checkpoint`].
const CHECKPOINT_PASSES: usize = 4;
/// Pages a reader's pass may find added since the last one for the passes to have caught up.
const CHECKPOINT_CAUGHT_UP: i64 = 256;
/// Pages of log (~8 MB) from which a checkpoint ends on the writer so that the log starts over.
const CHECKPOINT_START_OVER: i64 = 2048;

/// A passive checkpoint on a connection of `pool`: the log's length in pages (−1 when the
/// database is not in WAL mode).
async fn wal_checkpoint(pool: &Pool<Sqlite>) -> sqlx::Result<i64> {
    let (_busy, log, _copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok(log)
}

/// Connections of the lease pool: one per job that takes a lease ([`crate::tasks::lease`]),
/// and one to spare.
pub const LEASE_CONNECTIONS: u32 = 8;

/// The storage interface: its methods live beside each area's queries (`impl Store` blocks).
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite file.
    Sqlite(Pools<Sqlite>),
    /// PostgreSQL server.
    Postgres(Pools<Postgres>),
}

/// Declares, at the top of an area's `sqlite.rs` or `postgres.rs`, what its `queries.rs` is compiled
/// against: the backend alias `Db`, the dialect flag `PG`, and the same-dialect modules of the
/// other areas it writes to (`crate::dialect!(sqlite, notify)` makes `notify::insert_message`
/// the SQLite one). The `#[path = "queries.rs"] mod queries;` line stays written out beside it,
/// so that rustfmt and clippy see the file.
#[macro_export]
macro_rules! dialect {
    (@types sqlite) => {
        /// The backend these queries are compiled for.
        pub type Db = sqlx::Sqlite;
        /// Whether the dialect is PostgreSQL.
        #[allow(dead_code)]
        pub const PG: bool = false;
    };
    (@types postgres) => {
        /// The backend these queries are compiled for.
        pub type Db = sqlx::Postgres;
        /// Whether the dialect is PostgreSQL.
        #[allow(dead_code)]
        pub const PG: bool = true;
    };
    ($dialect:ident $(, $peer:ident)* $(,)?) => {
        $crate::dialect!(@types $dialect);
        $(
            use $crate::$peer::$dialect as $peer;
        )*
    };
}

/// Calls the same query function on whichever backend the store holds.
#[macro_export]
macro_rules! dispatch {
    ($store:expr, $($module:ident)::+ => $func:ident ( $($arg:expr),* $(,)? )) => {
        match $store {
            $crate::store::Store::Sqlite(pools) => $($module)::+::sqlite::$func(pools, $($arg),*).await,
            $crate::store::Store::Postgres(pools) => $($module)::+::postgres::$func(pools, $($arg),*).await,
        }
    };
}

/// Declares an enum stored (and served) as fixed names, with `ALL` in declaration order,
/// `as_str`, `parse` of an exact name, `Display` as the name, and `TryFrom<String>` for
/// `#[sqlx(try_from = "String")]` columns (its error says "unknown `$what` …").
#[macro_export]
macro_rules! stored_names {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident as $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $name:literal, )+
        }
    ) => {
        $(#[$meta])*
        $vis enum $ty {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $ty {
            /// Every value, in the order the API lists them.
            pub const ALL: [Self; [$($name),+].len()] = [$(Self::$variant),+];

            /// The stored and public name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// The value of an exact name.
            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|value| value.as_str() == name)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $ty {
            type Error = String;

            fn try_from(name: String) -> Result<Self, String> {
                Self::parse(&name).ok_or_else(|| format!(concat!("unknown ", $what, " {}"), name))
            }
        }
    };
}

/// Whether an error is a unique-constraint violation (to answer 409 instead of 500).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether an error is a foreign-key violation (a row still referenced, or gone).
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// Whether an error is a CHECK-constraint violation.
pub fn is_check_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_check_violation())
}

/// `IN` over `n` ids bound from `$1`: one `uuid[]` parameter ([`PgArray`]) on PostgreSQL, `$1 …
/// $n` on SQLite. On PostgreSQL the array is unnested so that each id is a primary-key probe: as
/// `= ANY($1)` on a counter table full of dead row versions (a sale updates it every batch) and
/// not yet analyzed, the planner chose a sequential scan, measured at 40 ms per batch.
pub fn id_list(pg: bool, n: usize) -> String {
    id_list_from(pg, 1, n)
}

/// [`id_list`] bound from parameter `$from` (after the statement's other parameters).
pub fn id_list_from(pg: bool, from: usize, n: usize) -> String {
    if pg {
        format!("IN (SELECT unnest(CAST(${from} AS uuid[])))")
    } else {
        format!("IN ({})", placeholders(from, n))
    }
}

/// Placeholders `$from, $from+1, …` for `n` values bound one by one, as in an `IN` list.
pub fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A list bound as ONE PostgreSQL array parameter, sent in the binary protocol (no text to
/// format on our side or to parse on the server's): a statement over a batch keeps one shape
/// whatever the batch size, so each connection plans it once. SQLite has no array type: there a
/// query written for both backends binds lists item by item, and binding a `PgArray` is an
/// error, never a silent NULL.
#[derive(Debug, Clone)]
pub struct PgArray<T>(pub Vec<T>);

impl<T: sqlx::postgres::PgHasArrayType> sqlx::Type<Postgres> for PgArray<T> {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        T::array_type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        T::array_compatible(ty)
    }
}

impl<'q, T> sqlx::Encode<'q, Postgres> for PgArray<T>
where
    Vec<T>: sqlx::Encode<'q, Postgres>,
{
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        self.0.encode_by_ref(buf)
    }
}

impl<T> sqlx::Type<Sqlite> for PgArray<T> {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<Sqlite>>::type_info()
    }
}

impl<T> sqlx::Encode<'_, Sqlite> for PgArray<T> {
    fn encode_by_ref(
        &self,
        _buf: &mut sqlx::sqlite::SqliteArgumentsBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Err("a PostgreSQL array parameter cannot be bound on SQLite".into())
    }
}

/// The right to run one round of a cluster-wide job (API.md: periodic jobs run once per tick,
/// not once per instance). On PostgreSQL it is a transaction-scoped advisory lock on a connection
/// of the lease pool, given back by [`Lease::release`] when the round ends (dropped instead, as
/// when a round panics, it is given back when that connection is next used or closed); a SQLite
/// file has one server, which always leads.
pub enum Lease {
    /// The only instance.
    Single,
    /// Holds the advisory lock until dropped.
    Postgres(Box<sqlx::Transaction<'static, Postgres>>),
}

impl Lease {
    /// Gives the lease back at once. (Dropping it gives it back too, but only when its
    /// connection is next used: until then the lock is still held.)
    pub async fn release(self) {
        if let Lease::Postgres(tx) = self
            && let Err(e) = tx.rollback().await
        {
            tracing::warn!(error = %e, "a job's lease was not given back; its connection's end will");
        }
    }
}

impl Store {
    /// The identity of the store's writer pool (its shared connect options, which live as long
    /// as the pool), for the queues of the write paths that batch: a worker holds a clone of the
    /// store, so an identity is never reused while its queue exists, and several stores in one
    /// process (tests) get separate queues.
    pub fn writer_identity(&self) -> usize {
        match self {
            Store::Sqlite(p) => p.writer_identity(),
            Store::Postgres(p) => p.writer_identity(),
        }
    }

    /// Takes the lease of job `key` for one round, or `None` when another instance holds it.
    pub async fn lead(&self, key: i64) -> sqlx::Result<Option<Lease>> {
        match self {
            Store::Sqlite(_) => Ok(Some(Lease::Single)),
            Store::Postgres(p) => {
                let mut tx = p.leases.begin().await?;
                let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                Ok(won.then(|| Lease::Postgres(Box::new(tx))))
            }
        }
    }

    /// Opens the database named by `url` (`sqlite://path` or `postgres://…`), creating a SQLite
    /// file and its folder when missing.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            Self::connect_postgres(options, max_connections).await
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)?;
            }
            Self::connect_sqlite(options, max_connections).await
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres://")
        }
    }

    /// Opens a PostgreSQL pool.
    pub async fn connect_postgres(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> anyhow::Result<Self> {
        // JIT compilation pays off for long analytical queries; for ours it only adds latency.
        // PostgreSQL decides on it from cost estimates, so a batch query estimated expensive
        // on a table not yet analyzed (a fresh on-sale) was compiled on every run: 10–20 ms each,
        // measured in the hold benchmark's tail.
        let options = options.options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        // Opened when a job first leads; idle ones close after a minute.
        let leases = PgPoolOptions::new()
            .max_connections(LEASE_CONNECTIONS)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        Ok(Store::Postgres(Pools {
            read: pool.clone(),
            write: pool,
            leases,
        }))
    }

    /// Opens a SQLite file in WAL mode with one writer and `readers` reader connections.
    pub async fn connect_sqlite(
        options: SqliteConnectOptions,
        readers: u32,
    ) -> anyhow::Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            // Each connection has its own page cache, so the process held up to 16 MB of mostly
            // the same pages per connection: a long on-sale grew it to ~240 MiB of anonymous
            // memory. Reads now come from the file mapped into memory, pages the kernel shares
            // among the connections (and gives back under pressure); each connection keeps 2 MB
            // for the pages it changes. Measured in `scripts/bench`'s on-sale: 222 → 241 MiB
            // over five rounds before, 50 → 59 MiB after, at the same holds/s (BENCHMARKS.md).
            .pragma("cache_size", "-2000")
            .pragma("mmap_size", "1073741824")
            // The server copies the log back into the database in the background
            // ([`Store::checkpoint`]), and starts it over every 200 ms or so under a stream of
            // writes. A commit that finds the log this long (~160 MB: a server that is not
            // checkpointing, such as the command-line tools, or a long reader keeping the log
            // from starting over) still does it itself, as SQLite's default does at 1,000 pages.
            // At 10,000 pages a fast on-sale reached it between two of the server's rounds.
            .pragma("wal_autocheckpoint", "40000")
            .row_buffer_size(1024);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            // A local file's connection does not go stale; a ping before each checkout would
            // cost two thread switches per read for nothing.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            // A reader still copies into its own cache every page it finds in the log rather
            // than in the mapped file, up to its `cache_size`: ten readers filling 2 MB each
            // were most of a long on-sale's growth (~3 MiB a round). 256 KB each: the on-sale
            // grew 35–38 → 39–44 MiB over five rounds against 36–38 → 50–55, with no change
            // to the uncached list or holds (BENCHMARKS.md, "Readers' page cache").
            .connect_with(options.pragma("cache_size", "-256"))
            .await?;
        Ok(Store::Sqlite(Pools {
            read,
            leases: write.clone(),
            write,
        }))
    }

    /// Opens a SQLite file at a path.
    pub async fn open_sqlite_file(path: &Path) -> anyhow::Result<Self> {
        Self::connect_sqlite(SqliteConnectOptions::new().filename(path), 8).await
    }

    /// Applies the backend's migrations (embedded in the binary).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(p) => sqlite_migrator().run(&p.write).await?,
            Store::Postgres(p) => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&p.write)
                    .await?
            }
        }
        Ok(())
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// SQLite: copies what the write-ahead log holds back into the database file and lets the
    /// log start over; PostgreSQL checkpoints on its own, nothing to do.
    ///
    /// A commit that crosses SQLite's threshold would do it itself, holding the one writer while
    /// it writes and syncs the pages (BENCHMARKS.md, "The writer's checkpoints"). So the copying
    /// is done here, by passes on a reader's connection that wait for nobody
    /// (`PRAGMA wal_checkpoint(PASSIVE)`), each copying what the log gained during the last.
    ///
    /// The log starts over (its file written again from the top instead of growing) only when a
    /// write begins with all of it copied, and under a stream of commits a reader's pass never
    /// ends that way: commits land while it copies. Then the log grew until a commit crossed the
    /// threshold and checkpointed, holding the writer 12–37 ms (most of the holds' slow
    /// batches). So once the reader's passes have caught up, a last passive pass runs on the
    /// writer's connection, between two writes: it copies the few pages left with no commit
    /// landing meanwhile, and the next write starts the log over. Being passive, it never waits
    /// for a reader; a long one (a backup) only keeps the log from starting over.
    pub async fn checkpoint(&self) -> sqlx::Result<()> {
        let Store::Sqlite(p) = self else {
            return Ok(());
        };
        let mut copied = 0;
        for _ in 0..CHECKPOINT_PASSES {
            let log = wal_checkpoint(&p.read).await?;
            let gained = log - copied;
            copied = log;
            // A negative log: not in WAL mode; a shorter one: it started over meanwhile.
            if log < 0 || gained < CHECKPOINT_CAUGHT_UP {
                break;
            }
        }
        if copied >= CHECKPOINT_START_OVER {
            wal_checkpoint(&p.write).await?;
        }
        Ok(())
    }

    /// Round-trips a trivial query; returns the latency.
    pub async fn ping(&self) -> sqlx::Result<Duration> {
        let started = Instant::now();
        match self {
            Store::Sqlite(p) => {
                sqlx::query("SELECT 1").execute(&p.read).await?;
            }
            Store::Postgres(p) => {
                sqlx::query("SELECT 1").execute(&p.read).await?;
            }
        }
        Ok(started.elapsed())
    }

    /// Closes every connection (at shutdown).
    pub async fn close(&self) {
        match self {
            Store::Sqlite(p) => {
                p.read.close().await;
                p.write.close().await;
            }
            Store::Postgres(p) => {
                p.leases.close().await;
                p.write.close().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each stored name reads back as its value, exactly (no other letter case), and, for the
    /// enums the API also serializes, is the name serde writes: the macro's literals and the
    /// `#[serde(rename_all)]` beside them must never drift apart.
    macro_rules! assert_names {
        ($($ty:ty),+ ; served: $($served:ty),+) => {
            $(for value in <$ty>::ALL {
                let name = value.as_str();
                assert_eq!(<$ty>::parse(name), Some(value));
                assert_eq!(value.to_string(), name);
                assert_eq!(<$ty>::try_from(name.to_string()), Ok(value));
                let other_case = name.to_ascii_lowercase();
                if other_case != name {
                    assert_eq!(<$ty>::parse(&other_case), None, "{name}");
                }
            })+
            $(for value in <$served>::ALL {
                assert_eq!(serde_json::to_value(value).unwrap(), value.as_str());
            })+
        };
    }

    #[test]
    fn stored_names_read_back_and_match_what_the_api_serves() {
        use crate::bookings::model::BookingStatus;
        use crate::events::model::EventStatus;
        use crate::notify::model::Status;
        use crate::organizers::model::{ApplicationStatus, DocumentType};
        use crate::payments::model::PaymentStatus;
        use crate::users::model::{Role, UserStatus};
        assert_names!(
            BookingStatus, EventStatus, Status, ApplicationStatus, DocumentType, PaymentStatus,
            Role, UserStatus;
            served: EventStatus, ApplicationStatus, DocumentType, PaymentStatus, Role, UserStatus
        );
        assert_eq!(
            BookingStatus::try_from("HELD".to_string()),
            Err("unknown booking status HELD".to_string())
        );
    }

    /// A store on a SQLite file `t.db` in a folder of its own.
    async fn sqlite_file() -> (std::path::PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!("ticketmax-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open_sqlite_file(&dir.join("t.db")).await.unwrap();
        (dir, store)
    }

    /// Under a stream of commits a reader's checkpoint never copies the whole log, so the log
    /// never starts over and grows until a commit checkpoints it; [`Store::checkpoint`] ends on
    /// the writer so that it does start over.
    #[tokio::test]
    async fn a_checkpoint_under_a_stream_of_commits_lets_the_log_start_over() {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        let (dir, store) = sqlite_file().await;
        let Store::Sqlite(pools) = &store else {
            unreachable!("a SQLite file store")
        };
        sqlx::query("CREATE TABLE t (b BLOB NOT NULL)")
            .execute(&pools.write)
            .await
            .unwrap();
        // ~3,000 pages of log.
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO t SELECT randomblob(3000) FROM n",
        )
        .execute(&pools.write)
        .await
        .unwrap();
        // Its length from the file's (a checkpoint now would let the stream start it over).
        let wal = std::fs::metadata(dir.join("t.db-wal")).unwrap().len() as i64;
        let long = (wal - 32) / (4096 + 24);
        assert!(long >= 3000, "{long} pages of log");

        let commits = std::sync::Arc::new(AtomicUsize::new(0));
        let stream = tokio::spawn({
            let (write, commits) = (pools.write.clone(), commits.clone());
            async move {
                while commits.load(Relaxed) != usize::MAX {
                    sqlx::query("INSERT INTO t VALUES (randomblob(100))")
                        .execute(&write)
                        .await
                        .unwrap();
                    let _ = commits.fetch_update(Relaxed, Relaxed, |n| n.checked_add(1));
                }
            }
        });
        while commits.load(Relaxed) < 10 {
            tokio::task::yield_now().await;
        }
        store.checkpoint().await.unwrap();
        let commits = commits.swap(usize::MAX, Relaxed);
        stream.await.unwrap();
        sqlx::query("INSERT INTO t VALUES (x'00')")
            .execute(&pools.write)
            .await
            .unwrap();

        let log = wal_checkpoint(&pools.read).await.unwrap();
        assert!(
            log < long,
            "the log started over: {log} pages now, {long} before the stream of {commits} commits"
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_postgres_array_bound_on_sqlite_is_an_error_not_a_null() {
        let (dir, store) = sqlite_file().await;
        let Store::Sqlite(pools) = &store else {
            unreachable!("a SQLite file store")
        };
        let bound = sqlx::query_scalar::<_, Option<String>>("SELECT $1")
            .bind(PgArray(vec![1_i64, 2]))
            .fetch_one(&pools.write)
            .await;
        assert!(bound.is_err(), "bound as {bound:?}");
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

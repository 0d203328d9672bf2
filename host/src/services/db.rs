//! Database pools, SQLite or PostgreSQL (which databases exist and how they
//! are kept apart: `databases`). One value model and one error model for both, and
//! `$1, $2 …` placeholders on both, so the same SQL runs unchanged.

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgTypeInfo};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::types::chrono;
use sqlx::{Column, Row, TypeInfo, ValueRef};
use std::path::Path;
use std::time::{Duration, Instant};

/// A value bound to a placeholder or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Boolean(bool),
}

/// Rows returned by a query.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Caps on one statement a component runs: rows and bytes it may read at
/// once (the result is streamed and cut off, never buffered past them), and
/// when it must stop.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub max_rows: usize,
    pub max_bytes: usize,
    /// The instance's deadline: the statement is stopped there (SQLite's
    /// progress handler, or the client giving up on PostgreSQL, whose
    /// per-role `statement_timeout` stops the server side).
    pub deadline: Option<Instant>,
}

impl QueryLimits {
    /// No caps: for the host's own statements.
    pub const NONE: Self = Self {
        max_rows: usize::MAX,
        max_bytes: usize::MAX,
        deadline: None,
    };
}

/// Why a statement failed. Messages come from the database and never carry
/// the connection string.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SqlError {
    #[error("constraint violation: {0}")]
    Constraint(String),
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("the transaction is already finished")]
    TransactionClosed,
    /// The result grew past the rows or bytes a component may read at once.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The statement ran past its deadline (the instance's) and was stopped.
    #[error("the statement ran past its deadline and was stopped")]
    Timeout,
    /// The statement reaches outside what this database's user may touch
    /// (PostgreSQL `insufficient_privilege`, SQLite's authorizer).
    #[error("access denied: {0}")]
    Denied(String),
    #[error("{0}")]
    Other(String),
}

impl SqlError {
    /// A short, stable name of the kind of failure (a metric label).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Constraint(_) => "constraint",
            Self::Syntax(_) => "syntax",
            Self::TypeMismatch(_) => "type_mismatch",
            Self::Unavailable(_) => "unavailable",
            Self::TransactionClosed => "transaction_closed",
            Self::LimitExceeded(_) => "limit_exceeded",
            Self::Timeout => "timeout",
            Self::Denied(_) => "denied",
            Self::Other(_) => "other",
        }
    }
}

/// Pool settings, read by clap from the environment (see `cli::config`).
#[derive(Debug, Clone, clap::Args)]
pub struct DbConfig {
    /// `postgres://…` or `sqlite:…`; unset for the SQLite file under the data directory.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// Where the SQLite database and the compile cache live.
    #[arg(long = "data-dir", env = "SPACEPORT_DATA_DIR", default_value = "data")]
    pub data_dir: std::path::PathBuf,
    /// Most pooled connections.
    #[arg(long = "db-pool-size", env = "SPACEPORT_DB_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub pool_size: u32,
    /// Most rows one component statement may return (cut off with `limit-exceeded` beyond).
    #[arg(
        long = "sql-max-rows",
        env = "SPACEPORT_SQL_MAX_ROWS",
        default_value_t = 10_000
    )]
    pub max_rows: usize,
    /// Most bytes one component statement may return.
    #[arg(long = "sql-max-bytes", env = "SPACEPORT_SQL_MAX_BYTES", default_value_t = 16 << 20)]
    pub max_bytes: usize,
    /// Server-side cap on one component statement (PostgreSQL `statement_timeout`
    /// of each database's role); within it, a statement also stops at its instance's deadline.
    #[arg(
        long = "sql-statement-timeout-ms",
        env = "SPACEPORT_SQL_STATEMENT_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub statement_timeout_ms: u64,
    /// Milliseconds to wait for a pooled connection before answering 503.
    #[arg(long = "db-acquire-timeout-ms", env = "SPACEPORT_DB_ACQUIRE_TIMEOUT_MS", default_value = "3000",
          value_parser = parse_millis)]
    pub acquire_timeout: Duration,
}

fn parse_millis(value: &str) -> Result<Duration, String> {
    value
        .trim()
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("expected a whole number of milliseconds, found `{value}`"))
}

/// Which backend, without secrets, for logs and health.
#[derive(Debug, Clone)]
pub struct Describe {
    pub backend: &'static str,
    pub location: String,
}

/// A connection pool.
#[derive(Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A pool's connections as of now.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    /// Open connections, in use or idle.
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// A transaction holding one pooled connection until it ends.
pub enum Transaction {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// Startup failures name the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL: {0}")]
    Url(String),
    #[error("DATABASE_URL: cannot connect to {backend} at {location}: {message}")]
    Connect {
        backend: &'static str,
        location: String,
        message: String,
    },
    /// A declared database that cannot be set up (its name, its migrations).
    #[error("{0}")]
    Setup(String),
    #[error("SPACEPORT_DATA_DIR: cannot create {path}: {message}")]
    DataDir { path: String, message: String },
    #[error("migrating the {backend} database at {location}: {message}")]
    Migrate {
        backend: &'static str,
        location: String,
        message: String,
    },
}

/// A SQLite file's connection settings (WAL, foreign keys, busy timeout).
pub fn sqlite_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL + NORMAL: a commit survives a crash of the process (not of
        // the machine's power), without an fsync per transaction.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
}

/// A pool on the SQLite file at `path`. `sandboxed`: every connection runs
/// under [`authorizer::install`], for statements written by components.
pub async fn connect_sqlite(
    path: &Path,
    config: &DbConfig,
    sandboxed: bool,
) -> Result<Database, ConnectError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    let mut options = SqlitePoolOptions::new()
        .max_connections(config.pool_size.clamp(1, 8))
        .acquire_timeout(config.acquire_timeout);
    if sandboxed {
        options = options.after_connect(|conn, _meta| {
            Box::pin(async move {
                let mut handle = conn.lock_handle().await?;
                authorizer::install(&mut handle);
                Ok(())
            })
        });
    }
    let pool = options
        .connect_with(sqlite_options(path))
        .await
        .map_err(|e| ConnectError::Connect {
            backend: "SQLite",
            location: path.display().to_string(),
            message: e.to_string(),
        })?;
    Ok(Database::Sqlite(pool))
}

/// A pool logging in with `options`.
pub async fn connect_postgres(
    options: PgConnectOptions,
    describe: &Describe,
    config: &DbConfig,
    url: &str,
) -> Result<Database, ConnectError> {
    let pool = PgPoolOptions::new()
        .max_connections(config.pool_size)
        .min_connections(0)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        .connect_with(options)
        .await
        .map_err(|e| ConnectError::Connect {
            backend: describe.backend,
            location: describe.location.clone(),
            message: redact(&e.to_string(), url),
        })?;
    Ok(Database::Postgres(pool))
}

/// The SQLite authorizer of component connections: a statement may read and
/// write its own file's tables and nothing else.
mod authorizer {
    use libsqlite3_sys as ffi;
    use std::ffi::{CStr, c_char, c_int, c_void};

    /// Read-only PRAGMAs a component may run (schema introspection).
    const READ_PRAGMAS: &[&str] = &[
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        // Read by SQLite's own FTS5 tables (is the index current?); it cannot be set.
        "data_version",
    ];

    /// SQL functions that reach outside the file (or the process).
    const DENIED_FUNCTIONS: &[&str] = &[
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
    ];

    pub fn install(handle: &mut sqlx::sqlite::LockedSqliteHandle<'_>) {
        let db = handle.as_raw_handle().as_ptr();
        // SAFETY: `db` is this connection's open handle; the callback is a
        // plain function with no user data, valid for the program's lifetime.
        unsafe {
            ffi::sqlite3_set_authorizer(db, Some(authorize), std::ptr::null_mut());
        }
    }

    fn text(p: *const c_char) -> Option<String> {
        // SAFETY: SQLite passes NUL-terminated strings or NULL.
        (!p.is_null()).then(|| {
            unsafe { CStr::from_ptr(p) }
                .to_string_lossy()
                .to_ascii_lowercase()
        })
    }

    extern "C" fn authorize(
        _user: *mut c_void,
        action: c_int,
        arg1: *const c_char,
        arg2: *const c_char,
        _database: *const c_char,
        _trigger: *const c_char,
    ) -> c_int {
        let allowed = match action {
            ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => false,
            // `PRAGMA x` reads, `PRAGMA x = y` / `PRAGMA x(y)` writes (or asks about one table).
            ffi::SQLITE_PRAGMA => {
                let name = text(arg1).unwrap_or_default();
                READ_PRAGMAS.contains(&name.as_str())
            }
            ffi::SQLITE_FUNCTION => {
                let name = text(arg2).unwrap_or_default();
                !DENIED_FUNCTIONS.contains(&name.as_str())
            }
            _ => true,
        };
        if allowed {
            ffi::SQLITE_OK
        } else {
            ffi::SQLITE_DENY
        }
    }
}

impl Database {
    /// Close the pool (its connections end; SQLite files are released).
    pub async fn close(&self) {
        match self {
            Database::Postgres(pool) => pool.close().await,
            Database::Sqlite(pool) => pool.close().await,
        }
    }

    /// Run a statement that returns rows.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        match self {
            Database::Postgres(p) => pg_rows(pg_bind(sqlx::query(sql), params).fetch_all(p).await?),
            Database::Sqlite(p) => {
                sqlite_rows(sqlite_bind(sqlx::query(sql), params).fetch_all(p).await?)
            }
        }
    }

    /// Run a statement; returns rows affected.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        Ok(match self {
            Database::Postgres(p) => pg_bind(sqlx::query(sql), params)
                .execute(p)
                .await?
                .rows_affected(),
            Database::Sqlite(p) => sqlite_bind(sqlx::query(sql), params)
                .execute(p)
                .await?
                .rows_affected(),
        })
    }

    pub async fn begin(&self) -> Result<Transaction, SqlError> {
        Ok(match self {
            Database::Postgres(p) => Transaction::Postgres(p.begin().await?),
            Database::Sqlite(p) => Transaction::Sqlite(p.begin().await?),
        })
    }

    /// [`Self::query`] within `limits`; `waited` gets the time spent waiting
    /// for a pooled connection.
    pub async fn query_limited(
        &self,
        sql: &str,
        params: &[Value],
        limits: &QueryLimits,
        waited: &mut Duration,
    ) -> Result<Rows, SqlError> {
        match self {
            Database::Postgres(p) => {
                let mut conn = timed(p.acquire(), waited).await?;
                let result = {
                    let stream = pg_bind(sqlx::query(sql), params).fetch(&mut *conn);
                    within(limits.deadline, collect_stream(stream, pg_value, limits)).await
                };
                if matches!(result, Err(SqlError::LimitExceeded(_) | SqlError::Timeout)) {
                    // The server may still be sending rows or running the statement:
                    // close this connection (the server aborts on its next write)
                    // rather than hand a busy one back to the pool.
                    drop(conn.detach());
                }
                result
            }
            Database::Sqlite(p) => {
                let mut conn = timed(p.acquire(), waited).await?;
                arm(&mut conn, limits.deadline).await?;
                let stream = sqlite_bind(sqlx::query(sql), params).fetch(&mut *conn);
                within(
                    limits.deadline,
                    collect_stream(stream, sqlite_value, limits),
                )
                .await
            }
        }
    }

    /// [`Self::execute`] within `deadline`; `waited` as for [`Self::query_limited`].
    pub async fn execute_limited(
        &self,
        sql: &str,
        params: &[Value],
        deadline: Option<Instant>,
        waited: &mut Duration,
    ) -> Result<u64, SqlError> {
        match self {
            Database::Postgres(p) => {
                let mut conn = timed(p.acquire(), waited).await?;
                let result = within(deadline, async {
                    Ok(pg_bind(sqlx::query(sql), params)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected())
                })
                .await;
                if matches!(result, Err(SqlError::Timeout)) {
                    drop(conn.detach());
                }
                result
            }
            Database::Sqlite(p) => {
                let mut conn = timed(p.acquire(), waited).await?;
                arm(&mut conn, deadline).await?;
                within(deadline, async {
                    Ok(sqlite_bind(sqlx::query(sql), params)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected())
                })
                .await
            }
        }
    }

    /// [`Self::begin`], its statements stopped at `deadline`; `waited` as for
    /// [`Self::query_limited`] (the wait and the `BEGIN`).
    pub async fn begin_limited(
        &self,
        deadline: Option<Instant>,
        waited: &mut Duration,
    ) -> Result<Transaction, SqlError> {
        match self {
            Database::Postgres(p) => Ok(Transaction::Postgres(
                within(deadline, timed(async { Ok(p.begin().await?) }, waited)).await?,
            )),
            Database::Sqlite(p) => {
                let mut tx = timed(p.begin(), waited).await?;
                arm(&mut tx, deadline).await?;
                Ok(Transaction::Sqlite(tx))
            }
        }
    }

    /// How many connections are open, idle, and allowed.
    pub fn pool_state(&self) -> PoolState {
        let (size, idle, max) = match self {
            Database::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Database::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        PoolState {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        }
    }

    /// Round-trip time of `SELECT 1`.
    pub async fn ping(&self) -> Result<Duration, SqlError> {
        let start = Instant::now();
        self.query("SELECT 1", &[]).await?;
        Ok(start.elapsed())
    }
}

impl Transaction {
    pub async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, SqlError> {
        match self {
            Transaction::Postgres(t) => pg_rows(
                pg_bind(sqlx::query(sql), params)
                    .fetch_all(&mut **t)
                    .await?,
            ),
            Transaction::Sqlite(t) => sqlite_rows(
                sqlite_bind(sqlx::query(sql), params)
                    .fetch_all(&mut **t)
                    .await?,
            ),
        }
    }

    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        Ok(match self {
            Transaction::Postgres(t) => pg_bind(sqlx::query(sql), params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Transaction::Sqlite(t) => sqlite_bind(sqlx::query(sql), params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }

    /// [`Self::query`] within `limits`.
    pub async fn query_limited(
        &mut self,
        sql: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<Rows, SqlError> {
        match self {
            Transaction::Postgres(t) => {
                let stream = pg_bind(sqlx::query(sql), params).fetch(&mut **t);
                within(limits.deadline, collect_stream(stream, pg_value, limits)).await
            }
            Transaction::Sqlite(t) => {
                let stream = sqlite_bind(sqlx::query(sql), params).fetch(&mut **t);
                within(
                    limits.deadline,
                    collect_stream(stream, sqlite_value, limits),
                )
                .await
            }
        }
    }

    /// [`Self::execute`] within `deadline`.
    pub async fn execute_limited(
        &mut self,
        sql: &str,
        params: &[Value],
        deadline: Option<Instant>,
    ) -> Result<u64, SqlError> {
        within(deadline, self.execute(sql, params)).await
    }

    pub async fn commit(self) -> Result<(), SqlError> {
        match self {
            Transaction::Postgres(t) => t.commit().await?,
            Transaction::Sqlite(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), SqlError> {
        match self {
            Transaction::Postgres(t) => t.rollback().await?,
            Transaction::Sqlite(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// Never let a connection string reach a log or an error body.
pub fn redact(message: &str, url: &str) -> String {
    if url.is_empty() {
        message.to_string()
    } else {
        message.replace(url, "[DATABASE_URL]")
    }
}

impl From<sqlx::Error> for SqlError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match e {
            sqlx::Error::Database(db) => {
                let message = db.message().to_string();
                match db.kind() {
                    ErrorKind::UniqueViolation
                    | ErrorKind::ForeignKeyViolation
                    | ErrorKind::NotNullViolation
                    | ErrorKind::CheckViolation => SqlError::Constraint(message),
                    _ => {
                        let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                        let lower = message.to_ascii_lowercase();
                        // 57014: query_canceled (statement_timeout); 9: SQLITE_INTERRUPT
                        // (the progress handler stopped it at its deadline).
                        if code == "57014" || code == "9" || lower == "interrupted" {
                            SqlError::Timeout
                        // 42501: insufficient_privilege; 23: SQLITE_AUTH (the authorizer said no).
                        } else if code == "42501"
                            || code == "23"
                            || lower.contains("not authorized")
                            || lower.contains("authorization denied")
                            || lower.contains("permission denied")
                        {
                            SqlError::Denied(message)
                        } else if code.starts_with("42")
                            || lower.contains("syntax error")
                            || lower.contains("no such")
                        {
                            SqlError::Syntax(message)
                        } else if code.starts_with("22") || lower.contains("datatype mismatch") {
                            SqlError::TypeMismatch(message)
                        } else if code.starts_with("08")
                            || code.starts_with("57")
                            || code.starts_with("53")
                        {
                            SqlError::Unavailable(message)
                        } else {
                            SqlError::Other(message)
                        }
                    }
                }
            }
            sqlx::Error::PoolTimedOut => {
                SqlError::Unavailable("timed out waiting for a database connection".into())
            }
            sqlx::Error::PoolClosed => {
                SqlError::Unavailable("the connection pool is closed".into())
            }
            sqlx::Error::Io(io) => SqlError::Unavailable(io.to_string()),
            sqlx::Error::Tls(t) => SqlError::Unavailable(format!("TLS: {t}")),
            sqlx::Error::Protocol(p) => SqlError::Unavailable(format!("protocol: {p}")),
            sqlx::Error::WorkerCrashed => SqlError::Unavailable("database worker crashed".into()),
            e @ (sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. }) => SqlError::TypeMismatch(e.to_string()),
            other => SqlError::Other(other.to_string()),
        }
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;
type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// A NULL whose type PostgreSQL infers from context (parameter type 0), so
/// `NULL` binds to an integer, text or boolean column alike.
struct UntypedNull;

impl sqlx::Type<sqlx::Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

fn pg_bind<'q>(mut q: PgQuery<'q>, params: &[Value]) -> PgQuery<'q> {
    for p in params {
        q = match p.clone() {
            Value::Null => q.bind(UntypedNull),
            Value::Integer(i) => q.bind(i),
            Value::Real(f) => q.bind(f),
            Value::Text(s) => q.bind(s),
            Value::Blob(b) => q.bind(b),
            Value::Boolean(b) => q.bind(b),
        };
    }
    q
}

fn sqlite_bind<'q>(mut q: SqliteQuery<'q>, params: &[Value]) -> SqliteQuery<'q> {
    for p in params {
        q = match p.clone() {
            Value::Null => q.bind(None::<i64>),
            Value::Integer(i) => q.bind(i),
            Value::Real(f) => q.bind(f),
            Value::Text(s) => q.bind(s),
            Value::Blob(b) => q.bind(b),
            Value::Boolean(b) => q.bind(b),
        };
    }
    q
}

/// Column names from the first row, then every cell through `decode`.
fn collect<R: Row>(
    rows: Vec<R>,
    decode: fn(&R, usize) -> Result<Value, SqlError>,
) -> Result<Rows, SqlError> {
    let mut out = Rows::default();
    if let Some(first) = rows.first() {
        out.columns = first
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
    }
    for row in &rows {
        let values = (0..row.columns().len())
            .map(|i| decode(row, i))
            .collect::<Result<Vec<_>, _>>()?;
        out.rows.push(values);
    }
    Ok(out)
}

/// Stop a SQLite connection's statements at `deadline` (or never): its
/// progress handler is checked every few thousand VM steps. Set on every
/// checkout, so a handler left by an earlier user never applies.
async fn arm(conn: &mut sqlx::SqliteConnection, deadline: Option<Instant>) -> Result<(), SqlError> {
    let mut handle = conn.lock_handle().await?;
    match deadline {
        Some(deadline) => handle.set_progress_handler(4_000, move || Instant::now() < deadline),
        None => handle.remove_progress_handler(),
    }
    Ok(())
}

/// `fut`, its time added to `waited`.
async fn timed<T>(fut: impl Future<Output = T>, waited: &mut Duration) -> T {
    let start = Instant::now();
    let out = fut.await;
    *waited += start.elapsed();
    out
}

/// `fut`, or [`SqlError::Timeout`] at `deadline`.
async fn within<T>(
    deadline: Option<Instant>,
    fut: impl Future<Output = Result<T, SqlError>>,
) -> Result<T, SqlError> {
    match deadline {
        None => fut.await,
        Some(d) => tokio::time::timeout_at(d.into(), fut)
            .await
            .unwrap_or(Err(SqlError::Timeout)),
    }
}

/// Rows from a stream, cut off (with [`SqlError::LimitExceeded`]) past the
/// limits, so a huge result is never held in host memory.
async fn collect_stream<'a, R: Row>(
    mut stream: futures_util::stream::BoxStream<'a, Result<R, sqlx::Error>>,
    decode: fn(&R, usize) -> Result<Value, SqlError>,
    limits: &QueryLimits,
) -> Result<Rows, SqlError> {
    use futures_util::StreamExt;
    let mut out = Rows::default();
    let mut bytes = 0usize;
    while let Some(row) = stream.next().await {
        let row = row?;
        if out.columns.is_empty() {
            out.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
        }
        if out.rows.len() >= limits.max_rows {
            return Err(SqlError::LimitExceeded(format!(
                "the result has more than {} rows; page it with LIMIT/OFFSET or a narrower WHERE",
                limits.max_rows
            )));
        }
        let values = (0..row.columns().len())
            .map(|i| decode(&row, i))
            .collect::<Result<Vec<_>, _>>()?;
        bytes += values
            .iter()
            .map(|v| match v {
                Value::Text(t) => t.len() + 8,
                Value::Blob(b) => b.len() + 8,
                _ => 8,
            })
            .sum::<usize>();
        if bytes > limits.max_bytes {
            return Err(SqlError::LimitExceeded(format!(
                "the result is larger than {} bytes; select fewer rows or columns",
                limits.max_bytes
            )));
        }
        out.rows.push(values);
    }
    Ok(out)
}

fn pg_rows(rows: Vec<PgRow>) -> Result<Rows, SqlError> {
    collect(rows, pg_value)
}

fn sqlite_rows(rows: Vec<SqliteRow>) -> Result<Rows, SqlError> {
    collect(rows, sqlite_value)
}

fn pg_value(row: &PgRow, i: usize) -> Result<Value, SqlError> {
    if row.try_get_raw(i)?.is_null() {
        return Ok(Value::Null);
    }
    let column = &row.columns()[i];
    Ok(match column.type_info().name() {
        "INT2" => Value::Integer(row.try_get::<i16, _>(i)?.into()),
        "INT4" => Value::Integer(row.try_get::<i32, _>(i)?.into()),
        "INT8" => Value::Integer(row.try_get::<i64, _>(i)?),
        "FLOAT4" => Value::Real(row.try_get::<f32, _>(i)?.into()),
        "FLOAT8" => Value::Real(row.try_get::<f64, _>(i)?),
        "BOOL" => Value::Boolean(row.try_get::<bool, _>(i)?),
        "BYTEA" => Value::Blob(row.try_get::<Vec<u8>, _>(i)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => {
            Value::Text(row.try_get::<String, _>(i)?)
        }
        // Types a component has no WIT type for arrive as their usual text form.
        "UUID" => Value::Text(row.try_get::<sqlx::types::Uuid, _>(i)?.to_string()),
        "JSON" | "JSONB" => Value::Text(row.try_get::<sqlx::types::JsonValue, _>(i)?.to_string()),
        "TIMESTAMPTZ" => Value::Text(
            row.try_get::<chrono::DateTime<chrono::Utc>, _>(i)?
                .format("%Y-%m-%dT%H:%M:%S%.fZ")
                .to_string(),
        ),
        "TIMESTAMP" => Value::Text(
            row.try_get::<chrono::NaiveDateTime, _>(i)?
                .format("%Y-%m-%dT%H:%M:%S%.f")
                .to_string(),
        ),
        "DATE" => Value::Text(row.try_get::<chrono::NaiveDate, _>(i)?.to_string()),
        other => {
            return Err(SqlError::TypeMismatch(format!(
                "column `{}` has type {other}, which is not supported; cast it in SQL (e.g. `{}::text`)",
                column.name(),
                column.name()
            )));
        }
    })
}

fn sqlite_value(row: &SqliteRow, i: usize) -> Result<Value, SqlError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    // SQLite is dynamically typed: the value's own storage class decides.
    let class = raw.type_info().name().to_string();
    Ok(match class.as_str() {
        "INTEGER" | "BOOLEAN" => Value::Integer(row.try_get::<i64, _>(i)?),
        "REAL" => Value::Real(row.try_get::<f64, _>(i)?),
        "BLOB" => Value::Blob(row.try_get::<Vec<u8>, _>(i)?),
        _ => Value::Text(row.try_get::<String, _>(i)?),
    })
}

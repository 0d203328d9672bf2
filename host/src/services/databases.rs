//! The host's databases, each isolated from the others: the host's own
//! (accounts: no manifest can grant it) and the named databases the manifest
//! declares for components (`[database.tasks]`, granted with `sql = ["tasks"]`).
//!
//! - SQLite: one file each (`host.db`, and `db/<name>.db` beside it).
//!   Component connections run under an authorizer that denies `ATTACH`,
//!   `DETACH`, `VACUUM`, extension loading, file-reading functions and every
//!   `PRAGMA` but a few read-only ones, so a statement cannot leave its file.
//! - PostgreSQL: the host's tables live in schema `spaceport`, owned by the
//!   `DATABASE_URL` user. Each named database is a schema owned by its own
//!   login role (no superuser, no role membership), and the component's pool
//!   logs in as that role: `SET ROLE`/`RESET ROLE` cannot reach anything else,
//!   and the host's and other databases' tables are not readable to it.
//!
//! An existing deployment of the single-database layout (users, tasks and
//! chat in one SQLite file or in schema `public`) is upgraded at start: each
//! legacy table's rows are copied into the database that now owns a table of
//! that name, then the legacy tables are set aside (`app.db.pre-split`,
//! schema `spaceport_legacy`), never dropped.

use super::db::{
    ConnectError, Database, DbConfig, Describe, connect_postgres, connect_sqlite, redact,
    sqlite_options,
};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, Row};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

static HOST_PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/host/postgres");
static HOST_SQLITE_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("../migrations/host/sqlite");

/// The PostgreSQL schema of the host's own tables.
pub const HOST_SCHEMA: &str = "spaceport";
/// Where legacy tables are set aside after an upgrade (PostgreSQL).
pub const LEGACY_SCHEMA: &str = "spaceport_legacy";

/// A database the manifest declares.
#[derive(Debug, Clone)]
pub struct DatabaseSpec {
    pub name: String,
    /// The folder holding `postgres/` and `sqlite/` migrations, if any.
    pub migrations: Option<PathBuf>,
}

/// Names a manifest may not declare: they are the host's own.
pub const RESERVED: &[&str] = &[
    "host",
    "spaceport",
    "spaceport_legacy",
    "public",
    "main",
    "temp",
];

/// Whether `name` can name a database (it becomes a file, schema and role name).
pub fn valid_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(
            "expected a name of at most 40 lower-case letters, digits and `_`, starting with a letter"
                .into(),
        );
    }
    if RESERVED.contains(&name) || name.starts_with("pg_") || name.starts_with("sqlite_") {
        return Err(format!("`{name}` is reserved for the host"));
    }
    Ok(())
}

/// Every database the host opened.
pub struct Databases {
    /// The host's own (accounts).
    pub host: Database,
    /// The manifest's named databases, for components.
    pub named: BTreeMap<String, Database>,
    pub describe: Describe,
    /// PostgreSQL: the login roles of the named databases (empty on SQLite).
    pub roles: Vec<String>,
}

impl Databases {
    /// PostgreSQL: end every component statement that has run, or transaction
    /// that has sat idle, longer than `limit`. The per-role `statement_timeout`
    /// is only a default a component could change for itself (`SET`, or
    /// `ALTER ROLE CURRENT_USER SET`); this check is the host's, run from its
    /// own connection, so it holds whatever the component set. Returns how
    /// many it ended.
    pub async fn end_overrunning(&self, limit: std::time::Duration) -> Result<u64, sqlx::Error> {
        let Database::Postgres(pool) = &self.host else {
            return Ok(0);
        };
        if self.roles.is_empty() {
            return Ok(0);
        }
        let secs = limit.as_secs_f64();
        let ended: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE usename = ANY($1) AND pid <> pg_backend_pid() AND ( \
               (state = 'active' AND now() - query_start > make_interval(secs => $2)) \
               OR (state LIKE 'idle in transaction%' AND now() - state_change > make_interval(secs => $2 * 2)))",
        )
        .bind(&self.roles)
        .bind(secs)
        .fetch_one(pool)
        .await?;
        Ok(u64::try_from(ended).unwrap_or(0))
    }

    /// Open (creating and migrating as needed) the host's database and every
    /// named one, then upgrade a legacy single-database layout if present.
    pub async fn open(config: &DbConfig, specs: &[DatabaseSpec]) -> Result<Self, ConnectError> {
        for spec in specs {
            valid_name(&spec.name)
                .map_err(|m| ConnectError::Setup(format!("database `{}`: {m}", spec.name)))?;
        }
        let url = config.url.as_deref().map(str::trim).unwrap_or("");
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            open_postgres(config, url, specs).await
        } else if url.is_empty() || url.starts_with("sqlite:") {
            open_sqlite(config, url, specs).await
        } else {
            Err(ConnectError::Url(
                "expected a postgres://, postgresql:// or sqlite: URL (unset it for the SQLite default)".into(),
            ))
        }
    }
}

fn migrate_error(
    describe: &Describe,
    what: &str,
    e: impl std::fmt::Display,
    url: &str,
) -> ConnectError {
    ConnectError::Migrate {
        backend: describe.backend,
        location: format!("{} ({what})", describe.location),
        message: redact(&e.to_string(), url),
    }
}

/// The migrations of `spec` for one backend (`postgres` or `sqlite`), if it has any.
async fn spec_migrator(
    spec: &DatabaseSpec,
    backend: &str,
) -> Result<Option<sqlx::migrate::Migrator>, ConnectError> {
    let Some(dir) = &spec.migrations else {
        return Ok(None);
    };
    let dir = dir.join(backend);
    if !dir.is_dir() {
        return Err(ConnectError::Setup(format!(
            "database `{}`: migrations folder {} is missing",
            spec.name,
            dir.display()
        )));
    }
    sqlx::migrate::Migrator::new(dir.clone())
        .await
        .map(Some)
        .map_err(|e| {
            ConnectError::Setup(format!(
                "database `{}`: cannot read the migrations in {}: {e}",
                spec.name,
                dir.display()
            ))
        })
}

// ---------------------------------------------------------------- SQLite

async fn open_sqlite(
    config: &DbConfig,
    url: &str,
    specs: &[DatabaseSpec],
) -> Result<Databases, ConnectError> {
    let host_path = if url.is_empty() {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| ConnectError::DataDir {
            path: config.data_dir.display().to_string(),
            message: e.to_string(),
        })?;
        config.data_dir.join("host.db")
    } else {
        PathBuf::from(
            url.trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:"),
        )
    };
    let dir = host_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let describe = Describe {
        backend: "SQLite",
        location: dir.display().to_string(),
    };
    let host = connect_sqlite(&host_path, config, false).await?;
    if let Database::Sqlite(pool) = &host {
        HOST_SQLITE_MIGRATIONS
            .run(pool)
            .await
            .map_err(|e| migrate_error(&describe, "host", e, url))?;
    }
    let db_dir = dir.join("db");
    std::fs::create_dir_all(&db_dir).map_err(|e| ConnectError::DataDir {
        path: db_dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut named = BTreeMap::new();
    for spec in specs {
        let path = db_dir.join(format!("{}.db", spec.name));
        // Migrations are the app's own code: they run on a connection
        // without the components' authorizer (they may need a PRAGMA).
        if let Some(migrator) = spec_migrator(spec, "sqlite").await? {
            let mut conn = sqlx::SqliteConnection::connect_with(&sqlite_options(&path))
                .await
                .map_err(|e| migrate_error(&describe, &spec.name, e, url))?;
            migrator
                .run(&mut conn)
                .await
                .map_err(|e| migrate_error(&describe, &spec.name, e, url))?;
            let _ = conn.close().await;
        }
        named.insert(
            spec.name.clone(),
            connect_sqlite(&path, config, true).await?,
        );
    }
    if url.is_empty() {
        let legacy = config.data_dir.join("app.db");
        if legacy.is_file() {
            upgrade_sqlite(&legacy, &host_path, &db_dir, specs)
                .await
                .map_err(|e| migrate_error(&describe, "upgrading app.db", e, url))?;
        }
    }
    Ok(Databases {
        host,
        named,
        describe,
        roles: Vec::new(),
    })
}

/// Tables of a SQLite file (or attached schema), without SQLite's and sqlx's own.
async fn sqlite_tables(
    conn: &mut sqlx::SqliteConnection,
    schema: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = conn
        .fetch_all(
            format!(
                "SELECT name FROM {schema}.sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name"
            )
            .as_str(),
        )
        .await?;
    rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
}

async fn sqlite_columns(
    conn: &mut sqlx::SqliteConnection,
    schema: &str,
    table: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = conn
        .fetch_all(format!("PRAGMA {schema}.table_info(\"{table}\")").as_str())
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect()
}

/// Copy the rows of the legacy single file into the databases that now own
/// its tables, then set the file aside as `app.db.pre-split`.
async fn upgrade_sqlite(
    legacy: &Path,
    host_path: &Path,
    db_dir: &Path,
    specs: &[DatabaseSpec],
) -> Result<(), sqlx::Error> {
    let mut destinations: Vec<PathBuf> = vec![host_path.to_path_buf()];
    destinations.extend(specs.iter().map(|s| db_dir.join(format!("{}.db", s.name))));
    let legacy_text = legacy.display().to_string().replace('\'', "''");
    let mut moved = 0usize;
    for destination in destinations {
        let mut conn = sqlx::SqliteConnection::connect_with(&sqlite_options(&destination)).await?;
        conn.execute(format!("ATTACH DATABASE '{legacy_text}' AS legacy").as_str())
            .await?;
        let ours = sqlite_tables(&mut conn, "main").await?;
        let theirs = sqlite_tables(&mut conn, "legacy").await?;
        for table in ours.iter().filter(|t| theirs.contains(t)) {
            let empty: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM main.\"{table}\""))
                .fetch_one(&mut conn)
                .await?;
            if empty != 0 {
                continue; // already adopted (or written to since): never duplicate rows
            }
            let mine = sqlite_columns(&mut conn, "main", table).await?;
            let old = sqlite_columns(&mut conn, "legacy", table).await?;
            let columns: Vec<String> = mine
                .iter()
                .filter(|c| old.contains(c))
                .map(|c| format!("\"{c}\""))
                .collect();
            let list = columns.join(", ");
            let copied = conn
                .execute(
                    format!(
                        "INSERT INTO main.\"{table}\" ({list}) SELECT {list} FROM legacy.\"{table}\" ORDER BY rowid"
                    )
                    .as_str(),
                )
                .await?
                .rows_affected();
            tracing::info!(table = %table, rows = copied, to = %destination.display(), "upgrade: legacy rows copied");
            moved += 1;
        }
        conn.execute("DETACH DATABASE legacy").await?;
        let _ = conn.close().await;
    }
    // Fold the legacy WAL into the file before it is renamed.
    let mut conn = sqlx::SqliteConnection::connect_with(&sqlite_options(legacy)).await?;
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    let _ = conn.close().await;
    let aside = legacy.with_extension("db.pre-split");
    std::fs::rename(legacy, &aside).map_err(sqlx::Error::Io)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", legacy.display()));
    }
    tracing::warn!(
        tables = moved,
        kept = %aside.display(),
        "upgrade: the single-database layout was split into the host's and the named databases; the old file is kept"
    );
    Ok(())
}

// ------------------------------------------------------------ PostgreSQL

/// The login role that owns named database `name` in PostgreSQL database
/// `current`: unique per PostgreSQL database, so two apps on one server never
/// share a role.
pub fn pg_role(current: &str, name: &str) -> String {
    let candidate = format!("{current}_{name}");
    if candidate.len() <= 63
        && candidate
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        candidate
    } else {
        let digest = Sha256::digest(current.as_bytes());
        format!("sp_{}_{name}", &hex::encode(digest)[..12])
    }
}

/// The role's password: derived from the `DATABASE_URL` credentials, so every
/// replica computes the same one and nothing new has to be configured.
fn pg_role_password(admin_url: &str, role: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"spaceport role password\0");
    hasher.update(admin_url.as_bytes());
    hasher.update(b"\0");
    hasher.update(role.as_bytes());
    hex::encode(hasher.finalize())
}

fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn open_postgres(
    config: &DbConfig,
    url: &str,
    specs: &[DatabaseSpec],
) -> Result<Databases, ConnectError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        ConnectError::Url(format!(
            "not a valid PostgreSQL URL ({})",
            redact(&e.to_string(), url)
        ))
    })?;
    let describe = Describe {
        backend: "PostgreSQL",
        location: format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("postgres")
        ),
    };
    let setup_error = |what: &str, e: sqlx::Error| ConnectError::Connect {
        backend: describe.backend,
        location: describe.location.clone(),
        message: format!("{what}: {}", redact(&e.to_string(), url)),
    };
    // One admin connection for the setup; pools afterwards.
    let mut admin = sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(|e| setup_error("connecting", e))?;
    let current: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut admin)
        .await
        .map_err(|e| setup_error("reading the database name", e))?;
    admin
        .execute(format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(HOST_SCHEMA)).as_str())
        .await
        .map_err(|e| setup_error("creating the host's schema", e))?;
    let host = connect_postgres(
        options.clone().options([("search_path", HOST_SCHEMA)]),
        &describe,
        config,
        url,
    )
    .await?;
    if let Database::Postgres(pool) = &host {
        HOST_PG_MIGRATIONS
            .run(pool)
            .await
            .map_err(|e| migrate_error(&describe, "host", e, url))?;
    }
    let mut named = BTreeMap::new();
    for spec in specs {
        let role = pg_role(&current, &spec.name);
        let password = pg_role_password(url, &role);
        ensure_role(&mut admin, &role, &password, &spec.name, config)
            .await
            .map_err(|e| {
                let hint = if e.to_string().contains("permission denied") {
                    " (the DATABASE_URL user needs CREATEROLE to give each database its own role)"
                } else {
                    ""
                };
                setup_error(&format!("preparing database `{}`{hint}", spec.name), e)
            })?;
        let role_options = options
            .clone()
            .username(&role)
            .password(&password)
            .options([("search_path", spec.name.as_str())]);
        let db = connect_postgres(role_options, &describe, config, url).await?;
        if let (Some(migrator), Database::Postgres(pool)) =
            (spec_migrator(spec, "postgres").await?, &db)
        {
            migrator
                .run(pool)
                .await
                .map_err(|e| migrate_error(&describe, &spec.name, e, url))?;
        }
        named.insert(spec.name.clone(), db);
    }
    upgrade_postgres(&mut admin, &current, specs, &named)
        .await
        .map_err(|e| migrate_error(&describe, "upgrading schema public", e, url))?;
    let _ = admin.close().await;
    Ok(Databases {
        host,
        named,
        describe,
        roles: specs.iter().map(|s| pg_role(&current, &s.name)).collect(),
    })
}

/// The role and the schema it owns; idempotent, safe to race with another replica.
async fn ensure_role(
    admin: &mut sqlx::PgConnection,
    role: &str,
    password: &str,
    schema: &str,
    config: &DbConfig,
) -> Result<(), sqlx::Error> {
    let pool_size = config.pool_size;
    let r = quote_ident(role);
    let create = format!(
        "DO $$ BEGIN CREATE ROLE {r} LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    );
    admin.execute(create.as_str()).await?;
    // No superuser, no role creation, no membership inherited: it can be only itself.
    admin
        .execute(
            format!(
                "ALTER ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS \
                 CONNECTION LIMIT {} PASSWORD {}",
                pool_size.saturating_mul(2).max(4),
                quote_literal(password)
            )
            .as_str(),
        )
        .await?;
    // The server stops a component's statement that outlives any deadline the
    // host could give it, and an idle open transaction; set per role, so they
    // hold even when the host has given up on a statement.
    admin
        .execute(
            format!(
                "ALTER ROLE {r} SET statement_timeout = {}; ALTER ROLE {r} SET idle_in_transaction_session_timeout = {}",
                config.statement_timeout_ms,
                config.statement_timeout_ms.saturating_mul(2)
            )
            .as_str(),
        )
        .await?;
    // The admin acts as the role to give it its schema (needed unless superuser).
    let _ = admin
        .execute(format!("GRANT {r} TO CURRENT_USER").as_str())
        .await;
    let s = quote_ident(schema);
    admin
        .execute(format!("CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {r}").as_str())
        .await?;
    admin
        .execute(format!("REVOKE ALL ON SCHEMA {s} FROM PUBLIC").as_str())
        .await?;
    Ok(())
}

/// Copy the rows of legacy tables in schema `public` into the database that
/// now owns a table of that name, then move the legacy tables to
/// `spaceport_legacy` (where no component role can read them).
async fn upgrade_postgres(
    admin: &mut sqlx::PgConnection,
    current: &str,
    specs: &[DatabaseSpec],
    named: &BTreeMap<String, Database>,
) -> Result<(), sqlx::Error> {
    let tables_in = |schema: &str| {
        format!(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = {} \
             AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations' ORDER BY 1",
            quote_literal(schema)
        )
    };
    let legacy: Vec<String> = sqlx::query_scalar(&tables_in("public"))
        .fetch_all(&mut *admin)
        .await?;
    if legacy.is_empty() {
        return Ok(());
    }
    let mut owners: Vec<(String, Option<String>)> = vec![(HOST_SCHEMA.to_string(), None)];
    owners.extend(
        specs
            .iter()
            .map(|s| (s.name.clone(), Some(pg_role(current, &s.name)))),
    );
    let mut adopted = Vec::new();
    for (schema, role) in owners {
        let theirs: Vec<String> = sqlx::query_scalar(&tables_in(&schema))
            .fetch_all(&mut *admin)
            .await?;
        for table in theirs.iter().filter(|t| legacy.contains(t)) {
            let (s, t) = (quote_ident(&schema), quote_ident(table));
            let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {s}.{t}"))
                .fetch_one(&mut *admin)
                .await
                .unwrap_or(1);
            if count != 0 {
                adopted.push(table.clone());
                continue; // already adopted: never duplicate rows
            }
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT a.column_name::text FROM information_schema.columns a \
                 JOIN information_schema.columns b ON b.column_name = a.column_name \
                 AND b.table_schema = 'public' AND b.table_name = a.table_name \
                 WHERE a.table_schema = $1 AND a.table_name = $2 ORDER BY a.ordinal_position",
            )
            .bind(&schema)
            .bind(table)
            .fetch_all(&mut *admin)
            .await?;
            let list = columns
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ");
            let copy = format!("INSERT INTO {s}.{t} ({list}) SELECT {list} FROM public.{t}");
            let copied = match (&role, named.get(&schema)) {
                // A named database's tables belong to its role: it copies, reading
                // the legacy table through a grant that lasts only for the copy.
                (Some(role), Some(Database::Postgres(pool))) => {
                    let r = quote_ident(role);
                    admin
                        .execute(format!("GRANT USAGE ON SCHEMA public TO {r}").as_str())
                        .await?;
                    admin
                        .execute(format!("GRANT SELECT ON public.{t} TO {r}").as_str())
                        .await?;
                    let result = copy_and_reseed(pool, &copy, &schema, table).await;
                    admin
                        .execute(format!("REVOKE SELECT ON public.{t} FROM {r}").as_str())
                        .await?;
                    result?
                }
                _ => {
                    let mut tx = admin.begin().await?;
                    let n = tx.execute(copy.as_str()).await?.rows_affected();
                    reseed(&mut tx, &schema, table).await?;
                    tx.commit().await?;
                    n
                }
            };
            tracing::info!(table = %table, rows = copied, schema = %schema, "upgrade: legacy rows copied");
            adopted.push(table.clone());
        }
    }
    admin
        .execute(format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(LEGACY_SCHEMA)).as_str())
        .await?;
    for table in legacy.iter().filter(|t| adopted.contains(t)) {
        admin
            .execute(
                format!(
                    "ALTER TABLE public.{} SET SCHEMA {}",
                    quote_ident(table),
                    quote_ident(LEGACY_SCHEMA)
                )
                .as_str(),
            )
            .await?;
    }
    let migrations: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations')::text")
            .fetch_one(&mut *admin)
            .await?;
    if migrations.is_some() && !adopted.is_empty() {
        // The legacy history goes with the legacy tables; each database keeps its own.
        let _ = admin
            .execute(
                format!(
                    "ALTER TABLE public._sqlx_migrations RENAME TO _sqlx_migrations_single; \
                     ALTER TABLE public._sqlx_migrations_single SET SCHEMA {}",
                    quote_ident(LEGACY_SCHEMA)
                )
                .as_str(),
            )
            .await;
    }
    if !adopted.is_empty() {
        tracing::warn!(
            tables = adopted.len(),
            "upgrade: the single-database layout was split into the host's and the named databases; \
             the old tables are kept in schema spaceport_legacy"
        );
    }
    Ok(())
}

async fn copy_and_reseed(
    pool: &sqlx::PgPool,
    copy: &str,
    schema: &str,
    table: &str,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let n = tx.execute(copy).await?.rows_affected();
    reseed(&mut tx, schema, table).await?;
    tx.commit().await?;
    Ok(n)
}

/// Move every serial column's sequence past the copied ids.
async fn reseed(
    conn: &mut sqlx::PgConnection,
    schema: &str,
    table: &str,
) -> Result<(), sqlx::Error> {
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let serials: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = $2 AND column_default LIKE 'nextval(%'",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    for column in serials {
        let c = quote_ident(&column);
        conn.execute(
            format!(
                "SELECT setval(pg_get_serial_sequence({}, {}), COALESCE((SELECT max({c}) FROM {qualified}), 0) + 1, false)",
                quote_literal(&qualified),
                quote_literal(&column)
            )
            .as_str(),
        )
        .await?;
    }
    Ok(())
}

//! `spaceport:platform/sql`: the databases the manifest grants a component
//! (`sql = ["default"]`). Statements run on the database's [`SqlBackend`];
//! errors come back as the WIT `error` variant, never as a trap.

use super::bindings::sql::{
    self, Error as WitError, Host, HostTransaction, QueryResult, Value as WitValue,
};
use super::{Capability, Denied, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use crate::services::db::{self, Database, QueryLimits, Rows, SqlError, Value};
use crate::services::metrics::statement_kind;
use crate::services::status::StatusBoard;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// A database as the sql capability sees it. [`Database`] (the host's
/// SQLite/PostgreSQL pools) is the default; a test or another engine plugs in here.
/// Every statement comes with its [`QueryLimits`]: a backend streams results
/// and stops at them rather than buffering.
#[async_trait::async_trait]
pub trait SqlBackend: Send + Sync + 'static {
    /// Run a statement that returns rows.
    async fn query(
        &self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<Rows, SqlError>;
    /// Run a statement; returns rows affected.
    async fn execute(
        &self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<u64, SqlError>;
    /// Start a transaction holding one connection until it ends.
    async fn begin(&self, limits: &QueryLimits) -> Result<Box<dyn SqlTransaction>, SqlError>;
}

/// An open transaction of a [`SqlBackend`]. Dropping it rolls it back.
#[async_trait::async_trait]
pub trait SqlTransaction: Send + 'static {
    async fn query(
        &mut self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<Rows, SqlError>;
    async fn execute(
        &mut self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<u64, SqlError>;
    async fn commit(self: Box<Self>) -> Result<(), SqlError>;
    async fn rollback(self: Box<Self>) -> Result<(), SqlError>;
}

/// One of the host's pools as a component's database: its statements' waits
/// for a connection go to `spaceport_db_pool_wait_seconds` under its name.
pub struct PooledDatabase {
    name: String,
    db: Database,
}

impl PooledDatabase {
    pub fn new(name: &str, db: Database) -> Self {
        Self {
            name: name.to_string(),
            db,
        }
    }

    fn waited(&self, waited: Duration) {
        crate::services::metrics::METRICS.pool_wait(&self.name, waited.as_secs_f64());
    }
}

#[async_trait::async_trait]
impl SqlBackend for PooledDatabase {
    async fn query(
        &self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<Rows, SqlError> {
        let mut waited = Duration::ZERO;
        let rows = self
            .db
            .query_limited(statement, params, limits, &mut waited)
            .await;
        self.waited(waited);
        rows
    }

    async fn execute(
        &self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<u64, SqlError> {
        let mut waited = Duration::ZERO;
        let done = self
            .db
            .execute_limited(statement, params, limits.deadline, &mut waited)
            .await;
        self.waited(waited);
        done
    }

    async fn begin(&self, limits: &QueryLimits) -> Result<Box<dyn SqlTransaction>, SqlError> {
        let mut waited = Duration::ZERO;
        let tx = self.db.begin_limited(limits.deadline, &mut waited).await;
        self.waited(waited);
        Ok(Box::new(tx?))
    }
}

#[async_trait::async_trait]
impl SqlTransaction for db::Transaction {
    async fn query(
        &mut self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<Rows, SqlError> {
        self.query_limited(statement, params, limits).await
    }

    async fn execute(
        &mut self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<u64, SqlError> {
        self.execute_limited(statement, params, limits.deadline)
            .await
    }

    async fn commit(self: Box<Self>) -> Result<(), SqlError> {
        db::Transaction::commit(*self).await
    }

    async fn rollback(self: Box<Self>) -> Result<(), SqlError> {
        db::Transaction::rollback(*self).await
    }
}

/// Rows and bytes one statement may return to a component.
#[derive(Debug, Clone, Copy)]
pub struct RowLimits {
    pub max_rows: usize,
    pub max_bytes: usize,
}

/// Transactions one instance may hold open at once (each holds a pooled connection).
pub const MAX_OPEN_TRANSACTIONS: usize = 2;

/// The sql capability: the databases the host opened, by name.
pub struct Sql {
    pub databases: BTreeMap<String, Arc<dyn SqlBackend>>,
    pub limits: RowLimits,
    /// Where an unreachable database is reported the moment a statement sees it.
    pub status: Arc<StatusBoard>,
}

/// Per-instance state: the granted databases.
pub struct State {
    status: Arc<StatusBoard>,
    component: Arc<str>,
    databases: Arc<BTreeMap<String, Arc<dyn SqlBackend>>>,
    limits: QueryLimits,
    /// Transactions begun and not yet committed, rolled back or dropped.
    open: usize,
}

/// What the bindings see: this capability's state and the instance's resource table.
pub struct View<'a> {
    state: &'a mut State,
    table: &'a mut ResourceTable,
}

struct Data;

impl HasData for Data {
    type Data<'a> = View<'a>;
}

/// The host side of a `transaction` resource; `None` once committed or rolled back.
/// An open transaction and the database it is on (for metrics).
pub struct TransactionHandle(Option<Box<dyn SqlTransaction>>, String);

impl Capability for Sql {
    /// The granted databases, resolved once per load.
    type Grant = Arc<BTreeMap<String, Arc<dyn SqlBackend>>>;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(sql::add_to_linker::<_, Data>(linker, |s| View {
            state: &mut s.sql,
            table: &mut s.table,
        })?)
    }

    fn grant(&self, id: &str, component: &ComponentConfig) -> Result<Self::Grant, GrantError> {
        // The names a manifest may grant are exactly the databases this host opened.
        let mut granted = BTreeMap::new();
        for (i, name) in component.sql.iter().enumerate() {
            let Some(db) = self.databases.get(name) else {
                let known: Vec<&str> = self.databases.keys().map(String::as_str).collect();
                return Err(GrantError::new(
                    id,
                    format!("sql[{i}]"),
                    format!(
                        "no database named `{name}`; expected one of: {} (databases are opened at start: \
                         a new [database.{name}] needs a restart)",
                        known.join(", ")
                    ),
                ));
            };
            granted.insert(name.clone(), db.clone());
        }
        Ok(Arc::new(granted))
    }

    fn instance(
        &self,
        grant: &Self::Grant,
        request: &Arc<RequestInfo>,
        deadline: Instant,
    ) -> State {
        State {
            status: self.status.clone(),
            component: request.component_id.clone(),
            databases: grant.clone(),
            limits: QueryLimits {
                max_rows: self.limits.max_rows,
                max_bytes: self.limits.max_bytes,
                deadline: Some(deadline),
            },
            open: 0,
        }
    }
}

impl View<'_> {
    /// Pass a result on; an unreachable database shows on `/health` at once.
    fn seen<T>(&self, result: Result<T, SqlError>) -> Result<T, SqlError> {
        if matches!(result, Err(SqlError::Unavailable(_))) {
            self.state.status.report_failure("database");
        }
        result
    }

    fn database(&self, name: &str) -> Result<&Arc<dyn SqlBackend>, WitError> {
        self.state.databases.get(name).ok_or_else(|| {
            WitError::AccessDenied(
                Denied::new(
                    "sql",
                    &self.state.component,
                    format!("the database `{name}`"),
                    format!("sql = [\"{name}\"]"),
                )
                .to_string(),
            )
        })
    }

    fn transaction(
        &mut self,
        handle: &Resource<TransactionHandle>,
    ) -> Result<&mut Box<dyn SqlTransaction>, WitError> {
        self.table
            .get_mut(handle)
            .map_err(|e| WitError::Other(e.to_string()))?
            .0
            .as_mut()
            .ok_or(WitError::TransactionClosed)
    }

    /// The database a transaction is on.
    fn database_of(&self, handle: &Resource<TransactionHandle>) -> String {
        self.table
            .get(handle)
            .map(|t| t.1.clone())
            .unwrap_or_default()
    }

    fn take(
        &mut self,
        handle: &Resource<TransactionHandle>,
    ) -> Result<Box<dyn SqlTransaction>, WitError> {
        let tx = self
            .table
            .get_mut(handle)
            .map_err(|e| WitError::Other(e.to_string()))?
            .0
            .take()
            .ok_or(WitError::TransactionClosed)?;
        self.state.open = self.state.open.saturating_sub(1);
        Ok(tx)
    }
}

impl Host for View<'_> {
    async fn query(
        &mut self,
        db: String,
        statement: String,
        params: Vec<WitValue>,
    ) -> Result<QueryResult, WitError> {
        let limits = self.state.limits;
        let start = Instant::now();
        let kind = statement_kind(&statement);
        let rows = self
            .database(&db)?
            .query(&statement, &from_wit(params), &limits)
            .instrument(sql_span(&db, kind))
            .await;
        record(&db, kind, start, &rows);
        Ok(to_wit(self.seen(rows)?))
    }

    async fn execute(
        &mut self,
        db: String,
        statement: String,
        params: Vec<WitValue>,
    ) -> Result<u64, WitError> {
        let limits = self.state.limits;
        let start = Instant::now();
        let kind = statement_kind(&statement);
        let done = self
            .database(&db)?
            .execute(&statement, &from_wit(params), &limits)
            .instrument(sql_span(&db, kind))
            .await;
        record(&db, kind, start, &done);
        Ok(self.seen(done)?)
    }

    async fn begin(&mut self, db: String) -> Result<Resource<TransactionHandle>, WitError> {
        // Each open transaction holds a pooled connection: a few per instance at most.
        if self.state.open >= MAX_OPEN_TRANSACTIONS {
            return Err(WitError::LimitExceeded(format!(
                "at most {MAX_OPEN_TRANSACTIONS} transactions may be open at once; commit or roll back one first"
            )));
        }
        let limits = self.state.limits;
        let tx = self.database(&db)?.begin(&limits).await?;
        let handle = self
            .table
            .push(TransactionHandle(Some(tx), db))
            .map_err(|e| WitError::Other(e.to_string()))?;
        self.state.open += 1;
        Ok(handle)
    }
}

impl HostTransaction for View<'_> {
    async fn query(
        &mut self,
        tx: Resource<TransactionHandle>,
        statement: String,
        params: Vec<WitValue>,
    ) -> Result<QueryResult, WitError> {
        let limits = self.state.limits;
        let start = Instant::now();
        let kind = statement_kind(&statement);
        let db = self.database_of(&tx);
        let rows = self
            .transaction(&tx)?
            .query(&statement, &from_wit(params), &limits)
            .instrument(sql_span(&db, kind))
            .await;
        record(&db, kind, start, &rows);
        Ok(to_wit(rows?))
    }

    async fn execute(
        &mut self,
        tx: Resource<TransactionHandle>,
        statement: String,
        params: Vec<WitValue>,
    ) -> Result<u64, WitError> {
        let limits = self.state.limits;
        let start = Instant::now();
        let kind = statement_kind(&statement);
        let db = self.database_of(&tx);
        let done = self
            .transaction(&tx)?
            .execute(&statement, &from_wit(params), &limits)
            .instrument(sql_span(&db, kind))
            .await;
        record(&db, kind, start, &done);
        Ok(done?)
    }

    async fn commit(&mut self, tx: Resource<TransactionHandle>) -> Result<(), WitError> {
        Ok(self.take(&tx)?.commit().await?)
    }

    async fn rollback(&mut self, tx: Resource<TransactionHandle>) -> Result<(), WitError> {
        Ok(self.take(&tx)?.rollback().await?)
    }

    async fn drop(&mut self, tx: Resource<TransactionHandle>) -> wasmtime::Result<()> {
        // Dropping an open sqlx transaction rolls it back on its connection.
        if self.table.delete(tx)?.0.is_some() {
            self.state.open = self.state.open.saturating_sub(1);
        }
        Ok(())
    }
}

fn from_wit(params: Vec<WitValue>) -> Vec<Value> {
    params
        .into_iter()
        .map(|v| match v {
            WitValue::Null => Value::Null,
            WitValue::Integer(i) => Value::Integer(i),
            WitValue::Real(f) => Value::Real(f),
            WitValue::Text(s) => Value::Text(s),
            WitValue::Blob(b) => Value::Blob(b),
            WitValue::Boolean(b) => Value::Boolean(b),
        })
        .collect()
}

fn to_wit(rows: Rows) -> QueryResult {
    QueryResult {
        columns: rows.columns,
        rows: rows
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        Value::Null => WitValue::Null,
                        Value::Integer(i) => WitValue::Integer(i),
                        Value::Real(f) => WitValue::Real(f),
                        Value::Text(s) => WitValue::Text(s),
                        Value::Blob(b) => WitValue::Blob(b),
                        Value::Boolean(b) => WitValue::Boolean(b),
                    })
                    .collect()
            })
            .collect(),
    }
}

impl From<SqlError> for WitError {
    fn from(e: SqlError) -> Self {
        let text = e.to_string();
        match e {
            SqlError::Constraint(m) => WitError::ConstraintViolation(m),
            SqlError::Syntax(m) => WitError::Syntax(m),
            SqlError::TypeMismatch(m) => WitError::TypeMismatch(m),
            SqlError::Unavailable(m) => WitError::Unavailable(m),
            SqlError::TransactionClosed => WitError::TransactionClosed,
            SqlError::Denied(m) => WitError::AccessDenied(m),
            SqlError::LimitExceeded(m) => WitError::LimitExceeded(m),
            SqlError::Timeout => WitError::Timeout(text),
            SqlError::Other(m) => WitError::Other(m),
        }
    }
}

/// One statement in the metrics: its database (a manifest name), its kind
/// (never its text), its outcome and time.
fn record<T>(
    database: &str,
    statement: &'static str,
    start: Instant,
    result: &Result<T, SqlError>,
) {
    let outcome = result.as_ref().map_or_else(SqlError::kind, |_| "ok");
    crate::services::metrics::METRICS.sql_statement(
        database,
        statement,
        outcome,
        start.elapsed().as_secs_f64(),
    );
}

/// A statement's span: its database and kind, never its text or parameters.
fn sql_span(database: &str, kind: &'static str) -> tracing::Span {
    tracing::info_span!("sql", db.namespace = database, db.operation.name = kind)
}

//! `spaceport:platform/sql`: the databases the manifest grants a component
//! (`sql = ["default"]`). Statements run on the database's [`SqlBackend`];
//! errors come back as the WIT `error` variant, never as a trap.

use super::bindings::sql::{
    self, Error as WitError, Host, HostTransaction, QueryResult, Value as WitValue,
};
use super::{Capability, Denied, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use crate::services::db::{self, Database, Rows, SqlError, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// A database as the sql capability sees it. [`Database`] (the host's
/// SQLite/PostgreSQL pools) is the default; a test or another engine plugs in here.
#[async_trait::async_trait]
pub trait SqlBackend: Send + Sync + 'static {
    /// Run a statement that returns rows.
    async fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, SqlError>;
    /// Run a statement; returns rows affected.
    async fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, SqlError>;
    /// Start a transaction holding one connection until it ends.
    async fn begin(&self) -> Result<Box<dyn SqlTransaction>, SqlError>;
}

/// An open transaction of a [`SqlBackend`]. Dropping it rolls it back.
#[async_trait::async_trait]
pub trait SqlTransaction: Send + 'static {
    async fn query(&mut self, statement: &str, params: &[Value]) -> Result<Rows, SqlError>;
    async fn execute(&mut self, statement: &str, params: &[Value]) -> Result<u64, SqlError>;
    async fn commit(self: Box<Self>) -> Result<(), SqlError>;
    async fn rollback(self: Box<Self>) -> Result<(), SqlError>;
}

#[async_trait::async_trait]
impl SqlBackend for Database {
    async fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, SqlError> {
        Database::query(self, statement, params).await
    }

    async fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, SqlError> {
        Database::execute(self, statement, params).await
    }

    async fn begin(&self) -> Result<Box<dyn SqlTransaction>, SqlError> {
        Ok(Box::new(Database::begin(self).await?))
    }
}

#[async_trait::async_trait]
impl SqlTransaction for db::Transaction {
    async fn query(&mut self, statement: &str, params: &[Value]) -> Result<Rows, SqlError> {
        db::Transaction::query(self, statement, params).await
    }

    async fn execute(&mut self, statement: &str, params: &[Value]) -> Result<u64, SqlError> {
        db::Transaction::execute(self, statement, params).await
    }

    async fn commit(self: Box<Self>) -> Result<(), SqlError> {
        db::Transaction::commit(*self).await
    }

    async fn rollback(self: Box<Self>) -> Result<(), SqlError> {
        db::Transaction::rollback(*self).await
    }
}

/// The sql capability: the databases the host opened, by name.
pub struct Sql {
    pub databases: BTreeMap<String, Arc<dyn SqlBackend>>,
}

/// Per-instance state: the granted databases.
pub struct State {
    component: Arc<str>,
    databases: Arc<BTreeMap<String, Arc<dyn SqlBackend>>>,
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
pub struct TransactionHandle(Option<Box<dyn SqlTransaction>>);

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

    fn instance(&self, grant: &Self::Grant, request: &Arc<RequestInfo>) -> State {
        State {
            component: request.component_id.clone(),
            databases: grant.clone(),
        }
    }
}

impl View<'_> {
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

    fn take(
        &mut self,
        handle: &Resource<TransactionHandle>,
    ) -> Result<Box<dyn SqlTransaction>, WitError> {
        self.table
            .get_mut(handle)
            .map_err(|e| WitError::Other(e.to_string()))?
            .0
            .take()
            .ok_or(WitError::TransactionClosed)
    }
}

impl Host for View<'_> {
    async fn query(
        &mut self,
        db: String,
        statement: String,
        params: Vec<WitValue>,
    ) -> Result<QueryResult, WitError> {
        let rows = self
            .database(&db)?
            .query(&statement, &from_wit(params))
            .await?;
        Ok(to_wit(rows))
    }

    async fn execute(
        &mut self,
        db: String,
        statement: String,
        params: Vec<WitValue>,
    ) -> Result<u64, WitError> {
        Ok(self
            .database(&db)?
            .execute(&statement, &from_wit(params))
            .await?)
    }

    async fn begin(&mut self, db: String) -> Result<Resource<TransactionHandle>, WitError> {
        let tx = self.database(&db)?.begin().await?;
        self.table
            .push(TransactionHandle(Some(tx)))
            .map_err(|e| WitError::Other(e.to_string()))
    }
}

impl HostTransaction for View<'_> {
    async fn query(
        &mut self,
        tx: Resource<TransactionHandle>,
        statement: String,
        params: Vec<WitValue>,
    ) -> Result<QueryResult, WitError> {
        let rows = self
            .transaction(&tx)?
            .query(&statement, &from_wit(params))
            .await?;
        Ok(to_wit(rows))
    }

    async fn execute(
        &mut self,
        tx: Resource<TransactionHandle>,
        statement: String,
        params: Vec<WitValue>,
    ) -> Result<u64, WitError> {
        Ok(self
            .transaction(&tx)?
            .execute(&statement, &from_wit(params))
            .await?)
    }

    async fn commit(&mut self, tx: Resource<TransactionHandle>) -> Result<(), WitError> {
        Ok(self.take(&tx)?.commit().await?)
    }

    async fn rollback(&mut self, tx: Resource<TransactionHandle>) -> Result<(), WitError> {
        Ok(self.take(&tx)?.rollback().await?)
    }

    async fn drop(&mut self, tx: Resource<TransactionHandle>) -> wasmtime::Result<()> {
        // Dropping an open sqlx transaction rolls it back on its connection.
        self.table.delete(tx)?;
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
        match e {
            SqlError::Constraint(m) => WitError::ConstraintViolation(m),
            SqlError::Syntax(m) => WitError::Syntax(m),
            SqlError::TypeMismatch(m) => WitError::TypeMismatch(m),
            SqlError::Unavailable(m) => WitError::Unavailable(m),
            SqlError::TransactionClosed => WitError::TransactionClosed,
            SqlError::Denied(m) => WitError::AccessDenied(m),
            SqlError::Other(m) => WitError::Other(m),
        }
    }
}

//! `spaceport:platform/sql`: the databases the manifest grants a component
//! (`sql = ["default"]`). Statements run on the host's pool; errors come back
//! as the WIT `error` variant, never as a trap.

use super::bindings::sql::{
    self, Error as WitError, Host, HostTransaction, QueryResult, Value as WitValue,
};
use super::{Capability, InstanceState, RequestInfo};
use crate::db::{Database, SqlError, Value};
use crate::manifest::ComponentConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};

/// Database names a manifest may grant.
pub const DATABASES: &[&str] = &["default"];

/// The sql capability: the host's pools, by name.
pub struct Sql {
    pub databases: BTreeMap<String, Database>,
}

/// Per-instance state: the granted pools and this instance's open transactions.
pub struct State {
    granted: Arc<[String]>,
    databases: BTreeMap<String, Database>,
    table: ResourceTable,
}

/// The host side of a `transaction` resource; `None` once committed or rolled back.
pub struct TransactionHandle(Option<crate::db::Transaction>);

impl Capability for Sql {
    type Grant = Arc<[String]>;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(sql::add_to_linker::<_, HasSelf<State>>(linker, |s| {
            &mut s.sql
        })?)
    }

    fn grant(&self, id: &str, component: &ComponentConfig) -> Result<Self::Grant, String> {
        for (i, name) in component.sql.iter().enumerate() {
            if !DATABASES.contains(&name.as_str()) {
                return Err(format!(
                    "component.{id}.sql[{i}]: no database named `{name}`; expected one of: {}",
                    DATABASES.join(", ")
                ));
            }
        }
        Ok(component.sql.iter().cloned().collect())
    }

    fn instance(&self, grant: &Self::Grant, _request: &Arc<RequestInfo>) -> State {
        State {
            granted: grant.clone(),
            databases: grant
                .iter()
                .filter_map(|name| {
                    self.databases
                        .get(name)
                        .map(|db| (name.clone(), db.clone()))
                })
                .collect(),
            table: ResourceTable::new(),
        }
    }
}

impl State {
    fn database(&self, name: &str) -> Result<&Database, WitError> {
        if !self.granted.iter().any(|g| g == name) {
            return Err(WitError::AccessDenied(format!(
                "database `{name}` is not granted to this component (add it to `sql` in the manifest)"
            )));
        }
        self.databases
            .get(name)
            .ok_or_else(|| WitError::Unavailable(format!("database `{name}` is not configured")))
    }

    fn transaction(
        &mut self,
        handle: &Resource<TransactionHandle>,
    ) -> Result<&mut crate::db::Transaction, WitError> {
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
    ) -> Result<crate::db::Transaction, WitError> {
        self.table
            .get_mut(handle)
            .map_err(|e| WitError::Other(e.to_string()))?
            .0
            .take()
            .ok_or(WitError::TransactionClosed)
    }
}

impl Host for State {
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

impl HostTransaction for State {
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

fn to_wit(rows: crate::db::Rows) -> QueryResult {
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
            SqlError::Other(m) => WitError::Other(m),
        }
    }
}

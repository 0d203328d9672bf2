//! Reading `sql` results by column name, the same way on SQLite and PostgreSQL.

use crate::sql::{QueryResult, Value};

/// One row of a [`QueryResult`].
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

/// The rows of a result, each readable by column name.
pub fn rows(result: &QueryResult) -> impl Iterator<Item = Row<'_>> {
    result.rows.iter().map(|values| Row {
        columns: &result.columns,
        values,
    })
}

impl<'a> Row<'a> {
    /// The value of column `name` (`None` if there is no such column).
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        let i = self.columns.iter().position(|c| c == name)?;
        self.values.get(i)
    }

    /// An integer column.
    pub fn i64(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Integer(i) => Some(*i),
            Value::Real(f) => Some(*f as i64),
            _ => None,
        }
    }

    /// A text column (`None` for NULL).
    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// A boolean column: PostgreSQL returns booleans, SQLite integers 0/1.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Boolean(b) => Some(*b),
            Value::Integer(i) => Some(*i != 0),
            _ => None,
        }
    }
}

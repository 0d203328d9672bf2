"""`spaceport:platform/sql` with Python values.

    rows = sql.query("tasks", "SELECT id, title FROM tasks WHERE user_id = $1", user_id)
    for row in rows:                 # each row is a dict
        print(row["id"], row["title"])

    with sql.transaction("tasks") as tx:   # commits on success, rolls back on an exception
        tx.execute("UPDATE tasks SET done = $1 WHERE id = $2", True, 7)

Parameters: `None`, `bool`, `int`, `float`, `str`, `bytes`, and dates/datetimes
(sent as ISO-8601 text). Placeholders are `$1, $2, ...` on SQLite and
PostgreSQL alike. Failures raise `SqlError`, whose `kind` is the WIT case
(`constraint-violation`, `unavailable`, `access-denied`, ...).
"""

from __future__ import annotations

import datetime
from typing import Any, Iterator

from componentize_py_types import Err
from wit_world.imports import sql as _sql

from ._wit import case_name


class SqlError(Exception):
    """A statement failed. `kind` is the WIT error case, e.g. `constraint-violation`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message


class Result:
    """Rows returned by a query: iterate for dict rows, or use `columns`/`rows`."""

    def __init__(self, columns: list[str], rows: list[tuple]) -> None:
        #: Column names, in select order.
        self.columns = columns
        #: Each row as a tuple of Python values, one per column.
        self.rows = rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (dict(zip(self.columns, row, strict=False)) for row in self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Result(columns={self.columns!r}, rows={len(self.rows)})"

    def first(self) -> dict[str, Any] | None:
        """The first row as a dict, or `None` when there are no rows."""
        return dict(zip(self.columns, self.rows[0], strict=False)) if self.rows else None

    def scalar(self) -> Any:
        """The first column of the first row (`None` when there are no rows)."""
        return self.rows[0][0] if self.rows and self.rows[0] else None


def query(db: str, statement: str, *params: Any) -> Result:
    """Run a statement that returns rows on database `db`."""
    return _call(_sql.query, db, statement, _to_values(params), wrap=_result)


def execute(db: str, statement: str, *params: Any) -> int:
    """Run a statement on database `db`; returns the number of rows affected."""
    return _call(_sql.execute, db, statement, _to_values(params))


class Transaction:
    """A transaction on one connection. Use it as a context manager: it
    commits when the block ends normally and rolls back on an exception."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def query(self, statement: str, *params: Any) -> Result:
        """Run a statement that returns rows."""
        return _call(self._handle.query, statement, _to_values(params), wrap=_result)

    def execute(self, statement: str, *params: Any) -> int:
        """Run a statement; returns the number of rows affected."""
        return _call(self._handle.execute, statement, _to_values(params))

    def commit(self) -> None:
        """Make the changes permanent."""
        _call(self._handle.commit)

    def rollback(self) -> None:
        """Discard the changes."""
        _call(self._handle.rollback)

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                # Best effort: the original exception is the one worth raising.
                try:
                    self.rollback()
                except SqlError:
                    pass
        finally:
            # Release the resource now rather than at garbage collection.
            self._handle.__exit__(None, None, None)


def transaction(db: str) -> Transaction:
    """Start a transaction on database `db`."""
    return Transaction(_call(_sql.begin, db))


def to_value(value: Any) -> Any:
    """A Python value as the WIT `value` variant."""
    if value is None:
        return _sql.Value_Null()
    if isinstance(value, bool):  # before int: bool is an int subclass
        return _sql.Value_Boolean(value)
    if isinstance(value, int):
        return _sql.Value_Integer(value)
    if isinstance(value, float):
        return _sql.Value_Real(value)
    if isinstance(value, str):
        return _sql.Value_Text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _sql.Value_Blob(bytes(value))
    if isinstance(value, (datetime.date, datetime.time)):
        return _sql.Value_Text(value.isoformat())
    raise TypeError(f"cannot bind a {type(value).__name__} as an SQL value")


def from_value(value: Any) -> Any:
    """A WIT `value` variant as a Python value (`None` for NULL)."""
    return None if isinstance(value, _sql.Value_Null) else value.value


def _to_values(params: tuple) -> list:
    # Allow `query(db, stmt, [a, b])` as well as `query(db, stmt, a, b)`.
    if len(params) == 1 and isinstance(params[0], (list, tuple)):
        params = tuple(params[0])
    return [to_value(p) for p in params]


def _result(r: Any) -> Result:
    return Result(list(r.columns), [tuple(from_value(v) for v in row) for row in r.rows])


def _call(fn, *args, wrap=None):
    try:
        out = fn(*args)
    except Err as e:
        raise _error(e.value) from None
    return wrap(out) if wrap else out


def _error(value: Any) -> SqlError:
    # `transaction-closed` carries no message.
    return SqlError(case_name(value, "Error_"), str(getattr(value, "value", None) or ""))

"""INSERT … ON CONFLICT DO NOTHING for SQLite and PostgreSQL alike, built once per table."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite


@cache
def insert_ignoring_conflicts(dialect: str, table: Table) -> Insert:
    """Execute with parameters on a Core connection: `conn.execute(statement, values)`."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement: Insert = module.insert(table).on_conflict_do_nothing()
    return statement

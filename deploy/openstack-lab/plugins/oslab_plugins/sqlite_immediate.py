"""Make every SQLite transaction of the lab's services take the write lock when it begins.

Real deployments put these services on MySQL, whose row locks let a transaction read and then
write. On SQLite, a transaction that started as a reader and then writes while another process
has committed in between fails at once with "database is locked" (the busy timeout does not
apply: waiting could deadlock). Cinder's quota reservations and Keystone's token issuing do
exactly that, so under a few concurrent requests the APIs answered 500. Starting transactions
with BEGIN IMMEDIATE makes them queue on the busy timeout instead (SQLAlchemy's documented
recipe for pysqlite, which oslo.db follows with a plain BEGIN). Reads outside transactions
are unaffected in WAL mode, which the golden databases use.

Loaded in every lab process by oslab_sqlite_immediate.pth; touches SQLite engines only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@event.listens_for(Engine, "connect")
def _autocommit_driver(dbapi_connection: Any, connection_record: Any) -> None:
    """Let SQLAlchemy, not the sqlite3 module, emit BEGIN (sqlite3 would emit a deferred one)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.isolation_level = None


@event.listens_for(Engine, "begin")
def _begin_immediate(conn: Any) -> None:
    """BEGIN IMMEDIATE: wait for the write lock now (busy timeout) rather than fail later.

    oslo.db emits its own plain BEGIN from an engine-level listener unless conn.info marks the
    transaction as begun; class-level listeners like this one run first, so it sets the mark.
    """
    if conn.dialect.name == "sqlite" and "in_transaction" not in conn.info:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.info["in_transaction"] = True


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _end(conn: Any) -> None:
    """Clear the mark (oslo.db does too; engines made without oslo.db need this one)."""
    conn.info.pop("in_transaction", None)

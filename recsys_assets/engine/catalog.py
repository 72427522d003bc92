"""Durable engine state in SQLite, safe across processes.

Dagster runs each step (and each run) in its own process, and the engine's jobs run in worker
processes, so every read and write goes through this file-backed catalog. WAL mode lets readers
poll while a worker writes; writes take ``BEGIN IMMEDIATE`` so check-then-act sequences (name
uniqueness, deletion preconditions) are atomic.

One file holds every region's resources, as one account would; a transaction opened with a
``scope`` (the ARN prefix ``arn:aws:personalize:<region>:<account>:``) sees only that region's, so
a client of another region neither sees nor counts them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    arn TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    parent TEXT,
    status TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    -- when a time-driven transition completes (create or delete); NULL when a worker drives it
    due REAL,
    body TEXT NOT NULL,
    internal TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_kind ON resources (kind, created);
CREATE INDEX IF NOT EXISTS resources_parent ON resources (parent);
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
"""


@dataclass
class Resource:
    arn: str
    kind: str
    name: str
    parent: str | None
    status: str | None
    created: float
    updated: float
    due: float | None = None
    # Fields the service returns in describe/list, beyond ARN, name, status and timestamps.
    body: dict = field(default_factory=dict)
    # Engine-only state (worker pid, file locations); never sent to clients.
    internal: dict = field(default_factory=dict)

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> "Resource":
        return cls(
            arn=row["arn"],
            kind=row["kind"],
            name=row["name"],
            parent=row["parent"],
            status=row["status"],
            created=row["created"],
            updated=row["updated"],
            due=row["due"],
            body=json.loads(row["body"]),
            internal=json.loads(row["internal"]),
        )


class Catalog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection. It stays open: closing the last connection checkpoints the WAL,
        which cost ~10 ms on every call when each call had its own connection."""
        owner, conn = getattr(self._local, "conn", (None, None))
        if owner != os.getpid():  # a forked child must not share its parent's connection
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.row_factory = sqlite3.Row
            # In WAL mode NORMAL stays consistent across crashes and skips an fsync per commit; only a
            # power cut can lose the last commits, which a local engine can afford.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = (os.getpid(), conn)
        yield conn

    @contextlib.contextmanager
    def transaction(self, scope: str = "") -> Iterator["Txn"]:
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Txn(conn, scope)
                conn.execute("COMMIT")
            except BaseException:
                # A full disk fails a statement or the COMMIT, and SQLite then rolls the transaction back
                # itself: a second ROLLBACK would replace "database or disk is full" with its own error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise


class Txn:
    """Catalog operations inside one write transaction, limited to the ARNs starting with ``scope``."""

    def __init__(self, conn: sqlite3.Connection, scope: str = ""):
        self.conn = conn
        self.scope = scope

    def get(self, arn: str) -> Resource | None:
        if not arn.startswith(self.scope):
            return None
        row = self.conn.execute("SELECT * FROM resources WHERE arn = ?", (arn,)).fetchone()
        return Resource._from_row(row) if row else None

    def find(self, kind: str, parent: str | None = None, *, statuses: tuple[str, ...] | None = None,
             name: str | None = None) -> list[Resource]:
        """Resources of a kind (under a parent, with a name), newest first, as the service lists them."""
        sql = "SELECT * FROM resources WHERE kind = ? AND substr(arn, 1, ?) = ?"
        args = [kind, len(self.scope), self.scope]
        for column, value in (("parent", parent), ("name", name)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        if statuses is not None:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args.extend(statuses)
        sql += " ORDER BY created DESC, rowid DESC"
        return [Resource._from_row(r) for r in self.conn.execute(sql, args)]

    def count(self, kind: str, parent: str | None = None, *, excluding: tuple[str, ...] = ()) -> int:
        """How many resources of a kind (under a parent) exist, leaving out those in ``excluding`` statuses."""
        sql = ("SELECT COUNT(*) FROM resources WHERE kind = ? AND substr(arn, 1, ?) = ?"
               f" AND (status IS NULL OR status NOT IN ({','.join('?' * len(excluding))}))")
        args = [kind, len(self.scope), self.scope, *excluding]
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent)
        return self.conn.execute(sql, args).fetchone()[0]

    def timed(self) -> list[Resource]:
        """Resources with a time-driven transition under way (``due`` set)."""
        rows = self.conn.execute("SELECT * FROM resources WHERE due IS NOT NULL AND substr(arn, 1, ?) = ?",
                                 (len(self.scope), self.scope))
        return [Resource._from_row(r) for r in rows]

    def insert(self, res: Resource) -> None:
        self.conn.execute(
            "INSERT INTO resources (arn, kind, name, parent, status, created, updated, due, body, internal)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (res.arn, res.kind, res.name, res.parent, res.status, res.created, res.updated, res.due,
             json.dumps(res.body), json.dumps(res.internal)),
        )

    def save(self, res: Resource, now: float | None = None) -> None:
        """Write back a changed resource; ``now`` (default: the clock) becomes its lastUpdatedDateTime."""
        res.updated = time.time() if now is None else now
        self.conn.execute(
            "UPDATE resources SET status = ?, updated = ?, due = ?, body = ?, internal = ? WHERE arn = ?",
            (res.status, res.updated, res.due, json.dumps(res.body), json.dumps(res.internal), res.arn),
        )

    def remove(self, arn: str) -> None:
        self.conn.execute("DELETE FROM resources WHERE arn = ?", (arn,))
        self.conn.execute("DELETE FROM tags WHERE arn = ?", (arn,))

    def tags(self, arn: str) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM tags WHERE arn = ?", (arn,))}

    def set_tags(self, arn: str, tags: dict[str, str]) -> None:
        self.conn.executemany(
            "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?) ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
            [(arn, k, v) for k, v in tags.items()],
        )

    def remove_tags(self, arn: str, keys: list[str]) -> None:
        self.conn.executemany("DELETE FROM tags WHERE arn = ? AND key = ?", [(arn, k) for k in keys])

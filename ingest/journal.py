"""The ingest bookkeeping, in one SQLite file beside the Chroma data (``<db>/records.sqlite``).

Five tables, each scoped by a namespace (one per Chroma collection, see :mod:`ingest.indexing`):

- ``records``: the record manager that LangChain's indexing API (``langchain_core.indexing.index``)
  needs: which chunk ids are in the vector store, the source each belongs to (its group) and when it
  was last written. :class:`IngestJournal` implements ``langchain_core.indexing.RecordManager``.
- ``journal``: a write-ahead journal of the sources being written. A row is committed *before* any
  vector-store write for a source and removed only after the source's records match the store
  again; a row found later means a process died mid-write, and :mod:`ingest.indexing` repairs
  that source. ``journal_keys`` holds, for each row, the chunk ids of the source's last good version, so
  that readers (:class:`JournalReader`, used by :mod:`ingest.reader`) show that version while it is rewritten.
- ``files``: the state (size, mtime, SHA-256, chunk count, settings fingerprint) of each file as it
  was last indexed, so that an unchanged file is skipped without being loaded, and a file whose content is
  indexed under another name is noticed.
- ``collection_info``: facts about the collection, as text: ``root``, the folder sources are named
  relative to (:mod:`ingest.sources`). Records written before this table existed simply have none.

Why not ``langchain_community``'s ``SQLRecordManager``: it imports SQLAlchemy's asyncio extension,
which needs ``greenlet`` (not a dependency of ours), and ``langchain-community`` is being sunset.
Keeping the record manager in the same SQLite connection as the journal also lets one transaction
clear a journal row and write the file state together.

What this module does not do: talk to Chroma, or decide what to repair; see :mod:`ingest.indexing`.
It is not safe for several processes writing the same namespace at once; the index store serialises
writers with a lock file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from langchain_core.indexing import RecordManager

__all__ = ["FileState", "IngestJournal", "JournalOp", "JournalReader", "PendingWrite"]

JournalOp = Literal["index", "remove"]

# Keys per SQL statement: well under SQLite's limit on bound variables (32766 since 3.32, 999 before).
_SQL_BATCH = 500
# The smallest step between two times this record manager hands out, in seconds: far above the
# resolution of a float holding the current Unix time (~2e-7 s), far below anything a user notices.
_TICK = 1e-4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    group_id TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS records_by_group ON records (namespace, group_id, updated_at);
CREATE INDEX IF NOT EXISTS records_by_time ON records (namespace, updated_at);
CREATE TABLE IF NOT EXISTS journal (
    namespace TEXT NOT NULL,
    source TEXT NOT NULL,
    op TEXT NOT NULL,
    started_at REAL NOT NULL,
    PRIMARY KEY (namespace, source)
);
CREATE TABLE IF NOT EXISTS journal_keys (
    namespace TEXT NOT NULL,
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (namespace, source, key)
);
CREATE TABLE IF NOT EXISTS files (
    namespace TEXT NOT NULL,
    source TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (namespace, source)
);
CREATE TABLE IF NOT EXISTS collection_info (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""


@dataclass(frozen=True)
class FileState:
    """What a file was when it was indexed: enough to tell, without loading it, that it has not changed.

    ``settings`` is an opaque fingerprint the pipeline chooses (chunk size, overlap, embedder name...):
    a file indexed under other settings counts as changed. ``chunks`` is the number of chunks the
    file has in the index.
    """

    size: int
    mtime_ns: int
    sha256: str
    chunks: int = 0
    settings: str = ""


def _batches(items: Sequence[str], size: int = _SQL_BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class IngestJournal(RecordManager):
    """Record manager, write-ahead journal and file states of one namespace in a SQLite file.

    Args:
        path: the SQLite file; created with its tables if missing (its folder must exist).
        namespace: scopes every table, e.g. ``"chroma/documents"``.

    Times come from this process's clock, made strictly increasing: :meth:`get_time` never returns
    a time at or before a record already written in the namespace, so the ``before=`` cleanup of
    LangChain's incremental mode cannot miss a stale record because two writes fell in the same
    clock tick, or because the clock went back.
    """

    def __init__(self, path: Path, namespace: str) -> None:
        super().__init__(namespace=namespace)
        self.path = Path(path)
        self._lock = threading.RLock()
        self._last_time = 0.0
        # isolation_level=None: autocommit; multi-statement writes open explicit transactions (_tx).
        self._conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self.create_schema()
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ---- RecordManager ------------------------------------------------------------------------------

    def create_schema(self) -> None:
        with self._lock:
            self._conn.executescript(_SCHEMA)

    async def acreate_schema(self) -> None:
        await asyncio.to_thread(self.create_schema)

    def get_time(self) -> float:
        with self._lock:
            (latest,) = self._conn.execute(
                "SELECT MAX(updated_at) FROM records WHERE namespace = ?", (self.namespace,)
            ).fetchone()
            now = max(time.time(), self._last_time + _TICK, (latest or 0.0) + _TICK)
            self._last_time = now
            return now

    async def aget_time(self) -> float:
        return await asyncio.to_thread(self.get_time)

    def update(
        self,
        keys: Sequence[str],
        *,
        group_ids: Sequence[str | None] | None = None,
        time_at_least: float | None = None,
    ) -> None:
        if group_ids is None:
            group_ids = [None] * len(keys)
        if len(keys) != len(group_ids):
            raise ValueError(
                f"Number of keys ({len(keys)}) does not match number of group_ids ({len(group_ids)})"
            )
        with self._lock:
            now = self.get_time()
            if time_at_least is not None and now < time_at_least:
                raise AssertionError(
                    f"Time sync issue: {now} < {time_at_least}"
                )  # unreachable: get_time increases
            rows = [(self.namespace, key, group, now) for key, group in zip(keys, group_ids, strict=True)]
            with self._tx() as conn:
                conn.executemany(
                    "INSERT INTO records (namespace, key, group_id, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (namespace, key) DO UPDATE SET "
                    "group_id = excluded.group_id, updated_at = excluded.updated_at",
                    rows,
                )

    async def aupdate(
        self,
        keys: Sequence[str],
        *,
        group_ids: Sequence[str | None] | None = None,
        time_at_least: float | None = None,
    ) -> None:
        await asyncio.to_thread(self.update, keys, group_ids=group_ids, time_at_least=time_at_least)

    def exists(self, keys: Sequence[str]) -> list[bool]:
        found: set[str] = set()
        with self._lock:
            for batch in _batches(list(keys)):
                marks = ",".join("?" * len(batch))
                rows = self._conn.execute(
                    f"SELECT key FROM records WHERE namespace = ? AND key IN ({marks})",
                    (self.namespace, *batch),
                )
                found.update(key for (key,) in rows)
        return [key in found for key in keys]

    async def aexists(self, keys: Sequence[str]) -> list[bool]:
        return await asyncio.to_thread(self.exists, keys)

    def list_keys(
        self,
        *,
        before: float | None = None,
        after: float | None = None,
        group_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        sql = "SELECT key FROM records WHERE namespace = ?"
        params: list[object] = [self.namespace]
        if before is not None:
            sql += " AND updated_at < ?"
            params.append(before)
        if after is not None:
            sql += " AND updated_at > ?"
            params.append(after)
        if group_ids is not None:
            groups = list(group_ids)
            if not groups:
                return []
            keys: list[str] = []
            for batch in _batches(groups):
                keys.extend(self._select_keys(sql, params, batch, limit, len(keys)))
                if limit is not None and len(keys) >= limit:
                    break
            return keys[:limit] if limit is not None else keys
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            return [key for (key,) in self._conn.execute(sql, params)]

    def _select_keys(
        self, sql: str, params: list[object], groups: Sequence[str], limit: int | None, have: int
    ) -> list[str]:
        sql += f" AND group_id IN ({','.join('?' * len(groups))})"
        args = [*params, *groups]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit - have)
        with self._lock:
            return [key for (key,) in self._conn.execute(sql, args)]

    async def alist_keys(
        self,
        *,
        before: float | None = None,
        after: float | None = None,
        group_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        return await asyncio.to_thread(
            self.list_keys, before=before, after=after, group_ids=group_ids, limit=limit
        )

    def delete_keys(self, keys: Sequence[str]) -> None:
        with self._tx() as conn:
            for batch in _batches(list(keys)):
                marks = ",".join("?" * len(batch))
                conn.execute(
                    f"DELETE FROM records WHERE namespace = ? AND key IN ({marks})", (self.namespace, *batch)
                )

    async def adelete_keys(self, keys: Sequence[str]) -> None:
        await asyncio.to_thread(self.delete_keys, keys)

    # ---- groups (sources) ---------------------------------------------------------------------------

    def group_keys(self, source: str) -> list[str]:
        """Every record key of one source."""
        return self.list_keys(group_ids=[source])

    def record_count(self, source: str | None = None) -> int:
        """How many records the namespace holds, or one source of it."""
        sql = "SELECT COUNT(*) FROM records WHERE namespace = ?"
        params: tuple[str, ...] = (self.namespace,)
        if source is not None:
            sql += " AND group_id = ?"
            params = (self.namespace, source)
        with self._lock:
            (count,) = self._conn.execute(sql, params).fetchone()
        return int(count)

    def known_sources(self) -> set[str]:
        """Sources that have records or a file state."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT group_id FROM records WHERE namespace = ? AND group_id IS NOT NULL "
                "UNION SELECT source FROM files WHERE namespace = ?",
                (self.namespace, self.namespace),
            ).fetchall()
        return {source for (source,) in rows}

    # ---- journal ------------------------------------------------------------------------------------

    def begin(self, source: str, op: JournalOp, committed: Iterable[str] = ()) -> None:
        """Commit the intent to write ``source`` before anything is written to the vector store.

        ``committed``: the chunk ids of ``source`` that make up its last good version; readers
        (:class:`JournalReader`) show only those while the write is in flight.
        """
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO journal (namespace, source, op, started_at) VALUES (?, ?, ?, ?)",
                (self.namespace, source, op, time.time()),
            )
            conn.execute("DELETE FROM journal_keys WHERE namespace = ? AND source = ?", (self.namespace, source))
            conn.executemany(
                "INSERT OR IGNORE INTO journal_keys (namespace, source, key) VALUES (?, ?, ?)",
                ((self.namespace, source, key) for key in committed),
            )

    def pending(self) -> list[tuple[str, JournalOp]]:
        """Journal rows left behind: sources whose last write did not finish, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT source, op FROM journal WHERE namespace = ? ORDER BY started_at, source",
                (self.namespace,),
            ).fetchall()
        return [(source, op) for source, op in rows]

    def finish(self, source: str, state: FileState | None) -> None:
        """End a write of ``source``: drop its journal row and set its file state (``None`` forgets it),
        in one transaction."""
        with self._tx() as conn:
            for table in ("journal", "journal_keys"):
                conn.execute(f"DELETE FROM {table} WHERE namespace = ? AND source = ?", (self.namespace, source))
            self._write_file_state(conn, source, state)

    def forget(self, source: str) -> None:
        """Drop everything known about ``source`` (records, file state, journal row) in one transaction."""
        with self._tx() as conn:
            for table, column in (("records", "group_id"), ("files", "source"), ("journal", "source"),
                                  ("journal_keys", "source")):
                conn.execute(
                    f"DELETE FROM {table} WHERE namespace = ? AND {column} = ?", (self.namespace, source)
                )

    def clear(self) -> None:
        """Drop everything in this namespace (used when the collection it describes has gone)."""
        with self._tx() as conn:
            for table in ("records", "files", "journal", "journal_keys", "collection_info"):
                conn.execute(f"DELETE FROM {table} WHERE namespace = ?", (self.namespace,))

    # ---- collection facts ---------------------------------------------------------------------------

    def info(self, key: str) -> str | None:
        """A fact about the collection (e.g. ``"root"``), or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM collection_info WHERE namespace = ? AND key = ?", (self.namespace, key)
            ).fetchone()
        return None if row is None else row[0]

    def set_info(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO collection_info (namespace, key, value) VALUES (?, ?, ?)",
                (self.namespace, key, value),
            )

    # ---- file states --------------------------------------------------------------------------------

    def file_state(self, source: str) -> FileState | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT size, mtime_ns, sha256, chunks, settings FROM files WHERE namespace = ? AND source = ?",
                (self.namespace, source),
            ).fetchone()
        return None if row is None else FileState(*row)

    def sources_with_sha256(self, sha256: str) -> list[str]:
        """Sources whose file, as last indexed, had this content hash, sorted."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT source FROM files WHERE namespace = ? AND sha256 = ? ORDER BY source",
                (self.namespace, sha256),
            ).fetchall()
        return [source for (source,) in rows]

    def set_file_state(self, source: str, state: FileState | None) -> None:
        with self._tx() as conn:
            self._write_file_state(conn, source, state)

    def _write_file_state(self, conn: sqlite3.Connection, source: str, state: FileState | None) -> None:
        if state is None:
            conn.execute("DELETE FROM files WHERE namespace = ? AND source = ?", (self.namespace, source))
            return
        conn.execute(
            "INSERT OR REPLACE INTO files (namespace, source, size, mtime_ns, sha256, chunks, settings) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.namespace, source, state.size, state.mtime_ns, state.sha256, state.chunks, state.settings),
        )


@dataclass(frozen=True)
class PendingWrite:
    """A write in flight (or interrupted), as a reader sees it."""

    op: JournalOp
    committed: frozenset[str]
    """The chunk ids of the source's last good version (empty for a removal, or a first ingest)."""


class JournalReader:
    """Reads the journal of ``path`` without writing or locking anything: what readers need to show the last
    committed state while a writer is at work. The file may not exist yet (nothing was ever ingested)."""

    def __init__(self, path: Path, namespace: str) -> None:
        self.path = Path(path)
        self.namespace = namespace
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def pending(self) -> dict[str, PendingWrite]:
        """Sources with a write in flight or interrupted, with their committed chunk ids."""
        with self._lock:
            conn = self._connection()
            if conn is None:
                return {}
            try:
                rows = conn.execute(
                    "SELECT source, op FROM journal WHERE namespace = ?", (self.namespace,)
                ).fetchall()
                if not rows:
                    return {}
                keys = conn.execute(
                    "SELECT source, key FROM journal_keys WHERE namespace = ?", (self.namespace,)
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # records written before the journal (or its keys) existed
                    return {}
                raise
        committed: dict[str, set[str]] = {}
        for source, key in keys:
            committed.setdefault(source, set()).add(key)
        return {source: PendingWrite(op, frozenset(committed.get(source, ()) if op == "index" else ()))
                for source, op in rows}

    def info(self, key: str) -> str | None:
        """A fact about the collection (see :meth:`IngestJournal.info`), or ``None``."""
        with self._lock:
            conn = self._connection()
            if conn is None:
                return None
            try:
                row = conn.execute(
                    "SELECT value FROM collection_info WHERE namespace = ? AND key = ?", (self.namespace, key)
                ).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # records written before collection facts were kept
                    return None
                raise
        return None if row is None else row[0]

    def data_version(self) -> int | None:
        """SQLite's ``PRAGMA data_version`` on this reader's connection: it changes whenever another connection
        (a writer in this process or another) commits to the file, so a reader that keeps a view of the index
        (BM25 over every chunk, the chunk count) knows when to rebuild it. ``None`` while the file does not
        exist. Compare values from one reader only."""
        with self._lock:
            conn = self._connection()
            if conn is None:
                return None
            (version,) = conn.execute("PRAGMA data_version").fetchone()
        return int(version)

    def _connection(self) -> sqlite3.Connection | None:
        if self._conn is None and self.path.is_file():
            self._conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA query_only = ON")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

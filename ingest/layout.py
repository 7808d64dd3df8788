"""What an index folder holds, and how to tell at once that there is none: no Chroma or model import here.

Readers check :func:`missing_index` before anything heavy loads, so ``rag-app ask`` or ``sources`` in a folder
where nothing was ingested answer "no index at PATH: run `rag-app ingest`" in a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CHROMA_FILE",
    "DEFAULT_COLLECTION",
    "DEFAULT_DB_DIR",
    "LOCK_FILE",
    "RECORDS_FILE",
    "ingest_hint",
    "missing_index",
]

DEFAULT_DB_DIR = Path(".rag-app")
DEFAULT_COLLECTION = "documents"
RECORDS_FILE = "records.sqlite"
LOCK_FILE = "ingest.lock"
CHROMA_FILE = "chroma.sqlite3"  # what an embedded Chroma folder holds once a collection was created in it


def ingest_hint(db_dir: Path | str, collection: str, host: str | None = None) -> str:
    """The command that would create the index: ``run `rag-app ingest PATH --db DIR [--collection NAME]` first``."""
    target = f"--chroma-host {host}" if host is not None else f"--db {db_dir}"
    named = "" if collection == DEFAULT_COLLECTION else f" --collection {collection}"
    return f"run `rag-app ingest PATH {target}{named}` first"


def missing_index(db_dir: Path | str, collection: str, host: str | None = None) -> str | None:
    """The message for an embedded index folder with no Chroma database in it; ``None`` when there is one (or
    for a server, which only a connection can tell)."""
    if host is None and not (Path(db_dir) / CHROMA_FILE).is_file():
        return f"no index at {db_dir}: {ingest_hint(db_dir, collection)}"
    return None

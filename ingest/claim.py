"""Who may write an embedded Chroma db while ``rag-app serve`` runs on it: the server alone.

Embedded Chroma (``PersistentClient``) does not promise to be safe across processes ("Chroma is not
process-safe": Chroma's system constraints; chroma-core/chroma#3792), and with chromadb 1.5 we measured why
that matters to a server:

- a process keeps a collection's vector index (HNSW) in memory from its first read: a server that stays up
  never finds the vectors another process adds (its ``count`` and ``get`` see them, its ``query`` does not)
  until it closes and reopens the client;
- opening a collection writes its index files, even in a process that only reads, so two long-lived
  processes may write them at once.

So a server on an embedded db *claims* it: an exclusive ``flock`` on ``<db>/server.lock`` for as long as it
runs, and ``<db>/server.json`` saying who (pid, address). A writer in another process (``rag-app ingest``,
``remove``, ``ingest --watch``: :func:`ingest.indexing.open_store`) holds a shared lock on the same file while
its store is open. Either is refused while the other holds the db, with :class:`DbInUseError`, whose message
says what to do: ingest through the server (``rag-app ingest PATH --server URL``), stop it first, or use a
Chroma server (``--chroma-host``), where Chroma's own server is the one process that touches the files and
any number of processes may read and write. The OS drops a process's locks when it dies, so a killed server
never leaves its db claimed (a stale ``server.json`` is ignored).

Not claimed: readers (``rag-app sources``, ``retrieve``, ``ask``: short-lived, see :mod:`ingest.reader`); a
db behind a Chroma server; Windows (no ``flock``, as for the writer lock).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ingest.chroma_store import StoreError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: nothing is claimed
    fcntl = None  # type: ignore[assignment]

__all__ = ["CLAIM_FILE", "SERVER_FILE", "Claim", "DbInUseError", "check_not_served", "claim_for_serving",
           "claim_for_writing", "serving_here"]

CLAIM_FILE = "server.lock"
SERVER_FILE = "server.json"

_served_here: dict[Path, Claim] = {}  # the dbs this process serves (its own writer may open them)
_guard = threading.Lock()


class DbInUseError(StoreError):
    """The embedded db is held by a process this one may not run beside; the message says what to do."""


@dataclass
class Claim:
    """A held claim on ``db_dir``; :meth:`release` (or process exit) drops it."""

    db_dir: Path
    fd: int | None
    serving: bool

    def release(self) -> None:
        with _guard:
            if self.serving and _served_here.get(self.db_dir) is self:
                del _served_here[self.db_dir]
                (self.db_dir / SERVER_FILE).unlink(missing_ok=True)
            if self.fd is not None:
                os.close(self.fd)  # drops the flock
                self.fd = None


def _key(db_dir: Path | str) -> Path:
    return Path(os.path.abspath(os.fspath(db_dir)))


def serving_here(db_dir: Path | str) -> bool:
    """Whether this process serves ``db_dir`` (:func:`claim_for_serving`)."""
    return _key(db_dir) in _served_here


def _server_info(db_dir: Path) -> dict:
    try:
        info = json.loads((db_dir / SERVER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _served_message(db_dir: Path, doing: str) -> str:
    info = _server_info(db_dir)
    url = str(info.get("url") or "URL")
    who = f"`rag-app serve` (pid {info['pid']}, {url})" if info.get("pid") else "a running `rag-app serve`"
    return (f"{who} serves the embedded Chroma db {db_dir}, and embedded Chroma is not safe for two processes: "
            f"it would not see what {doing} writes. Ingest through the server instead: `rag-app ingest PATH "
            f"--server {url}` (or the page's upload); or stop the server first; or put the index in a Chroma "
            "server (`chroma run --path DIR`, then --chroma-host for both), which any number of processes may share.")


def _open(db_dir: Path) -> int | None:
    if fcntl is None:
        return None
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
        return os.open(db_dir / CLAIM_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open {db_dir / CLAIM_FILE}: {exc.strerror or exc}") from exc


def claim_for_writing(db_dir: Path | str, *, doing: str = "this command") -> Claim:
    """A shared claim on ``db_dir`` for a writer, held until released; no-op in the process serving it.

    Raises:
        DbInUseError: a server in another process holds ``db_dir`` (the message names it and says what to do).
    """
    key = _key(db_dir)
    with _guard:
        if key in _served_here:
            return Claim(key, None, serving=False)
    fd = _open(key)
    if fd is None:
        return Claim(key, None, serving=False)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DbInUseError(_served_message(key, doing)) from None
    return Claim(key, fd, serving=False)


def check_not_served(db_dir: Path | str, *, doing: str = "this command") -> None:
    """Raise :class:`DbInUseError` at once if a server in another process holds ``db_dir`` (before any model
    loads); nothing is held afterwards. A missing db is not served."""
    key = _key(db_dir)
    if not (key / CLAIM_FILE).is_file():
        return
    claim_for_writing(key, doing=doing).release()


def claim_for_serving(db_dir: Path | str, url: str) -> Claim:
    """The exclusive claim of a server on ``db_dir``, recorded in ``<db>/server.json`` with its pid and ``url``.

    Raises:
        DbInUseError: another server, or a writer in another process (an ingest, a watch), holds ``db_dir``.
    """
    key = _key(db_dir)
    fd = _open(key)
    if fd is None:
        claim = Claim(key, None, serving=True)
    else:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            info = _server_info(key)
            if info.get("pid") and _alive(int(info["pid"])):
                raise DbInUseError(f"`rag-app serve` (pid {info['pid']}, {info.get('url')}) already serves "
                                   f"{key}: use it, or stop it first.") from None
            raise DbInUseError(f"an ingest (`rag-app ingest`, `remove` or `ingest --watch`) has {key} open, and "
                               "embedded Chroma is not safe for two processes: start the server once it is done "
                               "(stop a watch with Ctrl-C; `rag-app serve --watch PATH` watches from the server), "
                               "or use a Chroma server (--chroma-host).") from None
        claim = Claim(key, fd, serving=True)
    with _guard:
        _served_here[key] = claim
    (key / SERVER_FILE).write_text(json.dumps({"pid": os.getpid(), "url": url}), encoding="utf-8")
    return claim


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

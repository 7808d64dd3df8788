"""Keep an index in step with folders as files are created, changed, renamed and deleted (``ingest --watch``).

`watchfiles <https://watchfiles.helpmanual.io/>`_ (the Rust ``notify`` crate: inotify, FSEvents,
ReadDirectoryChangesW) says which paths changed; nothing is read at once. A changed path is *settled* once
its size and modification time have stayed the same for ``quiet`` seconds (:class:`Settler`), so a file that
is still being written (a copy, a download, a sync client writing in pieces) is read once, when complete.
Then :func:`sync_paths` brings the index in line with each settled path as it is now, through the same
:class:`~ingest.pipeline.Ingestor` as any ingest:

- a file that exists is ingested under its source name (:mod:`ingest.sources`); content that did not change
  (a ``touch``, a save of the same text) is skipped by its hash, as in any ingest;
- a path that is gone has its source removed, with the sources under it (a deleted folder, an e-mail's
  attachments): the ``prune`` of one path, reported as ``pruned``;
- a folder that appears (made, or moved in) has each of its files settled and ingested;
- a rename is both: the old name is removed, then the new one ingested. A chunk's id includes its source, so
  the renamed file's chunks are embedded again (see the README, "Watching a folder").

Which files count follows :func:`ingest.walk.walk`: under a watched path, no hidden part, not in an excluded
folder, and a name or path relative to the watched folder that matches a glob (:class:`Scope`). A watched
folder that disappears keeps its sources (it is more likely an unmounted disk than a wish to empty the index).

What it does not do: the first pass over the folders (the caller runs a normal ingest from ``on_start``, once
the watch is in place, so nothing changed meanwhile is missed), printing, or any model work of its own.
"""

from __future__ import annotations

import os
import stat as stat_module
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.sources import source_name
from ingest.walk import FoundFile, matches_glob, walk

if TYPE_CHECKING:
    from ingest.pipeline import FileReport, Ingestor

__all__ = ["DEFAULT_QUIET", "Scope", "Settler", "Signature", "signature", "sync_paths", "watch"]

DEFAULT_QUIET = 1.0
"""Seconds a changed file's size and modification time must stay the same before it is read."""

Signature = tuple[str, int, int] | None
"""What :func:`signature` sees of a path: ``(kind, size, mtime_ns)``, ``("error", errno, 0)`` when it cannot
be looked at, ``None`` when nothing is there."""


def signature(path: Path) -> Signature:
    """The kind (``file``, ``dir``, ``other``), size and modification time (ns) of ``path``, symlinks followed;
    ``None`` when it does not exist. A path that exists but cannot be looked at (a permission changed) is not
    taken for deleted: it gets ``("error", errno, 0)``, and reading it reports why."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return ("error", exc.errno or 0, 0)
    kind = "dir" if stat_module.S_ISDIR(info.st_mode) else "file" if stat_module.S_ISREG(info.st_mode) else "other"
    return (kind, info.st_size, info.st_mtime_ns)


class Settler:
    """The changed paths, and which of them have settled: :meth:`touch` a path when it changes; :meth:`settled`
    returns (and forgets) those whose :func:`signature` has not changed for ``quiet`` seconds.

    ``clock`` and ``stat`` are injectable, so the debounce is tested without sleeping:

    >>> now, sizes = [0.0], {}
    >>> settler = Settler(1.0, clock=lambda: now[0], stat=lambda p: sizes.get(p))
    >>> sizes["a"] = ("file", 10, 1); settler.touch("a")
    >>> now[0] = 0.6; sizes["a"] = ("file", 20, 2); settler.settled()   # still growing: wait again
    []
    >>> now[0] = 1.5; settler.settled()                                  # unchanged for 0.9 s only
    []
    >>> now[0] = 1.6; settler.settled()
    ['a']
    """

    def __init__(
        self,
        quiet: float = DEFAULT_QUIET,
        *,
        clock: Callable[[], float] = time.monotonic,
        stat: Callable[[Path], Signature] = signature,
    ) -> None:
        if quiet < 0:
            raise ValueError(f"quiet must be at least 0 seconds, got {quiet}")
        self.quiet = quiet
        self._clock = clock
        self._stat = stat
        self._pending: dict[Path, tuple[Signature, float]] = {}  # path -> (last signature, unchanged since)

    def __len__(self) -> int:
        return len(self._pending)

    def touch(self, path: Path) -> None:
        """``path`` changed now: it settles ``quiet`` seconds from now at the earliest."""
        self._pending[path] = (self._stat(path), self._clock())

    def settled(self) -> list[Path]:
        """The paths unchanged for ``quiet`` seconds, sorted; they are forgotten until touched again."""
        now = self._clock()
        due = []
        for path, (seen, since) in list(self._pending.items()):
            current = self._stat(path)
            if current != seen:
                self._pending[path] = (current, now)
            elif now - since >= self.quiet:
                due.append(path)
                del self._pending[path]
        return sorted(due)


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


class Scope:
    """Which paths a watch of ``paths`` covers, by the rules of :func:`ingest.walk.walk` (see the module
    docstring). A watched file covers itself only; the glob applies to files found in watched folders."""

    def __init__(self, paths: Sequence[Path], glob: str | tuple[str, ...] = "*", exclude: Sequence[Path] = ()) -> None:
        self.tops = tuple(_absolute(p) for p in paths)
        self.glob = glob
        self.exclude = tuple(_absolute(p) for p in exclude)
        self._excluded = {p.resolve() for p in self.exclude}

    def _relative(self, path: Path) -> list[str]:
        """``path`` relative to each watched folder holding it, with its hidden and excluded parts checked."""
        out = []
        for top in self.tops:
            try:
                relative = path.relative_to(top)
            except ValueError:
                continue
            if not relative.parts or any(part.startswith(".") for part in relative.parts):
                continue
            folders = [top.joinpath(*relative.parts[:depth]) for depth in range(1, len(relative.parts) + 1)]
            if self._excluded and any(folder.resolve() in self._excluded for folder in folders):
                continue  # in (or is) a folder the walk never enters
            out.append(relative.as_posix())
        return out

    def covers(self, path: Path) -> bool:
        """Whether a change at ``path`` (file or folder, existing or not) may matter to the index."""
        path = _absolute(path)
        return path in self.tops or bool(self._relative(path))

    def covers_file(self, path: Path) -> bool:
        """Whether a file at ``path`` is one a normal ingest of the watched paths would read."""
        path = _absolute(path)
        if path in self.tops:
            return True
        return any(matches_glob(relative, self.glob) for relative in self._relative(path))


def _file_of(source: str, root: Path) -> Path:
    """Where the file named ``source`` lies under the naming rule (:mod:`ingest.sources`)."""
    return Path(source) if source.startswith("/") else root / source


def _still_there(source: str, root: Path) -> bool:
    """Whether ``source``'s file exists, or the file that carries it (``mail.eml/offer.pdf``: ``mail.eml``)."""
    name = source
    while True:
        if _file_of(name, root).is_file():
            return True
        if "/" not in name.strip("/"):
            return False
        name = name.rsplit("/", 1)[0]


def sync_paths(ingestor: Ingestor, paths: Iterable[Path], scope: Scope) -> tuple[list[FileReport], list[Path]]:
    """Bring the index in line with each of ``paths`` as it is now (see the module docstring).

    Returns the report of every file ingested or removed, and the files found in folders that appeared:
    those are not read here but returned, to be settled first (a folder copied in may still be filling).
    Removals come first, so a rename removes the old name before it reads the new one.
    """
    from ingest.pipeline import FileReport

    store = ingestor.store
    root = store.root
    if root is None:
        raise ValueError(f"{store.location} has no collection root yet: run a normal ingest of the folder first")
    paths = sorted({_absolute(p) for p in paths})
    states = {path: signature(path) for path in paths}
    reports: list[FileReport] = []
    found: list[Path] = []

    gone = [path for path in paths if states[path] is None]
    known = store.journal.known_sources() if gone else set()
    for path in gone:
        if path in scope.tops:
            reports.append(FileReport(path.as_posix(), "failed", error="the watched path is gone; its sources stay "
                                      "indexed (`rag-app ingest --prune` or `rag-app remove` them)"))
            continue
        name = source_name(path, root)
        removed: set[str] = set()
        for source in sorted(s for s in known if s == name or s.startswith(f"{name}/")):
            if _still_there(source, root):
                continue
            carried = any(source.startswith(f"{container}/") for container in removed)  # an attachment
            if not carried and not scope.covers_file(_file_of(source, root)):
                continue
            deleted = store.remove_source(source)
            removed.add(source)
            reports.append(FileReport(source, "pruned", chunks_deleted=deleted))
        known -= removed

    for path in paths:
        state = states[path]
        if state is None:
            continue
        if state[0] == "dir":
            found += [item.path for item in walk([path], "*", exclude=scope.exclude)
                      if isinstance(item, FoundFile) and scope.covers_file(item.path)]
        elif scope.covers_file(path):
            reports += ingestor.ingest_files([(path, source_name(path, root))]).files
    return reports, found


def watch(
    ingestor: Ingestor,
    paths: Sequence[Path],
    *,
    glob: str | tuple[str, ...] = "*",
    exclude: Sequence[Path] = (),
    quiet: float = DEFAULT_QUIET,
    stop: threading.Event | None = None,
    on_start: Callable[[], None] | None = None,
    on_report: Callable[[FileReport], None] | None = None,
    tick: float = 0.1,
    force_polling: bool | None = None,
) -> None:
    """Watch ``paths`` (folders or files) and keep ``ingestor``'s index in step with them until ``stop`` is set
    (or ``KeyboardInterrupt``, which propagates: the store's writer lock is only held while a file is written).

    Args:
        glob, exclude: as for :meth:`~ingest.pipeline.Ingestor.ingest` (see :class:`Scope`).
        quiet: seconds a changed path must stay unchanged before it is read (:class:`Settler`).
        on_start: called once the watch is in place, before any change is handled: run the first, normal
            ingest there, so a file changed while it runs is handled afterwards.
        on_report: called with each file's report (see :class:`~ingest.pipeline.FileReport`) as it is done;
            ``unchanged`` ones included.
        tick: how often, in seconds, settling paths are looked at again.
        force_polling: poll the folders instead of asking the OS (network file systems; see watchfiles).
    """
    import watchfiles

    scope = Scope(paths, glob, exclude)
    for top in scope.tops:
        if not top.exists():
            raise FileNotFoundError(f"cannot watch {top}: no such file or folder")
    folders = sorted({top if top.is_dir() else top.parent for top in scope.tops})
    settler = Settler(quiet)
    tick_ms = max(10, int(tick * 1000))
    started = False
    for changes in watchfiles.watch(*folders, watch_filter=None, stop_event=stop, debounce=tick_ms,
                                    step=min(50, tick_ms), rust_timeout=tick_ms, yield_on_timeout=True,
                                    force_polling=force_polling):
        if not started:  # the first yield: the OS watch is in place
            started = True
            if on_start is not None:
                on_start()
        for _change, name in changes:
            path = Path(name)
            if scope.covers(path):
                settler.touch(path)
        due = settler.settled()
        if not due:
            continue
        reports, found = sync_paths(ingestor, due, scope)
        for path in found:
            settler.touch(path)
        if on_report is not None:
            for report in reports:
                on_report(report)

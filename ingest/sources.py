"""How a file is named in the index (its *source*): one rule, whatever folder a command was given.

The rule: a source is the file's path **relative to the collection root**, with forward slashes
(``guides/install.md``). The root is recorded with the index (``<db>/records.sqlite``) by the first ingest
into the collection: the folder given, or for several paths the deepest folder holding them all (for a file
given alone, its folder). From then on ``rag-app ingest docs/`` and ``rag-app ingest docs/misc/a.md`` both
name that file ``misc/a.md``. A file outside the root is named by its absolute path. A file uploaded through
the server is named by its sanitised file name, as a file lying in the root would be.

An index written before roots were recorded keeps its names: its root is set at its next ingest to the
folder given, or to the ancestor of that folder under which the most of its sources are found
(:func:`infer_root`), so ``rag-app ingest docs/`` reads its old names as they were.

Paths are compared as given (made absolute, ``..`` folded) and, failing that, with symlinks resolved, so a
file reached through a symlinked folder inside the root keeps the name the walk gives it.

What this module does not do: walk folders (:mod:`ingest.walk`), or store the root (:mod:`ingest.journal`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path

__all__ = ["collection_root", "infer_root", "name_candidates", "source_name"]

#: Sources sampled, and ancestors tried, when :func:`infer_root` guesses the root of an index made before
#: roots were recorded: enough to tell folders apart, cheap on an index of any size.
_INFER_SAMPLE = 2000
_INFER_LEVELS = 8


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def _resolved(path: Path | str) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return _absolute(path)


def collection_root(paths: Iterable[Path | str]) -> Path | None:
    """The root a first ingest of ``paths`` records: the deepest folder holding all of them (a file counts
    as its folder); ``None`` when none of them exists."""
    folders = []
    for path in paths:
        absolute = _absolute(path)
        if absolute.is_dir():
            folders.append(str(absolute))
        elif absolute.exists() or absolute.is_symlink():
            folders.append(str(absolute.parent))
    return Path(os.path.commonpath(folders)) if folders else None


def source_name(path: Path | str, root: Path | str | None) -> str:
    """The source name of the file at ``path`` under ``root`` (see the module docstring): its path relative
    to ``root`` with forward slashes, else its absolute path. ``root=None`` (no root yet): the absolute path.

    >>> source_name("/data/docs/misc/a.md", "/data/docs"), source_name("/elsewhere/b.md", "/data/docs")
    ('misc/a.md', '/elsewhere/b.md')
    """
    absolute = _absolute(path)
    if root is not None:
        for inside, base in ((absolute, _absolute(root)), (_resolved(path), _resolved(root))):
            try:
                relative = inside.relative_to(base)
            except ValueError:
                continue
            if relative.parts:
                return relative.as_posix()
    return absolute.as_posix()


def name_candidates(given: str, root: Path | None, *, upload_folder: Path | None = None) -> list[tuple[str, bool]]:
    """Names ``given`` may stand for, best first, when it is not itself a source (``rag-app remove PATH``),
    each with whether it is certain: the name of the file at that path under the rule, and for a file in
    the server's ``upload_folder`` its file name (certain); then the path's trailing parts, longest first
    (``/data/docs/misc/a.md`` → ``docs/misc/a.md``, ``misc/a.md``, ``a.md``), which is how an index written
    before roots were recorded may have named it (not certain: the caller should check that the content
    indexed under that name is the file's, see :meth:`ingest.indexing.IndexStore.find_source`)."""
    path = Path(given).expanduser()
    certain = [source_name(path, root)] if root is not None else []
    if upload_folder is not None:
        for inside, base in ((_absolute(path), _absolute(upload_folder)), (_resolved(path), _resolved(upload_folder))):
            if inside.is_relative_to(base) and inside != base:
                certain.append(inside.name)
                break
    parts = _absolute(path).parts[1:]
    trailing = ["/".join(parts[i:]) for i in range(len(parts))]
    out: dict[str, bool] = {}
    for name in certain:
        out.setdefault(name, True)
    for name in trailing:
        out.setdefault(name, False)
    return [(name, sure) for name, sure in out.items() if name]


def infer_root(start: Path, known: Collection[str]) -> Path:
    """The root for an index whose sources were named before roots were recorded: of ``start`` (what
    :func:`collection_root` gives for this ingest) and its ancestors, the one under which the most of the
    ``known`` relative names are files; ``start`` when no ancestor explains more of them."""
    relative = [name for name in known if name and not name.startswith("/")][:_INFER_SAMPLE]
    if not relative:
        return start
    best, best_count = start, -1
    candidate = start
    for _ in range(_INFER_LEVELS):
        count = sum(1 for name in relative if (candidate / name).is_file())
        if count > best_count:
            best, best_count = candidate, count
        if candidate.parent == candidate:
            break
        candidate = candidate.parent
    return best

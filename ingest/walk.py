"""Find the files to ingest under the paths a user names, safely.

Symlinked directories are followed once: a symlink loop (or a second link to a directory already walked) is
reported, not walked forever. Hidden files and folders (``.git``, the ``.rag-app`` database itself) are
skipped, as are folders the walker cannot list, which are reported. Sources are named by the rule of
:mod:`ingest.sources` (paths relative to the collection root, with forward slashes) when a ``root`` is given,
else relative to the folder they were found under (a file given by itself: its name).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.loaders.detect import os_error_reason
from ingest.sources import source_name

__all__ = ["FoundFile", "WalkProblem", "matches_glob", "walk"]


@dataclass(frozen=True)
class FoundFile:
    path: Path
    source: str


@dataclass(frozen=True)
class WalkProblem:
    source: str
    reason: str
    folder: Path | None = None  # a folder that could not be listed: what is indexed under it is not pruned


def _matches(source: str, patterns: tuple[str, ...]) -> bool:
    name = source.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(source, p) or fnmatch.fnmatch(name, p) for p in patterns)


def matches_glob(relative: str, glob: str | tuple[str, ...]) -> bool:
    """Whether :func:`walk` yields a file at ``relative`` (its path relative to the folder given, with forward
    slashes) for ``glob``: the rule :mod:`ingest.watch` applies to one changed file."""
    return _matches(relative, (glob,) if isinstance(glob, str) else tuple(glob))


def walk(
    paths: list[Path],
    glob: str | tuple[str, ...] = "*",
    exclude: tuple[Path, ...] = (),
    *,
    root: Path | None = None,
) -> Iterator[FoundFile | WalkProblem]:
    """Yield every file under ``paths`` whose name or relative path matches ``glob``, in a stable order.

    With ``root`` (the collection root), every source is :func:`ingest.sources.source_name` of the file under
    it. Without, a path that is a file is yielded with its name as source, and files in a folder with their
    path relative to it. ``glob`` matches the file name, or the path relative to the folder given.
    ``exclude`` holds folders never to enter (e.g. the database folder).
    """
    patterns = (glob,) if isinstance(glob, str) else tuple(glob)
    excluded = {p.resolve() for p in exclude}
    for given in paths:
        if not given.exists() and not given.is_symlink():
            yield WalkProblem(str(given), "no such file or folder")
            continue
        if given.is_file():
            yield FoundFile(given, given.name if root is None else source_name(given, root))
            continue
        if not given.is_dir():
            yield WalkProblem(str(given), "not a regular file or folder")
            continue

        def name(path: Path, base: Path = given) -> str:
            return path.relative_to(base).as_posix() if root is None else source_name(path, root)

        yield from _walk_folder(given, given, patterns, excluded, set(), name)


def _walk_folder(
    top: Path,
    folder: Path,
    patterns: tuple[str, ...],
    excluded: set[Path],
    seen: set[tuple[int, int]],
    name: Callable[[Path], str],
) -> Iterator[FoundFile | WalkProblem]:
    """Depth first, entries in name order, so sources come out in a stable order. ``top`` is the folder
    given (globs match paths relative to it); ``name`` makes a path's source."""
    rel_folder = folder.relative_to(top).as_posix()
    folder_name = name(folder) if rel_folder != "." else str(top)
    try:
        info = folder.stat()
        if (info.st_dev, info.st_ino) in seen:
            yield WalkProblem(folder_name, "symlink loop or repeated link to a folder already read; skipped")
            return
        seen.add((info.st_dev, info.st_ino))
        if folder.resolve() in excluded:
            return
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        why = "permission denied; make it readable for this user" if isinstance(exc, PermissionError) else (
            f"{exc.strerror or exc}; check the path and disk")
        yield WalkProblem(folder_name, f"cannot read folder: {why}", folder)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        relative = path.relative_to(top).as_posix()
        try:
            if entry.is_dir(follow_symlinks=True):
                yield from _walk_folder(top, path, patterns, excluded, seen, name)
            elif entry.is_file(follow_symlinks=True):
                if _matches(relative, patterns):
                    yield FoundFile(path, name(path))
            elif entry.is_symlink():
                yield WalkProblem(name(path), "broken symlink")
            elif _matches(relative, patterns):
                yield WalkProblem(name(path), "not a regular file (device, socket or pipe)")
        except OSError as exc:
            yield WalkProblem(name(path), os_error_reason(exc))

"""Find the files to ingest under the paths a user names, safely.

Symlinked directories are followed once: a symlink loop (or a second link to a directory already walked) is
reported, not walked forever. Hidden files and folders (``.git``, the ``.rag-app`` database itself) are
skipped, as are folders the walker cannot list, which are reported. Sources are paths relative to the
root they were found under, with forward slashes, so an index built on one machine reads the same on another.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FoundFile", "WalkProblem", "walk"]


@dataclass(frozen=True)
class FoundFile:
    path: Path
    source: str


@dataclass(frozen=True)
class WalkProblem:
    source: str
    reason: str


def _matches(source: str, patterns: tuple[str, ...]) -> bool:
    name = source.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(source, p) or fnmatch.fnmatch(name, p) for p in patterns)


def walk(paths: list[Path], glob: str | tuple[str, ...] = "*", exclude: tuple[Path, ...] = ()) -> Iterator[FoundFile | WalkProblem]:
    """Yield every file under ``paths`` whose name or relative path matches ``glob``, in a stable order.

    A path that is a file is yielded with its name as source. ``exclude`` holds folders never to enter
    (e.g. the database folder).
    """
    patterns = (glob,) if isinstance(glob, str) else tuple(glob)
    excluded = {p.resolve() for p in exclude}
    for given in paths:
        if not given.exists() and not given.is_symlink():
            yield WalkProblem(str(given), "no such file or folder")
            continue
        if given.is_file():
            yield FoundFile(given, given.name)
            continue
        if not given.is_dir():
            yield WalkProblem(str(given), "not a regular file or folder")
            continue
        yield from _walk_folder(given, given, patterns, excluded, set())


def _walk_folder(
    root: Path, folder: Path, patterns: tuple[str, ...], excluded: set[Path], seen: set[tuple[int, int]]
) -> Iterator[FoundFile | WalkProblem]:
    """Depth first, entries in name order, so sources come out in a stable order."""
    rel_folder = folder.relative_to(root).as_posix()
    try:
        info = folder.stat()
        if (info.st_dev, info.st_ino) in seen:
            yield WalkProblem(rel_folder, "symlink loop or repeated link to a folder already read; skipped")
            return
        seen.add((info.st_dev, info.st_ino))
        if folder.resolve() in excluded:
            return
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        yield WalkProblem(rel_folder if rel_folder != "." else str(root), f"cannot read folder: {exc.strerror or exc}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        source = path.relative_to(root).as_posix()
        try:
            if entry.is_dir(follow_symlinks=True):
                yield from _walk_folder(root, path, patterns, excluded, seen)
            elif entry.is_file(follow_symlinks=True):
                if _matches(source, patterns):
                    yield FoundFile(path, source)
            elif entry.is_symlink():
                yield WalkProblem(source, "broken symlink")
            elif _matches(source, patterns):
                yield WalkProblem(source, "not a regular file (device, socket or pipe)")
        except OSError as exc:
            yield WalkProblem(source, f"cannot read: {exc.strerror or exc}")

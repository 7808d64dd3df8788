"""Finding files: globs, hidden folders, symlink loops, special files."""

from __future__ import annotations

import os
from pathlib import Path

from ingest.walk import FoundFile, WalkProblem, walk


def _tree(root: Path) -> None:
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("a")
    (root / "docs" / "deep" / "b.txt").write_text("b")
    (root / "top.pdf").write_bytes(b"%PDF-")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x")
    (root / ".hidden.txt").write_text("x")


def test_walk_finds_files_in_a_stable_order_with_relative_sources(tmp_path: Path) -> None:
    _tree(tmp_path)
    found = list(walk([tmp_path]))
    assert found == [
        FoundFile(tmp_path / "docs" / "a.md", "docs/a.md"),
        FoundFile(tmp_path / "docs" / "deep" / "b.txt", "docs/deep/b.txt"),
        FoundFile(tmp_path / "top.pdf", "top.pdf"),
    ]


def test_glob_matches_names_or_relative_paths(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert [f.source for f in walk([tmp_path], "*.txt")] == ["docs/deep/b.txt"]
    assert [f.source for f in walk([tmp_path], ("*.md", "*.pdf"))] == ["docs/a.md", "top.pdf"]
    assert [f.source for f in walk([tmp_path], "docs/deep/*")] == ["docs/deep/b.txt"]


def test_symlink_loop_is_reported_once_and_not_followed(tmp_path: Path) -> None:
    _tree(tmp_path)
    os.symlink(tmp_path / "docs", tmp_path / "docs" / "deep" / "loop")
    found = list(walk([tmp_path]))
    problems = [f for f in found if isinstance(f, WalkProblem)]
    assert problems == [WalkProblem("docs/deep/loop", "symlink loop or repeated link to a folder already read; skipped")]
    assert [f.source for f in found if isinstance(f, FoundFile)] == ["docs/a.md", "docs/deep/b.txt", "top.pdf"]


def test_excluded_folder_broken_link_fifo_and_missing_path(tmp_path: Path) -> None:
    _tree(tmp_path)
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling.txt")
    os.mkfifo(tmp_path / "pipe.txt")
    found = list(walk([tmp_path, tmp_path / "missing"], exclude=(tmp_path / "docs",)))
    assert found == [
        WalkProblem("dangling.txt", "broken symlink"),
        WalkProblem("pipe.txt", "not a regular file (device, socket or pipe)"),
        FoundFile(tmp_path / "top.pdf", "top.pdf"),
        WalkProblem(str(tmp_path / "missing"), "no such file or folder"),
    ]


def test_a_file_path_is_its_own_source(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert list(walk([tmp_path / "docs" / "a.md"])) == [FoundFile(tmp_path / "docs" / "a.md", "a.md")]

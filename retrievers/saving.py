"""Write a checkpoint folder all at once: into a temporary sibling first, then moved into place.

A crash half-way through ``save_pretrained`` leaves the previous checkpoint (or nothing), never a folder
with new weights and an old config.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_directory"]


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.is_dir():
        # Keep unrelated files the user put there (e.g. trainer checkpoints); replace ours.
        for item in staging.iterdir():
            dest = target / item.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(item, dest)
        shutil.rmtree(staging, ignore_errors=True)
    else:
        os.replace(staging, target)

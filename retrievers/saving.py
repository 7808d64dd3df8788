"""Write a checkpoint folder all at once: weights, tokenizer and settings, into a temporary sibling first,
then moved into place.

:func:`checkpoint_writer` is the one save sequence of the embedder and of every ranker: a LoRA model is
merged into full weights (``merge_lora=True``), or its adapters are written alone with the base model's
name, so the folder stays small and loads the base plus adapters. A crash half-way through leaves the
previous checkpoint (or nothing), never a folder with new weights and an old config. What a kind adds to
its folder (the sentence-transformers layout, ColBERT's projection) it writes itself, into the staging folder
this yields. Reading a folder back is :mod:`retrievers.loading`'s job.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from retrievers.loading import save_framework_config

__all__ = ["StagedCheckpoint", "atomic_directory", "checkpoint_writer"]


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh staging folder beside ``target``, moved into place when the block ends without error."""
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


class StagedCheckpoint(NamedTuple):
    """The staging folder of :func:`checkpoint_writer`, and whether it holds LoRA adapters alone."""

    folder: Path
    adapters_only: bool


@contextlib.contextmanager
def checkpoint_writer(
    save_directory: str | os.PathLike[str],
    model: Any,
    tokenizer: Any,
    settings: dict[str, Any],
    *,
    merge_lora: bool = True,
    base_model: str | None = None,
) -> Iterator[StagedCheckpoint]:
    """Write ``model`` (LoRA merged, or adapters alone), ``tokenizer`` and ``settings``
    (``retrievers_config.json``; ``base_model`` is added beside adapters) into a staging folder and yield it
    for the caller's own files; everything is moved to ``save_directory`` when the block ends."""
    is_peft = hasattr(model, "peft_config")
    adapters_only = is_peft and not merge_lora
    if adapters_only and not base_model:
        raise ValueError("Cannot save LoRA adapters alone: the base model's name is unknown; use merge_lora=True.")
    with atomic_directory(save_directory) as staging:
        if is_peft and merge_lora:
            model = copy.deepcopy(model).merge_and_unload()  # the trained model keeps its adapters
        elif adapters_only:
            settings = {**settings, "base_model": base_model}
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        save_framework_config(staging, settings)
        yield StagedCheckpoint(staging, adapters_only)

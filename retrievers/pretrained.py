"""What the embedder and every ranker share as models: :class:`PretrainedModel`.

- State: the transformers model, its tokenizer, the maximum length, the query and document instructions;
- the round trip: ``from_pretrained`` opens the checkpoint and checks its kind (:class:`~retrievers.loading.Checkpoint`),
  then hands it to the class's own ``_load``; ``save_pretrained`` writes weights, tokenizer and
  :meth:`settings` through :func:`~retrievers.saving.checkpoint_writer`, then the class's own files
  (:meth:`_save_files`);
- half precision is for inference only: ``train()`` refuses a model loaded with ``use_fp16=True``.

How texts become tokens and tokens become vectors or scores is each class's own
(:mod:`retrievers.embedder`, :mod:`retrievers.rerankers`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from retrievers.instructions import validate_instruction
from retrievers.loading import Checkpoint
from retrievers.saving import checkpoint_writer
from retrievers.validation import check_int

__all__ = ["PretrainedModel", "eval_mode"]


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """``module`` in eval mode for the block, then back in the mode it was in (inference inside training)."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        nn.Module.train(module, was_training)  # not an override: it may refuse training mode


class PretrainedModel(nn.Module):
    """Base of :class:`~retrievers.embedder.AutoModelForEmbedding` and of every ranker kind.

    Subclasses set :attr:`checkpoint_kind` and :attr:`min_length`, and implement ``_load`` (a
    :class:`~retrievers.loading.Checkpoint` and the ``from_pretrained`` keywords -> a model) and
    :meth:`settings` (what is saved in ``retrievers_config.json``).
    """

    checkpoint_kind: ClassVar[str]
    """``"kind"`` in the checkpoint's ``retrievers_config.json`` (:mod:`retrievers.names`)."""
    min_length: ClassVar[int] = 2
    """The smallest ``max_length`` that leaves room for a text."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int,
        query_instruction: str | None,
        document_instruction: str | None,
        use_fp16: bool,
    ) -> None:
        super().__init__()
        check_int(max_length, "max_length", self.min_length)
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.query_instruction = validate_instruction(query_instruction, "query_instruction")
        self.document_instruction = validate_instruction(document_instruction, "document_instruction")
        self._fp16 = use_fp16

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, model_name_or_path: str | os.PathLike[str], **options: Any) -> Self:
        """Load a model of this class; subclasses document their options (see their ``from_pretrained``)."""
        checkpoint = Checkpoint.open(model_name_or_path, options)
        cls._check_checkpoint(checkpoint)
        return cls._load(checkpoint, options)

    @classmethod
    def _check_checkpoint(cls, checkpoint: Checkpoint) -> None:
        checkpoint.check_kind(cls.checkpoint_kind)

    @classmethod
    def _load(cls, checkpoint: Checkpoint, options: dict[str, Any]) -> Self:
        raise NotImplementedError

    # ------------------------------------------------------------------ saving
    def settings(self) -> dict[str, Any]:
        """What ``from_pretrained`` needs to use the model again, saved as ``retrievers_config.json``."""
        raise NotImplementedError

    def save_pretrained(self, save_directory: str | os.PathLike[str], merge_lora: bool = True) -> None:
        """Write weights, tokenizer and settings; ``from_pretrained(save_directory)`` restores all of them.

        A LoRA model is merged into full weights by default; ``merge_lora=False`` writes the adapters only,
        with the base model's name, so the folder stays small and loads the base plus adapters.
        """
        base_model = getattr(self, "base_model", None)
        with checkpoint_writer(save_directory, self.model, self.tokenizer, self.settings(), merge_lora=merge_lora,
                               base_model=base_model) as staged:
            self._save_files(staged.folder, adapters_only=staged.adapters_only)

    def _save_files(self, folder: Path, *, adapters_only: bool) -> None:
        """Write files of this kind besides weights, tokenizer and settings into ``folder``."""

    # ------------------------------------------------------------------ shared plumbing
    def train(self, mode: bool = True) -> Self:
        if mode and self._fp16:
            raise RuntimeError(
                f"This {type(self).__name__} was loaded with use_fp16=True, which is for inference only: fp16 "
                "weights make gradients underflow. Load it in fp32 and train with fp16=True/bf16=True training "
                "arguments."
            )
        return super().train(mode)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

"""Cross-encoder reranker: the query and the document read together by one encoder, one relevance logit.

``CrossEncoderRanker.from_pretrained(name)`` loads ``AutoModelForSequenceClassification`` with one label
(an MS MARCO cross-encoder, a BGE reranker, or an encoder of ours with a fresh head to fine-tune). The score
is that raw logit, no sigmoid: it orders documents the same way and keeps the scale the model was trained
on. Pairs are laid out as ``tokenizer(query, document)`` would lay them out (``[CLS] q [SEP] d [SEP]``,
token type ids included); only the document is cut: a document longer than the window is scored in
overlapping windows, each holding the whole query, and keeps its best window's score.

What it does not do: multi-label heads (a head with more than one logit is refused), LoRA (use the LLM
ranker for adapters), training (``finetune`` uses :meth:`tokenize_pairs` and :meth:`forward`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any, Unpack

import torch
from transformers import (
    AutoModelForSequenceClassification,
    BatchEncoding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from retrievers.loading import Checkpoint, split_options
from retrievers.names import RerankerKind
from retrievers.padding import pad_features
from retrievers.rerankers.base import PairScoringRanker, RankerOptions, WindowSettings
from retrievers.rerankers.common import SpecialTokens, check_model_kwargs

__all__ = ["CrossEncoderRanker"]


class CrossEncoderRanker(PairScoringRanker):
    """Score (query, document) pairs with a sequence-classification model's single logit.

    Use :meth:`from_pretrained` (or ``AutoModelForRanking.from_pretrained``); the constructor takes an
    already loaded model and tokenizer.

    Example::

        ranker = CrossEncoderRanker.from_pretrained("cross-encoder/ms-marco-MiniLM-L6-v2")
        ranker.compute_score(("what is pooling?", "Mean pooling averages token vectors."))  # a float
        ranker.rerank("what is pooling?", docs, top_n=3)  # RerankResult, best first
    """

    ranker_kind = RerankerKind.CROSS_ENCODER

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, **settings: Unpack[WindowSettings]) -> None:
        num_labels = getattr(model.config, "num_labels", 1)
        if num_labels != 1:
            raise ValueError(f"A cross-encoder ranker needs a head with one logit; this model has num_labels={num_labels}.")
        super().__init__(model, tokenizer, **settings)
        self.special = SpecialTokens.probe(tokenizer, pair=True)
        self._use_token_types = "token_type_ids" in tokenizer.model_input_names

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls, model_name_or_path: str | os.PathLike[str], **options: Unpack[RankerOptions]
    ) -> CrossEncoderRanker:
        """Load a cross-encoder (:class:`~retrievers.rerankers.base.RankerOptions` lists the keywords).

        ``None`` for a setting means "what the checkpoint says, else the default"; an empty string for an
        instruction means "no instruction". A checkpoint without a classification head gets a fresh
        one-logit head (with a warning): it must be fine-tuned before its scores mean anything.
        """
        return super().from_pretrained(model_name_or_path, **options)

    @classmethod
    def _load(cls, checkpoint: Checkpoint, options: dict[str, Any]) -> CrossEncoderRanker:
        opts, model_kwargs = split_options(options, RankerOptions)
        check_model_kwargs(model_kwargs, cls.__name__, cls.ranker_kind)
        config, path = checkpoint.config, checkpoint.resolved.path
        archs = getattr(config, "architectures", None) or []
        has_head = any(a.endswith("ForSequenceClassification") for a in archs)
        if checkpoint.is_decoder and not has_head:
            raise ValueError(
                f"{path} is a causal language model ({config.model_type}) without a classification head. "
                "Load it as an LLM yes/no reranker with AutoModelForRanking.from_pretrained(name, causal_lm=True)."
            )
        if has_head and config.num_labels != 1:
            raise ValueError(
                f"{path} has a classification head with {config.num_labels} labels; a cross-encoder "
                "ranker needs exactly one relevance logit."
            )
        if not has_head:
            warnings.warn(
                f"{path} has no sequence-classification head: a new one-logit head is initialised at "
                "random. Fine-tune it before ranking with it.",
                stacklevel=4,
            )
            model_kwargs.setdefault("num_labels", 1)
        loaded = checkpoint.load(AutoModelForSequenceClassification, opts, owner=cls.__name__, model_kwargs=model_kwargs)
        if getattr(loaded.model.config, "pad_token_id", None) is None:
            # Decoder-based classifiers find the last real token through the pad id.
            loaded.model.config.pad_token_id = loaded.tokenizer.pad_token_id
        return cls._from_loaded(checkpoint, loaded, opts, length_cap=512)

    # ------------------------------------------------------------------ pairs -> tokens
    def _fixed_tokens(self, query_ids: list[int]) -> int:
        return self.special.count + len(query_ids)

    def _window_item(self, query_ids: list[int], window: list[int]) -> tuple[list[int], list[int]]:
        return self.special.build(query_ids, window)

    def _item_length(self, item: tuple[list[int], list[int]]) -> int:
        return len(item[0])

    def _collate(self, items: Sequence[tuple[list[int], list[int]]]) -> BatchEncoding:
        types = [t for _, t in items] if self._use_token_types else None
        return pad_features([i for i, _ in items], self.tokenizer, "right", token_types=types)  # (B, T) each

    # ------------------------------------------------------------------ tokens -> scores
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Differentiable relevance logits (B,) for a batch of (B, T) features."""
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits  # (B, 1)
        return logits[:, 0]  # (B,)

    def __repr__(self) -> str:
        return (f"CrossEncoderRanker(max_length={self.max_length}, window_overlap={self.window_overlap}, "
                f"query_instruction={self.query_instruction!r}, document_instruction={self.document_instruction!r})")

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

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForSequenceClassification,
    BatchEncoding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from retrievers.loading import (
    fp16_allowed,
    is_decoder_config,
    load_config,
    load_framework_config,
    load_tokenizer,
    load_weights,
    pick_device,
    save_framework_config,
)
from retrievers.model_names import ResolvedModel, resolve_model
from retrievers.rerankers.base import WindowedRanker, check_pairs, pad_batch
from retrievers.rerankers.common import (
    DEFAULT_WINDOW_OVERLAP,
    SpecialTokens,
    check_model_kwargs,
    check_ranker_folder,
    default_max_length,
    pick,
)
from retrievers.saving import atomic_directory

__all__ = ["CrossEncoderRanker"]

_KIND = "cross_encoder"


class CrossEncoderRanker(WindowedRanker):
    """Score (query, document) pairs with a sequence-classification model's single logit.

    Use :meth:`from_pretrained` (or ``AutoModelForRanking.from_pretrained``); the constructor takes an
    already loaded model and tokenizer.

    Example::

        ranker = CrossEncoderRanker.from_pretrained("cross-encoder/ms-marco-MiniLM-L6-v2")
        ranker.compute_score(("what is pooling?", "Mean pooling averages token vectors."))  # a float
        ranker.rerank("what is pooling?", docs, top_n=3)  # RerankResult, best first
    """

    ranker_kind = _KIND

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int = 512,
        window_overlap: int = DEFAULT_WINDOW_OVERLAP,
        query_instruction: str | None = None,
        document_instruction: str | None = None,
        use_fp16: bool = False,
    ) -> None:
        super().__init__(
            tokenizer, max_length=max_length, window_overlap=window_overlap, query_instruction=query_instruction,
            document_instruction=document_instruction, use_fp16=use_fp16,
        )
        num_labels = getattr(model.config, "num_labels", 1)
        if num_labels != 1:
            raise ValueError(f"A cross-encoder ranker needs a head with one logit; this model has num_labels={num_labels}.")
        self.model = model
        self.special = SpecialTokens.probe(tokenizer, pair=True)
        self._use_token_types = "token_type_ids" in tokenizer.model_input_names

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str | Path,
        max_length: int | None = None,
        query_instruction: str | None = None,
        document_instruction: str | None = None,
        use_fp16: bool = False,
        device: str | torch.device | None = None,
        window_overlap: int | None = None,
        revision: str | None = None,
        **model_kwargs: Any,
    ) -> CrossEncoderRanker:
        """Load a cross-encoder.

        ``None`` for a setting means "what the checkpoint says, else the default"; an empty string for an
        instruction means "no instruction". A checkpoint without a classification head gets a fresh
        one-logit head (with a warning): it must be fine-tuned before its scores mean anything.
        """
        check_model_kwargs(model_kwargs, cls.__name__, _KIND)
        resolved = resolve_model(model_name_or_path, revision=revision)
        saved = load_framework_config(resolved.path)
        check_ranker_folder(resolved.path, saved, _KIND)
        return cls._load(resolved, saved, max_length=max_length, query_instruction=query_instruction,
                         document_instruction=document_instruction, use_fp16=use_fp16, device=device,
                         window_overlap=window_overlap, **model_kwargs)

    @classmethod
    def _load(
        cls,
        resolved: ResolvedModel,
        saved: dict[str, Any],
        *,
        max_length: int | None,
        query_instruction: str | None,
        document_instruction: str | None,
        use_fp16: bool,
        device: str | torch.device | None,
        window_overlap: int | None,
        **model_kwargs: Any,
    ) -> CrossEncoderRanker:
        config = load_config(resolved)
        archs = getattr(config, "architectures", None) or []
        has_head = any(a.endswith("ForSequenceClassification") for a in archs)
        if is_decoder_config(config) and not has_head:
            raise ValueError(
                f"{resolved.path} is a causal language model ({config.model_type}) without a classification head. "
                "Load it as an LLM yes/no reranker with AutoModelForRanking.from_pretrained(name, causal_lm=True)."
            )
        if has_head and config.num_labels != 1:
            raise ValueError(
                f"{resolved.path} has a classification head with {config.num_labels} labels; a cross-encoder "
                "ranker needs exactly one relevance logit."
            )
        if not has_head:
            warnings.warn(
                f"{resolved.path} has no sequence-classification head: a new one-logit head is initialised at "
                "random. Fine-tune it before ranking with it.",
                stacklevel=3,
            )
            model_kwargs.setdefault("num_labels", 1)
        dev = pick_device(device)
        half = fp16_allowed(use_fp16, dev, training=False, owner="CrossEncoderRanker")
        tokenizer = load_tokenizer(resolved)
        model_kwargs.setdefault("dtype", torch.float16 if half else torch.float32)
        model = load_weights(AutoModelForSequenceClassification, resolved, **model_kwargs)
        if getattr(model.config, "pad_token_id", None) is None:
            # Decoder-based classifiers find the last real token through the pad id.
            model.config.pad_token_id = tokenizer.pad_token_id
        model.to(dev)
        model.eval()
        ranker = cls(
            model,
            tokenizer,
            max_length=pick("max_length", max_length, saved, default_max_length(config, tokenizer, 512)),
            window_overlap=pick("window_overlap", window_overlap, saved, DEFAULT_WINDOW_OVERLAP),
            query_instruction=pick("query_instruction", query_instruction, saved, None),
            document_instruction=pick("document_instruction", document_instruction, saved, None),
            use_fp16=half,
        )
        ranker.eval()
        return ranker

    # ------------------------------------------------------------------ pairs -> tokens
    def _fixed_tokens(self, query_ids: list[int]) -> int:
        return self.special.count + len(query_ids)

    def _window_item(self, query_ids: list[int], window: list[int]) -> tuple[list[int], list[int]]:
        return self.special.build(query_ids, window)

    def _item_length(self, item: tuple[list[int], list[int]]) -> int:
        return len(item[0])

    def _collate(self, items: Sequence[tuple[list[int], list[int]]]) -> BatchEncoding:
        ids, mask, types = pad_batch(
            [i for i, _ in items], self.tokenizer.pad_token_id or 0, "right",
            extra=[t for _, t in items], extra_pad=getattr(self.tokenizer, "pad_token_type_id", 0),
        )
        features = {"input_ids": ids, "attention_mask": mask}  # (B, T) each
        if self._use_token_types:
            features["token_type_ids"] = types
        return BatchEncoding(features)

    def tokenize_pairs(self, sentence_pairs: Sequence[tuple[str, str]]) -> BatchEncoding:
        """Tokenize pairs for training: instructions, special tokens, the document cut to its first window.

        The same layout :meth:`compute_score` uses, so a model trained on these features scores alike.
        """
        pairs, _ = check_pairs(sentence_pairs)
        return self._collate([windows[0] for windows in self._pair_windows(pairs)])

    # ------------------------------------------------------------------ tokens -> scores
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Differentiable relevance logits (B,) for a batch of (B, T) features."""
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits  # (B, 1)
        return logits[:, 0]  # (B,)

    def _score_items(self, items: list[tuple[list[int], list[int]]]) -> torch.Tensor:
        features = self._collate(items).to(self.device)
        return self.forward(**features).float().cpu()  # (b,)

    # ------------------------------------------------------------------ saving
    def settings(self) -> dict[str, Any]:
        return self.base_settings()

    def save_pretrained(self, save_directory: str | Path) -> None:
        """Write weights, tokenizer and settings; ``from_pretrained(save_directory)`` restores all of them.

        The folder is also a plain transformers sequence-classification checkpoint (and loads in
        ``sentence_transformers.CrossEncoder``).
        """
        with atomic_directory(save_directory) as staging:
            self.model.save_pretrained(str(staging))
            self.tokenizer.save_pretrained(str(staging))
            save_framework_config(staging, self.settings())

    def __repr__(self) -> str:
        return (f"CrossEncoderRanker(max_length={self.max_length}, window_overlap={self.window_overlap}, "
                f"query_instruction={self.query_instruction!r}, document_instruction={self.document_instruction!r})")

"""The contract every reranker kind implements: score (query, document) pairs, rerank a list.

A pair's score depends only on that pair: not on the other pairs in its batch, not on padding. Documents
longer than the model's window are cut into overlapping windows and scored by their best window.

This module holds what the kinds share:

- :class:`RerankResult` and :class:`BaseRanker` (``compute_score`` / ``rerank``), the public contract;
- :func:`split_into_windows`, the one place where a long document is cut into overlapping token windows;
- :class:`WindowedRanker`, which validates the input, tokenizes queries and documents once, cuts every
  document into windows that leave room for the query and the special tokens, scores all windows in
  length-sorted batches and keeps each pair's best window. A kind only says how one window becomes model
  input (``_window_item``) and how a batch of those is scored (``_score_items``). It also holds the
  settings every kind loads and saves alike (maximum length, window overlap, instructions).

Opening, loading and writing checkpoints is :class:`~retrievers.pretrained.PretrainedModel`'s; what is
particular to a kind's weights is in the kind's module.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypedDict, Unpack

import torch
from torch import nn
from transformers import BatchEncoding, PreTrainedTokenizerBase

from retrievers.instructions import apply_instruction
from retrievers.loading import Checkpoint, LoadedModel, LoadOptions
from retrievers.names import RANKER_CHECKPOINT, RerankerKind
from retrievers.padding import longest_first, pad_batch
from retrievers.pretrained import PretrainedModel, eval_mode
from retrievers.rerankers.common import DEFAULT_WINDOW_OVERLAP, check_ranker_folder, default_max_length
from retrievers.validation import check_int, check_pairs, check_texts

__all__ = [
    "BaseRanker",
    "PairScoringRanker",
    "RankerOptions",
    "RerankResult",
    "WindowSettings",
    "WindowedRanker",
    "check_pairs",
    "pad_batch",
    "split_into_windows",
]


class WindowSettings(TypedDict, total=False):
    """Settings every ranker kind is built with and saves (its constructor's keywords beyond its own)."""

    max_length: int
    """Tokens of one window: the query, the document's window, the prompt and special tokens (default 512)."""
    window_overlap: int
    """Tokens shared by consecutive windows of a long document (default 32, at most half the document budget)."""
    query_instruction: str | None
    """Put in front of (or around) the query text (default: none)."""
    document_instruction: str | None
    """Put in front of (or around) every window of the document text (default: none)."""
    use_fp16: bool
    """The weights are half precision: inference only (default False)."""


#: The saved settings every kind shares, in :meth:`WindowedRanker.settings` and when loading.
_SHARED_SETTINGS = ("max_length", "window_overlap", "query_instruction", "document_instruction")


class RankerOptions(LoadOptions, total=False):
    """Keyword arguments of every ranker's ``from_pretrained``, beyond those of every loader."""

    window_overlap: int | None
    """Tokens shared by consecutive windows of a long document (default 32, at most half a window)."""


@dataclass(frozen=True)
class RerankResult:
    """Documents best first, with their scores and their positions in the input list."""

    documents: list[str]
    scores: list[float]
    indices: list[int]

    def __len__(self) -> int:
        return len(self.documents)


class BaseRanker:
    """Subclasses implement :meth:`compute_score`; :meth:`rerank` is shared."""

    def compute_score(
        self, sentence_pairs: Sequence[tuple[str, str]] | tuple[str, str], batch_size: int = 16, **kwargs
    ) -> list[float] | float:
        raise NotImplementedError

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None, batch_size: int = 16) -> RerankResult:
        """Score ``documents`` against ``query`` and return the ``top_n`` best, best first (ties keep input order)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}.")
        documents = check_texts(documents, "documents", one_string="refuse")
        if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int)):
            raise TypeError(f"top_n must be an integer >= 0 or None; got {top_n!r}.")
        if top_n is not None and top_n < 0:
            raise ValueError(f"top_n must be >= 0 or None; got {top_n}.")
        if not documents:
            return RerankResult([], [], [])
        scores = self.compute_score([(query, d) for d in documents], batch_size=batch_size)
        order = sorted(range(len(documents)), key=lambda i: (-scores[i], i))
        if top_n is not None:
            order = order[:top_n]
        return RerankResult([documents[i] for i in order], [float(scores[i]) for i in order], order)


def split_into_windows(ids: Sequence[int], size: int, overlap: int) -> list[list[int]]:
    """Cut ``ids`` into windows of at most ``size`` tokens, consecutive windows sharing ``overlap`` or more.

    Every window but a short sequence's only one is full: the last window is aligned to the end, so it may
    overlap its neighbour by more than ``overlap``. Every token is in at least one window; an empty sequence
    gives one empty window.

    >>> split_into_windows(list(range(10)), size=4, overlap=1)
    [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    >>> split_into_windows(list(range(5)), size=8, overlap=2)
    [[0, 1, 2, 3, 4]]
    """
    check_int(size, "size", 1)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ValueError(f"overlap must be an integer with 0 <= overlap < size ({size}); got {overlap!r}.")
    ids = list(ids)
    if len(ids) <= size:
        return [ids]
    stride = size - overlap
    starts = [*range(0, len(ids) - size, stride), len(ids) - size]
    return [ids[s : s + size] for s in starts]


class WindowedRanker(PretrainedModel, BaseRanker):
    """Shared scoring loop: instructions, query truncation, document windows, batching, best window.

    A window's model input is ``frame + query + document window``, laid out by the subclass in
    :meth:`_window_item`. The document's budget is ``max_length`` minus everything else in the window
    (:meth:`_fixed_tokens`); consecutive windows overlap by ``window_overlap`` tokens, or by half the budget
    when the budget is small. A query longer than :meth:`_query_limit` tokens is truncated, with a warning.

    Instructions are prefixes (or ``{}`` templates, see :mod:`retrievers.instructions`): the query
    instruction is applied to the query text; the document instruction's text before and after ``{}`` is
    tokenized on its own and repeated in every window, so no window loses it.
    """

    ranker_kind: ClassVar[RerankerKind]
    checkpoint_kind = RANKER_CHECKPOINT
    min_length = 4

    def __init__(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, **settings: Unpack[WindowSettings]) -> None:
        unknown = sorted(set(settings) - WindowSettings.__optional_keys__)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments: {', '.join(unknown)}.")
        super().__init__(
            model, tokenizer, max_length=settings.get("max_length", 512),
            query_instruction=settings.get("query_instruction"), document_instruction=settings.get("document_instruction"),
            use_fp16=settings.get("use_fp16", False),
        )
        self.window_overlap = settings.get("window_overlap", DEFAULT_WINDOW_OVERLAP)
        check_int(self.window_overlap, "window_overlap", 0)

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def _check_checkpoint(cls, checkpoint: Checkpoint) -> None:
        check_ranker_folder(checkpoint, cls.ranker_kind)

    @classmethod
    def _from_loaded(
        cls, checkpoint: Checkpoint, loaded: LoadedModel, options: dict[str, Any], *, length_cap: int, **extra: Any
    ) -> Self:
        """A ranker of ``loaded``, with the settings every kind has (``options``, else saved, else defaults:
        the model's length up to ``length_cap``) and the kind's own ``extra`` constructor arguments."""
        defaults = {"max_length": default_max_length(checkpoint.config, loaded.tokenizer, length_cap),
                    "window_overlap": DEFAULT_WINDOW_OVERLAP, "query_instruction": None, "document_instruction": None}
        settings = {name: checkpoint.setting(name, options.get(name), defaults[name]) for name in _SHARED_SETTINGS}
        ranker = cls(loaded.model, loaded.tokenizer, use_fp16=loaded.half, **settings, **extra)
        return ranker.train(loaded.training)

    def settings(self) -> dict[str, Any]:
        shared = {name: getattr(self, name) for name in _SHARED_SETTINGS}
        return {"kind": self.checkpoint_kind, "ranker_kind": self.ranker_kind.value, **shared}

    # ------------------------------------------------------------------ tokens
    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids without special tokens. ``verbose=False``: long documents are windowed, not an error."""
        if not texts:
            return []
        return self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]

    def _document_frame(self) -> tuple[list[int], list[int]]:
        """Token ids of the document instruction before and after the document text."""
        instruction = self.document_instruction or ""
        head, placeholder, tail = instruction.partition("{}")
        if not placeholder:
            head, tail = instruction, ""
        return (self._ids([head])[0] if head else []), (self._ids([tail])[0] if tail else [])

    def _query_text(self, query: str) -> str:
        return apply_instruction(self.query_instruction, query)

    def _query_limit(self) -> int:
        """Most query tokens kept (instruction included). Subclasses where the query shares the window keep half."""
        return self.max_length // 2

    def _fixed_tokens(self, query_ids: list[int]) -> int:
        """Tokens of a window that are not the document text: special tokens, prompt, query, instruction."""
        raise NotImplementedError

    def _window_item(self, query_ids: list[int], window: list[int]) -> Any:
        """The model input for one (query, document window): what :meth:`_score_items` takes."""
        raise NotImplementedError

    def _item_length(self, item: Any) -> int:
        raise NotImplementedError

    def _score_items(self, items: list[Any]) -> torch.Tensor:
        """Score a batch of window items: (n,) float32 on the CPU."""
        raise NotImplementedError

    def _pair_windows(self, pairs: Sequence[tuple[str, str]]) -> list[list[Any]]:
        """Every pair's window items, in pair order."""
        queries = sorted({q for q, _ in pairs})
        query_ids = dict(zip(queries, self._ids([self._query_text(q) for q in queries]), strict=True))
        doc_ids = self._ids([d for _, d in pairs])
        head, tail = self._document_frame()
        limit = self._query_limit()
        truncated = [q for q in queries if len(query_ids[q]) > limit]
        if truncated:
            warnings.warn(
                f"{len(truncated)} quer{'y' if len(truncated) == 1 else 'ies'} longer than {limit} tokens "
                f"{'was' if len(truncated) == 1 else 'were'} truncated to leave room for the document "
                f"(max_length={self.max_length}).",
                stacklevel=4,
            )
        out: list[list[Any]] = []
        for (query, _), ids in zip(pairs, doc_ids, strict=True):
            q_ids = query_ids[query][:limit]
            budget = self.max_length - self._fixed_tokens(q_ids) - len(head) - len(tail)
            if budget < 1:
                raise ValueError(
                    f"max_length={self.max_length} leaves no room for the document: the query, prompt and "
                    f"special tokens take {self.max_length - budget} tokens. Raise max_length or shorten the "
                    "instructions."
                )
            overlap = min(self.window_overlap, budget // 2)
            windows = split_into_windows(ids, budget, overlap)
            out.append([self._window_item(q_ids, head + w + tail) for w in windows])
        return out

    # ------------------------------------------------------------------ scoring
    @torch.inference_mode()
    def compute_score(
        self,
        sentence_pairs: Sequence[tuple[str, str]] | tuple[str, str],
        batch_size: int = 16,
        **kwargs: Any,
    ) -> list[float] | float:
        """Score (query, document) pairs; higher means more relevant.

        A single ``(query, document)`` tuple gives a float, a list of pairs a list of floats. Windows of
        all pairs are batched together, longest first; a pair's score is its best window's score.
        """
        if kwargs:
            raise TypeError(f"compute_score() got unexpected keyword arguments: {', '.join(sorted(kwargs))}.")
        check_int(batch_size, "batch_size", 1)
        pairs, single = check_pairs(sentence_pairs)
        if not pairs:
            return []
        windows = self._pair_windows(pairs)
        items = [item for pair_items in windows for item in pair_items]
        owner = [p for p, pair_items in enumerate(windows) for _ in pair_items]
        scores = torch.empty(len(items), dtype=torch.float32)
        with eval_mode(self):
            for chunk in longest_first([self._item_length(item) for item in items], batch_size):
                scores[chunk] = self._score_items([items[i] for i in chunk])  # (b,)
        best = torch.full((len(pairs),), float("-inf"))
        best = best.scatter_reduce(0, torch.tensor(owner), scores, reduce="amax")  # (P,)
        values = [float(s) for s in best]
        return values[0] if single else values


class PairScoringRanker(WindowedRanker):
    """A kind that reads the query and a document window as one sequence, scored by :meth:`forward`: the
    cross-encoder and the LLM ranker. A subclass says how window items are padded into features
    (``_collate``) and how features become scores (``forward``)."""

    def _collate(self, items: Sequence[Any]) -> BatchEncoding:
        raise NotImplementedError

    def tokenize_pairs(self, sentence_pairs: Sequence[tuple[str, str]]) -> BatchEncoding:
        """Tokenize pairs for training: instructions, prompt and special tokens, the document cut to its first
        window. The same layout :meth:`compute_score` uses, so a model trained on these features scores alike.
        """
        pairs, _ = check_pairs(sentence_pairs)
        return self._collate([windows[0] for windows in self._pair_windows(pairs)])

    def _score_items(self, items: list[Any]) -> torch.Tensor:
        features = self._collate(items).to(self.device)
        return self.forward(**features).float().cpu()  # (b,)

"""The contract every reranker kind implements: score (query, document) pairs, rerank a list.

A pair's score depends only on that pair: not on the other pairs in its batch, not on padding. Documents
longer than the model's window are cut into overlapping windows and scored by their best window.

This module holds what the kinds share:

- :class:`RerankResult` and :class:`BaseRanker` (``compute_score`` / ``rerank``), the public contract;
- :func:`split_into_windows`, the one place where a long document is cut into overlapping token windows;
- :class:`WindowedRanker`, which validates the input, tokenizes queries and documents once, cuts every
  document into windows that leave room for the query and the special tokens, scores all windows in
  length-sorted batches and keeps each pair's best window. A kind only says how one window becomes model
  input (``_window_item``) and how a batch of those is scored (``_score_items``).

It does not load or save models: see :mod:`retrievers.rerankers.common` and the kinds' modules.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from retrievers.instructions import apply_instruction, validate_instruction

__all__ = ["BaseRanker", "RerankResult", "WindowedRanker", "check_pairs", "pad_batch", "split_into_windows"]


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
        if isinstance(documents, str):
            raise TypeError("documents must be a list of strings, got a single string; wrap it in a list.")
        documents = list(documents)
        if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int)):
            raise TypeError(f"top_n must be an integer >= 0 or None; got {top_n!r}.")
        if top_n is not None and top_n < 0:
            raise ValueError(f"top_n must be >= 0 or None; got {top_n}.")
        for i, doc in enumerate(documents):
            if not isinstance(doc, str):
                raise TypeError(f"documents[{i}] must be a string, got {type(doc).__name__}.")
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
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1; got {size!r}.")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ValueError(f"overlap must be an integer with 0 <= overlap < size ({size}); got {overlap!r}.")
    ids = list(ids)
    if len(ids) <= size:
        return [ids]
    stride = size - overlap
    starts = [*range(0, len(ids) - size, stride), len(ids) - size]
    return [ids[s : s + size] for s in starts]


def check_pairs(sentence_pairs: Any) -> tuple[list[tuple[str, str]], bool]:
    """Validate ``compute_score`` input: one ``(query, document)`` pair or a sequence of them.

    Returns the pairs as a list and whether a single pair was given.
    """
    if isinstance(sentence_pairs, str):
        raise TypeError("sentence_pairs must be a (query, document) pair or a list of pairs, got a single string.")
    single = (
        isinstance(sentence_pairs, tuple | list)
        and len(sentence_pairs) == 2
        and all(isinstance(x, str) for x in sentence_pairs)
    )
    raw = [sentence_pairs] if single else list(sentence_pairs)
    pairs: list[tuple[str, str]] = []
    for i, pair in enumerate(raw):
        if isinstance(pair, str) or not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(f"sentence_pairs[{i}] must be a (query, document) pair of strings; got {pair!r:.80}.")
        for j, side in enumerate(("query", "document")):
            if not isinstance(pair[j], str):
                raise TypeError(
                    f"sentence_pairs[{i}][{j}] (the {side}) must be a string, got {type(pair[j]).__name__}."
                )
        pairs.append((pair[0], pair[1]))
    return pairs, single


def _check_window_settings(max_length: Any, window_overlap: Any) -> None:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 4:
        raise ValueError(f"max_length must be an integer >= 4; got {max_length!r}.")
    if isinstance(window_overlap, bool) or not isinstance(window_overlap, int) or window_overlap < 0:
        raise ValueError(f"window_overlap must be an integer >= 0; got {window_overlap!r}.")


class WindowedRanker(nn.Module, BaseRanker):
    """Shared scoring loop: instructions, query truncation, document windows, batching, best window.

    A window's model input is ``frame + query + document window``, laid out by the subclass in
    :meth:`_window_item`. The document's budget is ``max_length`` minus everything else in the window
    (:meth:`_fixed_tokens`); consecutive windows overlap by ``window_overlap`` tokens, or by half the budget
    when the budget is small. A query longer than :meth:`_query_limit` tokens is truncated, with a warning.

    Instructions are prefixes (or ``{}`` templates, see :mod:`retrievers.instructions`): the query
    instruction is applied to the query text; the document instruction's text before and after ``{}`` is
    tokenized on its own and repeated in every window, so no window loses it.
    """

    ranker_kind: str = ""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int,
        window_overlap: int,
        query_instruction: str | None = None,
        document_instruction: str | None = None,
        use_fp16: bool = False,
    ) -> None:
        nn.Module.__init__(self)
        _check_window_settings(max_length, window_overlap)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.window_overlap = window_overlap
        self.query_instruction = validate_instruction(query_instruction, "query_instruction")
        self.document_instruction = validate_instruction(document_instruction, "document_instruction")
        self._fp16 = use_fp16

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
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}.")
        pairs, single = check_pairs(sentence_pairs)
        if not pairs:
            return []
        windows = self._pair_windows(pairs)
        items = [item for pair_items in windows for item in pair_items]
        owner = [p for p, pair_items in enumerate(windows) for _ in pair_items]
        order = sorted(range(len(items)), key=lambda i: -self._item_length(items[i]))
        scores = torch.empty(len(items), dtype=torch.float32)
        was_training = self.training
        self.eval()
        try:
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                scores[chunk] = self._score_items([items[i] for i in chunk])  # (b,)
        finally:
            nn.Module.train(self, was_training)
        best = torch.full((len(pairs),), float("-inf"))
        best = best.scatter_reduce(0, torch.tensor(owner), scores, reduce="amax")  # (P,)
        values = [float(s) for s in best]
        return values[0] if single else values

    # ------------------------------------------------------------------ shared plumbing
    def train(self, mode: bool = True) -> WindowedRanker:
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

    def base_settings(self) -> dict[str, Any]:
        return {
            "kind": "ranker",
            "ranker_kind": self.ranker_kind,
            "max_length": self.max_length,
            "window_overlap": self.window_overlap,
            "query_instruction": self.query_instruction,
            "document_instruction": self.document_instruction,
        }


def pad_batch(
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    side: str = "right",
    extra: Sequence[Sequence[int]] | None = None,
    extra_pad: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Pad token id lists into ``input_ids`` (B, T) and ``attention_mask`` (B, T), plus an optional
    parallel sequence (token type ids) padded with ``extra_pad``."""
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right'; got {side!r}.")
    width = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)  # (B, T)
    types = torch.full((len(sequences), width), extra_pad, dtype=torch.long) if extra is not None else None
    for row, seq in enumerate(sequences):
        n = len(seq)
        cols = slice(width - n, width) if side == "left" else slice(0, n)
        ids[row, cols] = torch.tensor(seq, dtype=torch.long)
        mask[row, cols] = 1
        if types is not None and extra is not None:
            types[row, cols] = torch.tensor(extra[row], dtype=torch.long)
    return ids, mask, types

"""ColBERT late interaction: token vectors for the query and the document, scored by MaxSim.

An encoder gives one vector per token (``last_hidden_state``); a linear projection maps it to ``colbert_dim``
and it is L2-normalised. The score of a (query, document) pair is :func:`maxsim`: for every query token, the
best dot product with any document token, averaged over the query tokens (as BAAI/bge-m3 does, so scores
of different queries are on one scale, at most 1). The first token (``[CLS]``) takes no part, on either
side, as in bge-m3; padding never does.

The projection lives in ``colbert_linear.pt`` beside the encoder, in bge-m3's format: a state dict with
``weight`` (dim, hidden) and ``bias`` (dim,). When a checkpoint has none:

- by default the projection is the identity (``colbert_dim`` = hidden size, weight = I, bias = 0), so the
  encoder's own normalised token vectors are compared. This works zero-shot with sentence encoders such as
  the bundled ``minilm``, and is a neutral starting point for fine-tuning;
- with ``colbert_dim`` smaller than the hidden size, a fresh random projection is made (with a warning):
  it needs fine-tuning before its scores mean anything.

``save_pretrained`` always writes ``colbert_linear.pt``, so the folder loads in bge-m3-style code too.

Long documents are scored in overlapping windows (best window wins, like every ranker here), while
:meth:`ColBERT.encode_documents`, meant for indexing, keeps the first ``max_length`` tokens as ColBERT
itself does. Not handled: query augmentation with ``[MASK]`` tokens (original ColBERT), ``[Q]``/``[D]``
marker tokens (use ``query_instruction``/``document_instruction``), PLAID-style indexes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from transformers import AutoModel, BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase

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
from retrievers.pooling import first_token_index
from retrievers.rerankers.base import WindowedRanker, pad_batch
from retrievers.rerankers.common import (
    DEFAULT_WINDOW_OVERLAP,
    SpecialTokens,
    check_model_kwargs,
    check_ranker_folder,
    default_max_length,
    pick,
)
from retrievers.saving import atomic_directory

__all__ = ["COLBERT_LINEAR", "ColBERT", "TokenVectors", "load_colbert_linear", "maxsim", "maxsim_matrix"]

_KIND = "colbert"
COLBERT_LINEAR = "colbert_linear.pt"


class TokenVectors(NamedTuple):
    """A batch of token vectors and which of them take part in MaxSim."""

    vectors: torch.Tensor  # (B, T, D) unit length where mask is 1, zero elsewhere
    mask: torch.Tensor  # (B, T) 1 for scored tokens; 0 for padding and the first ([CLS]) token


def _reduce(sim: torch.Tensor, q_mask: torch.Tensor, d_mask: torch.Tensor) -> torch.Tensor:
    """Masked max over document tokens, masked mean over query tokens.

    sim (..., Tq, Td), q_mask (..., Tq), d_mask (..., Td) -> (...)
    """
    sim = sim.masked_fill(~d_mask.bool().unsqueeze(-2), float("-inf"))  # (..., Tq, Td)
    best = sim.amax(dim=-1)  # (..., Tq)
    best = torch.where(torch.isfinite(best), best, torch.zeros_like(best))  # a document with no tokens scores 0
    q_weight = q_mask.to(best.dtype)  # (..., Tq)
    return (best * q_weight).sum(dim=-1) / q_weight.sum(dim=-1).clamp(min=1)  # (...)


def maxsim(q_vecs: torch.Tensor, q_mask: torch.Tensor, d_vecs: torch.Tensor, d_mask: torch.Tensor) -> torch.Tensor:
    """MaxSim of paired queries and documents, averaged over query tokens.

    ``score[b] = mean over query tokens i (q_mask[b, i] = 1) of max over document tokens j (d_mask[b, j] = 1)
    of <q_vecs[b, i], d_vecs[b, j]>``. A document without tokens scores 0.

    Shapes: q_vecs (B, Tq, D), q_mask (B, Tq), d_vecs (B, Td, D), d_mask (B, Td) -> (B,).

    >>> q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])   # two query tokens
    >>> d = torch.tensor([[[1.0, 0.0], [0.6, 0.8]]])   # two document tokens
    >>> maxsim(q, torch.ones(1, 2), d, torch.ones(1, 2))  # (max(1, 0.6) + max(0, 0.8)) / 2
    tensor([0.9000])
    """
    if q_vecs.ndim != 3 or d_vecs.ndim != 3 or q_vecs.shape[0] != d_vecs.shape[0] or q_vecs.shape[2] != d_vecs.shape[2]:
        raise ValueError(
            f"maxsim expects q_vecs (B, Tq, D) and d_vecs (B, Td, D) with the same B and D; got "
            f"{tuple(q_vecs.shape)} and {tuple(d_vecs.shape)}."
        )
    sim = torch.einsum("bqd,btd->bqt", q_vecs, d_vecs)  # (B, Tq, Td)
    return _reduce(sim, q_mask, d_mask)


def maxsim_matrix(
    q_vecs: torch.Tensor, q_mask: torch.Tensor, d_vecs: torch.Tensor, d_mask: torch.Tensor
) -> torch.Tensor:
    """MaxSim of every query with every document (in-batch negatives, retrieval over a small set).

    Shapes: q_vecs (Q, Tq, D), q_mask (Q, Tq), d_vecs (N, Td, D), d_mask (N, Td) -> (Q, N).
    ``maxsim_matrix(...)[i, j]`` equals ``maxsim`` of query i with document j.
    """
    if q_vecs.ndim != 3 or d_vecs.ndim != 3 or q_vecs.shape[2] != d_vecs.shape[2]:
        raise ValueError(
            f"maxsim_matrix expects q_vecs (Q, Tq, D) and d_vecs (N, Td, D) with the same D; got "
            f"{tuple(q_vecs.shape)} and {tuple(d_vecs.shape)}."
        )
    sim = torch.einsum("qid,njd->qnij", q_vecs, d_vecs)  # (Q, N, Tq, Td)
    return _reduce(sim, q_mask[:, None, :], d_mask[None, :, :])  # (Q, N)


def load_colbert_linear(file: Path, hidden_size: int) -> nn.Linear:
    """Read a bge-m3-style ``colbert_linear.pt`` (state dict: weight (dim, hidden), bias (dim,))."""
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated file, a pickle with objects, ...
        raise ValueError(f"{file} could not be read as a state dict ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(state, dict) or not isinstance(state.get("weight"), torch.Tensor):
        raise ValueError(f"{file} must hold a state dict with a 'weight' tensor (and a 'bias'), as nn.Linear saves it.")
    unexpected = sorted(set(state) - {"weight", "bias"})
    if unexpected:
        raise ValueError(f"{file} holds unexpected keys {unexpected}; expected only 'weight' and 'bias'.")
    weight, bias = state["weight"], state.get("bias")
    if weight.ndim != 2 or weight.shape[1] != hidden_size:
        raise ValueError(
            f"{file}: weight has shape {tuple(weight.shape)}, expected (dim, {hidden_size}) for this encoder's "
            f"hidden size {hidden_size}. The projection was saved for another encoder."
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"{file}: bias has shape {tuple(bias.shape)}, expected ({weight.shape[0]},) to match weight {tuple(weight.shape)}.")
    linear = nn.Linear(hidden_size, weight.shape[0], bias=bias is not None)
    linear.load_state_dict({k: v.float() for k, v in state.items()})
    return linear


def _identity_linear(hidden_size: int) -> nn.Linear:
    linear = nn.Linear(hidden_size, hidden_size)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(hidden_size))
        linear.bias.zero_()
    return linear


class ColBERT(WindowedRanker):
    """Late-interaction ranker: per-token vectors and MaxSim.

    Use :meth:`from_pretrained` (or ``AutoModelForRanking.from_pretrained(name, colbert=True)``).

    Example::

        ranker = ColBERT.from_pretrained("minilm")                # identity projection, zero-shot
        ranker.rerank("capital of France?", docs, top_n=2)
        q = ranker.encode_queries(["capital of France?"])[0]      # (Tq, D) unit vectors
        d = ranker.encode_documents(docs)                          # list of (Td_i, D)
        (q @ d[0].T).max(dim=1).values.mean()                      # = the pair's MaxSim score
    """

    ranker_kind = _KIND

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        colbert_linear: nn.Linear,
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
        hidden = int(model.config.hidden_size)
        if colbert_linear.in_features != hidden:
            raise ValueError(f"colbert_linear takes {colbert_linear.in_features} features; the encoder gives {hidden}.")
        self.model = model
        self.colbert_linear = colbert_linear
        self.special = SpecialTokens.probe(tokenizer, pair=False)
        # bge-m3 drops the first token's vector; only do so when the tokenizer puts a special token there.
        self.skip_first_token = len(self.special.prefix) > 0

    @property
    def colbert_dim(self) -> int:
        return int(self.colbert_linear.out_features)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str | Path,
        colbert_dim: int | None = None,
        max_length: int | None = None,
        query_instruction: str | None = None,
        document_instruction: str | None = None,
        use_fp16: bool = False,
        device: str | torch.device | None = None,
        window_overlap: int | None = None,
        revision: str | None = None,
        **model_kwargs: Any,
    ) -> ColBERT:
        """Load an encoder and its ColBERT projection (see the module docstring for a folder without one).

        ``colbert_dim`` only chooses the size of a new projection; with ``colbert_linear.pt`` present it must
        match the file or be left out.
        """
        check_model_kwargs(model_kwargs, cls.__name__, _KIND)
        resolved = resolve_model(model_name_or_path, revision=revision)
        saved = load_framework_config(resolved.path)
        check_ranker_folder(resolved.path, saved, _KIND)
        return cls._load(resolved, saved, colbert_dim=colbert_dim, max_length=max_length,
                         query_instruction=query_instruction, document_instruction=document_instruction,
                         use_fp16=use_fp16, device=device, window_overlap=window_overlap, **model_kwargs)

    @classmethod
    def _load(
        cls,
        resolved: ResolvedModel,
        saved: dict[str, Any],
        *,
        colbert_dim: int | None = None,
        max_length: int | None,
        query_instruction: str | None,
        document_instruction: str | None,
        use_fp16: bool,
        device: str | torch.device | None,
        window_overlap: int | None,
        **model_kwargs: Any,
    ) -> ColBERT:
        if colbert_dim is not None and (isinstance(colbert_dim, bool) or not isinstance(colbert_dim, int) or colbert_dim < 1):
            raise ValueError(f"colbert_dim must be an integer >= 1 or None; got {colbert_dim!r}.")
        config = load_config(resolved)
        if is_decoder_config(config):
            raise ValueError(
                f"{resolved.path} is a causal language model ({config.model_type}); ColBERT needs an encoder "
                "(BERT, XLM-R, ...). For an LLM reranker pass causal_lm=True."
            )
        hidden = int(config.hidden_size)
        file = resolved.path / COLBERT_LINEAR
        if file.is_file():
            linear = load_colbert_linear(file, hidden)
            if colbert_dim is not None and colbert_dim != linear.out_features:
                raise ValueError(
                    f"colbert_dim={colbert_dim} does not match {file}, whose weight has shape "
                    f"{tuple(linear.weight.shape)} (dim {linear.out_features}); leave colbert_dim out."
                )
            if saved.get("colbert_dim") not in (None, linear.out_features):
                raise ValueError(
                    f"{file} has dim {linear.out_features} but retrievers_config.json says colbert_dim="
                    f"{saved['colbert_dim']}; the folder is inconsistent."
                )
        elif saved.get("colbert_dim") is not None:
            raise ValueError(
                f"{resolved.path} was saved as a ColBERT ranker (colbert_dim={saved['colbert_dim']}) but "
                f"{COLBERT_LINEAR} is missing; restore it."
            )
        elif colbert_dim is None or colbert_dim == hidden:
            linear = _identity_linear(hidden)
        else:
            warnings.warn(
                f"{resolved.path} has no {COLBERT_LINEAR}: a new random projection {hidden} -> {colbert_dim} is "
                "initialised. Fine-tune it before ranking with it, or leave colbert_dim out to compare the "
                "encoder's own token vectors.",
                stacklevel=3,
            )
            linear = nn.Linear(hidden, colbert_dim)
        dev = pick_device(device)
        half = fp16_allowed(use_fp16, dev, training=False, owner="ColBERT")
        dtype = torch.float16 if half else torch.float32
        tokenizer = load_tokenizer(resolved)
        model_kwargs.setdefault("dtype", dtype)
        model = load_weights(AutoModel, resolved, **model_kwargs)
        model.to(dev)
        linear.to(dev, dtype=dtype)
        ranker = cls(
            model,
            tokenizer,
            linear,
            max_length=pick("max_length", max_length, saved, default_max_length(config, tokenizer, 512)),
            window_overlap=pick("window_overlap", window_overlap, saved, DEFAULT_WINDOW_OVERLAP),
            query_instruction=pick("query_instruction", query_instruction, saved, None),
            document_instruction=pick("document_instruction", document_instruction, saved, None),
            use_fp16=half,
        )
        ranker.eval()
        return ranker

    # ------------------------------------------------------------------ tokens -> vectors
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> TokenVectors:
        """Differentiable token vectors for a batch of (B, T) features; score them with :func:`maxsim`."""
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state  # (B, T, H)
        vectors = self.colbert_linear(hidden.to(self.colbert_linear.weight.dtype))  # (B, T, D)
        vectors = nn.functional.normalize(vectors, p=2, dim=-1)  # (B, T, D)
        mask = attention_mask.clone()  # (B, T)
        if self.skip_first_token:
            rows = torch.arange(mask.shape[0], device=mask.device)
            mask[rows, first_token_index(attention_mask)] = 0
        vectors = vectors * mask.unsqueeze(-1).to(vectors.dtype)  # (B, T, D)
        return TokenVectors(vectors, mask)

    # ------------------------------------------------------------------ texts -> tokens
    def _fixed_tokens(self, query_ids: list[int]) -> int:
        return self.special.count  # the query is encoded on its own, not in the document's window

    def _query_limit(self) -> int:
        return self.max_length - self.special.count

    def _window_item(self, query_ids: list[int], window: list[int]) -> tuple[tuple[int, ...], list[int]]:
        return tuple(self.special.build(query_ids)[0]), self.special.build(window)[0]

    def _item_length(self, item: tuple[tuple[int, ...], list[int]]) -> int:
        return len(item[1])

    def _query_sequences(self, queries: Sequence[str]) -> list[list[int]]:
        ids = self._ids([self._query_text(q) for q in queries])
        return [self.special.build(q[: self._query_limit()])[0] for q in ids]

    def _document_sequences(self, documents: Sequence[str]) -> list[list[int]]:
        """Documents cut to their first window (instruction and special tokens included)."""
        head, tail = self._document_frame()
        budget = self.max_length - self.special.count - len(head) - len(tail)
        if budget < 1:
            raise ValueError(f"max_length={self.max_length} leaves no room for the document after its instruction.")
        return [self.special.build(head + ids[:budget] + tail)[0] for ids in self._ids(list(documents))]

    def tokenize(self, texts: Sequence[str], is_query: bool = False) -> BatchEncoding:
        """Tokenize queries or documents for training (documents cut to ``max_length``)."""
        texts = _check_texts(texts)
        seqs = self._query_sequences(texts) if is_query else self._document_sequences(texts)
        ids, mask, _ = pad_batch(seqs, self.tokenizer.pad_token_id or 0, "right")
        return BatchEncoding({"input_ids": ids, "attention_mask": mask})  # (B, T) each

    # ------------------------------------------------------------------ encoding and scoring
    def _vectors(self, sequences: list[list[int]]) -> TokenVectors:
        ids, mask, _ = pad_batch(sequences, self.tokenizer.pad_token_id or 0, "right")
        return self.forward(ids.to(self.device), mask.to(self.device))

    @torch.inference_mode()
    def _encode(self, sequences: list[list[int]], batch_size: int) -> list[torch.Tensor]:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}.")
        out: list[torch.Tensor] = [torch.empty(0)] * len(sequences)
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        was_training = self.training
        self.eval()
        try:
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                tv = self._vectors([sequences[i] for i in chunk])
                for row, i in enumerate(chunk):
                    out[i] = tv.vectors[row][tv.mask[row].bool()].float().cpu()  # (T_i, D)
        finally:
            nn.Module.train(self, was_training)
        return out

    def encode_queries(self, queries: str | Sequence[str], batch_size: int = 32) -> list[torch.Tensor] | torch.Tensor:
        """Token vectors of each query, (T_i, D) unit rows without [CLS] and padding. A string gives one tensor."""
        single = isinstance(queries, str)
        out = self._encode(self._query_sequences(_check_texts(queries)), batch_size)
        return out[0] if single else out

    def encode_documents(self, documents: str | Sequence[str], batch_size: int = 32) -> list[torch.Tensor] | torch.Tensor:
        """Token vectors of each document's first ``max_length`` tokens, (T_i, D) unit rows, for indexing."""
        single = isinstance(documents, str)
        out = self._encode(self._document_sequences(_check_texts(documents)), batch_size)
        return out[0] if single else out

    def _score_items(self, items: list[tuple[tuple[int, ...], list[int]]]) -> torch.Tensor:
        queries = list(dict.fromkeys(q for q, _ in items))  # each distinct query encoded once per batch
        where = {q: i for i, q in enumerate(queries)}
        q = self._vectors([list(x) for x in queries])  # (U, Tq, D)
        d = self._vectors([doc for _, doc in items])  # (b, Td, D)
        pick_rows = torch.tensor([where[x] for x, _ in items], device=q.vectors.device)  # (b,)
        scores = maxsim(q.vectors[pick_rows].float(), q.mask[pick_rows], d.vectors.float(), d.mask)  # (b,)
        return scores.cpu()

    # ------------------------------------------------------------------ saving
    def settings(self) -> dict[str, Any]:
        return {**self.base_settings(), "colbert_dim": self.colbert_dim}

    def save_pretrained(self, save_directory: str | Path) -> None:
        """Write the encoder, tokenizer, ``colbert_linear.pt`` and settings; ``from_pretrained`` restores all."""
        with atomic_directory(save_directory) as staging:
            self.model.save_pretrained(str(staging))
            self.tokenizer.save_pretrained(str(staging))
            state = {k: v.detach().float().cpu() for k, v in self.colbert_linear.state_dict().items()}
            torch.save(state, staging / COLBERT_LINEAR)
            save_framework_config(staging, self.settings())

    def __repr__(self) -> str:
        return (f"ColBERT(colbert_dim={self.colbert_dim}, max_length={self.max_length}, "
                f"window_overlap={self.window_overlap}, query_instruction={self.query_instruction!r})")


def _check_texts(texts: str | Sequence[str]) -> list[str]:
    out = [texts] if isinstance(texts, str) else list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a string, got {type(t).__name__}.")
    return out

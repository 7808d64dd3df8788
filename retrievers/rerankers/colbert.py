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

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Unpack

import torch
from torch import nn
from transformers import AutoModel, BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase

from retrievers.loading import Checkpoint, split_options
from retrievers.names import RerankerKind
from retrievers.padding import longest_first, pad_features
from retrievers.pooling import first_token_index
from retrievers.pretrained import eval_mode
from retrievers.rerankers.base import RankerOptions, WindowedRanker, WindowSettings
from retrievers.rerankers.common import SpecialTokens, check_model_kwargs
from retrievers.validation import check_int, check_texts

__all__ = [
    "COLBERT_LINEAR",
    "ColBERT",
    "ColbertOptions",
    "TokenVectors",
    "load_colbert_linear",
    "maxsim",
    "maxsim_matrix",
]

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


class ColbertOptions(RankerOptions, total=False):
    """Keyword arguments of :meth:`ColBERT.from_pretrained`, beyond those of every ranker."""

    colbert_dim: int | None
    """Size of a new projection (a folder without ``colbert_linear.pt``); must match the file otherwise."""


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

    ranker_kind = RerankerKind.COLBERT

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, colbert_linear: nn.Linear,
        **settings: Unpack[WindowSettings],
    ) -> None:
        hidden = int(model.config.hidden_size)
        if colbert_linear.in_features != hidden:
            raise ValueError(f"colbert_linear takes {colbert_linear.in_features} features; the encoder gives {hidden}.")
        super().__init__(model, tokenizer, **settings)
        self.colbert_linear = colbert_linear
        self.special = SpecialTokens.probe(tokenizer, pair=False)
        # bge-m3 drops the first token's vector; only do so when the tokenizer puts a special token there.
        self.skip_first_token = len(self.special.prefix) > 0

    @property
    def colbert_dim(self) -> int:
        return int(self.colbert_linear.out_features)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, model_name_or_path: str | os.PathLike[str], **options: Unpack[ColbertOptions]) -> ColBERT:
        """Load an encoder and its ColBERT projection (see the module docstring for a folder without one).

        ``colbert_dim`` only chooses the size of a new projection; with ``colbert_linear.pt`` present it must
        match the file or be left out. :class:`ColbertOptions` lists the keywords.
        """
        return super().from_pretrained(model_name_or_path, **options)

    @classmethod
    def _load(cls, checkpoint: Checkpoint, options: dict[str, Any]) -> ColBERT:
        opts, model_kwargs = split_options(options, ColbertOptions)
        check_model_kwargs(model_kwargs, cls.__name__, cls.ranker_kind)
        colbert_dim = opts.get("colbert_dim")
        check_int(colbert_dim, "colbert_dim", 1, allow_none=True)
        config, path, saved = checkpoint.config, checkpoint.resolved.path, checkpoint.saved
        if checkpoint.is_decoder:
            raise ValueError(
                f"{path} is a causal language model ({config.model_type}); ColBERT needs an encoder "
                "(BERT, XLM-R, ...). For an LLM reranker pass causal_lm=True."
            )
        hidden = int(config.hidden_size)
        file = path / COLBERT_LINEAR
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
                f"{path} was saved as a ColBERT ranker (colbert_dim={saved['colbert_dim']}) but "
                f"{COLBERT_LINEAR} is missing; restore it."
            )
        elif colbert_dim is None or colbert_dim == hidden:
            linear = _identity_linear(hidden)
        else:
            warnings.warn(
                f"{path} has no {COLBERT_LINEAR}: a new random projection {hidden} -> {colbert_dim} is "
                "initialised. Fine-tune it before ranking with it, or leave colbert_dim out to compare the "
                "encoder's own token vectors.",
                stacklevel=4,
            )
            linear = nn.Linear(hidden, colbert_dim)
        loaded = checkpoint.load(AutoModel, opts, owner=cls.__name__, model_kwargs=model_kwargs)
        linear.to(loaded.model.device, dtype=torch.float16 if loaded.half else torch.float32)
        return cls._from_loaded(checkpoint, loaded, opts, length_cap=512, colbert_linear=linear)

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
        texts = check_texts(texts)
        seqs = self._query_sequences(texts) if is_query else self._document_sequences(texts)
        return pad_features(seqs, self.tokenizer, "right")  # (B, T) each

    # ------------------------------------------------------------------ encoding and scoring
    def _vectors(self, sequences: list[list[int]]) -> TokenVectors:
        features = pad_features(sequences, self.tokenizer, "right").to(self.device)
        return self.forward(features["input_ids"], features["attention_mask"])

    @torch.inference_mode()
    def _encode(self, sequences: list[list[int]], batch_size: int) -> list[torch.Tensor]:
        check_int(batch_size, "batch_size", 1)
        out: list[torch.Tensor] = [torch.empty(0)] * len(sequences)
        with eval_mode(self):
            for chunk in longest_first([len(seq) for seq in sequences], batch_size):
                tv = self._vectors([sequences[i] for i in chunk])
                for row, i in enumerate(chunk):
                    out[i] = tv.vectors[row][tv.mask[row].bool()].float().cpu()  # (T_i, D)
        return out

    def encode_queries(self, queries: str | Sequence[str], batch_size: int = 32) -> list[torch.Tensor] | torch.Tensor:
        """Token vectors of each query, (T_i, D) unit rows without [CLS] and padding. A string gives one tensor."""
        single = isinstance(queries, str)
        out = self._encode(self._query_sequences(check_texts(queries)), batch_size)
        return out[0] if single else out

    def encode_documents(self, documents: str | Sequence[str], batch_size: int = 32) -> list[torch.Tensor] | torch.Tensor:
        """Token vectors of each document's first ``max_length`` tokens, (T_i, D) unit rows, for indexing."""
        single = isinstance(documents, str)
        out = self._encode(self._document_sequences(check_texts(documents)), batch_size)
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
        return {**super().settings(), "colbert_dim": self.colbert_dim}

    def _save_files(self, folder: Path, *, adapters_only: bool) -> None:
        """``colbert_linear.pt`` in bge-m3's format (a float32 state dict), beside the encoder."""
        state = {k: v.detach().float().cpu() for k, v in self.colbert_linear.state_dict().items()}
        torch.save(state, folder / COLBERT_LINEAR)

    def __repr__(self) -> str:
        return (f"ColBERT(colbert_dim={self.colbert_dim}, max_length={self.max_length}, "
                f"window_overlap={self.window_overlap}, query_instruction={self.query_instruction!r})")


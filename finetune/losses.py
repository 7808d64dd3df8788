"""Losses for embedders and rerankers: plain functions on score tensors, plus modules that gather across devices.

| loss | inputs | used for |
| --- | --- | --- |
| :func:`info_nce` / :class:`InBatchNegativesLoss` | query (B, H), documents (B*G, H), positive at ``i*G`` | embedders on pairs (G=1) and triplets |
| :class:`ColbertInBatchLoss` | query and document token vectors with masks | ColBERT on pairs and triplets |
| :func:`cosent` / :class:`CoSENTLoss` | scores (B,), labels (B,) in [0, 1] | embedders and ColBERT on scored pairs |
| :func:`listwise_ce` | scores (B, G), positive first | cross-encoder and LLM rankers on groups |
| :func:`pointwise_bce` | logits (B,), labels (B,) | cross-encoder and LLM rankers on scored pairs |

The in-batch losses gather documents from every process (:mod:`finetune.distributed`), so under
``torchrun`` each query is contrasted with the whole global batch and the gradients equal a one-process run
on that batch. Scores are computed in float32 whatever the autocast dtype. Documents whose text equals a
query's positive (``doc_keys``) are not counted as its negatives.

Example::

    loss = InBatchNegativesLoss(temperature=0.05)
    value = loss(model(**q_features), model(**d_features))   # pairs: document i answers query i
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from finetune.distributed import gather_no_grad, gather_with_grad
from retrievers.rerankers.colbert import TokenVectors, maxsim, maxsim_matrix

__all__ = [
    "CoSENTLoss",
    "ColbertInBatchLoss",
    "InBatchNegativesLoss",
    "cosent",
    "info_nce",
    "listwise_ce",
    "pointwise_bce",
]


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 < temperature <= 10:
        raise ValueError(f"temperature must be a number in (0, 10]; got {temperature!r} (0.05 is a good start).")
    return float(temperature)


def info_nce(
    scores: torch.Tensor,
    positive_index: torch.Tensor,
    temperature: float,
    doc_keys: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of each query's positive among all documents: ``-log softmax(scores / T)[positive]``.

    scores (B, N) similarities, positive_index (B,) column of each row's positive, doc_keys (N,) optional
    ids of the documents' texts: a column with the same key as the row's positive (a duplicate) is
    masked out instead of acting as a negative. Returns the mean over rows.

    >>> info_nce(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), temperature=1.0)  # -log(e / (e + 1))
    tensor(0.3133)
    """
    logits = scores.float() / _check_temperature(temperature)  # (B, N)
    if doc_keys is not None:
        rows = torch.arange(scores.shape[0], device=scores.device)
        duplicate = doc_keys[None, :] == doc_keys[positive_index][:, None]  # (B, N)
        duplicate[rows, positive_index] = False
        logits = logits.masked_fill(duplicate, float("-inf"))
    return F.cross_entropy(logits, positive_index)


def cosent(scores: torch.Tensor, labels: torch.Tensor, scale: float) -> torch.Tensor:
    """CoSENT: ``log(1 + sum over pairs (i, j) with labels[i] > labels[j] of exp(scale * (s_j - s_i)))``.

    Only the order of the scores matters (a pair with the higher label should score higher), which suits
    graded labels. scores (B,), labels (B,) -> scalar. A batch whose labels are all equal gives 0.

    >>> cosent(torch.tensor([0.2, 0.5]), torch.tensor([1.0, 0.0]), scale=1.0)  # log(1 + e^(0.5 - 0.2))
    tensor(0.8544)
    """
    diffs = scale * (scores.float()[None, :] - scores.float()[:, None])  # (B, B): [i, j] = s_j - s_i
    wrong_order = labels[:, None] > labels[None, :]  # (B, B): i should beat j
    diffs = diffs.masked_fill(~wrong_order, float("-inf")).flatten()
    return torch.logsumexp(torch.cat([diffs.new_zeros(1), diffs]), dim=0)


def listwise_ce(scores: torch.Tensor) -> torch.Tensor:
    """Each row is one query's group, positive first: ``-log softmax(row)[0]`` averaged. scores (B, G)."""
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"listwise_ce expects scores (B, G) with G >= 2; got {tuple(scores.shape)}.")
    target = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    return F.cross_entropy(scores.float(), target)


def pointwise_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of ``sigmoid(logit)`` against labels in [0, 1]. logits (B,), labels (B,)."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


class InBatchNegativesLoss(nn.Module):
    """InfoNCE over cosine similarities, with every document of the (global) batch as a negative.

    Inputs: ``queries`` (B, H) and ``documents`` (B*G, H) embeddings (not necessarily normalised), where
    documents ``i*G .. i*G+G-1`` belong to query i and the first of them is its positive (pairs: G=1;
    triplets: positive then G-1 hard negatives). ``doc_keys`` (B*G,) are optional ids of the document texts.

    ``temperature`` divides the cosine similarities (0.05 means logits in [-20, 20]). With
    ``gather_across_devices`` the documents of all processes are negatives for every query. ``symmetric``
    adds the reverse direction (each positive document picks its query among all queries) and averages.
    """

    def __init__(self, temperature: float = 0.05, gather_across_devices: bool = True, symmetric: bool = False) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)
        self.gather_across_devices = bool(gather_across_devices)
        self.symmetric = bool(symmetric)

    def forward(
        self, queries: torch.Tensor, documents: torch.Tensor, doc_keys: torch.Tensor | None = None
    ) -> torch.Tensor:
        if documents.shape[0] % queries.shape[0]:
            raise ValueError(
                f"documents ({documents.shape[0]}) must be a whole number of groups per query ({queries.shape[0]})."
            )
        group = documents.shape[0] // queries.shape[0]
        q = F.normalize(queries.float(), dim=-1)  # (B, H)
        d_local = F.normalize(documents.float(), dim=-1)  # (B*G, H)
        d, offset, all_keys = d_local, 0, doc_keys
        if self.gather_across_devices:
            d, offset = gather_with_grad(d_local)  # (N, H), N = sum of B*G over processes
            if doc_keys is not None:
                all_keys, _ = gather_no_grad(doc_keys)
        rows = torch.arange(q.shape[0], device=q.device)  # (B,)
        loss = info_nce(q @ d.T, offset + rows * group, self.temperature, all_keys)
        if not self.symmetric:
            return loss
        q_all, q_offset = gather_with_grad(q) if self.gather_across_devices else (q, 0)  # (M, H)
        reverse = info_nce(d_local[::group] @ q_all.T, q_offset + rows, self.temperature)  # positives pick queries
        return (loss + reverse) / 2


class ColbertInBatchLoss(nn.Module):
    """InfoNCE over MaxSim scores: each query against every document of the (global) batch.

    Inputs: query and document :class:`~retrievers.rerankers.colbert.TokenVectors` from ``ColBERT.forward``
    (vectors (B, Tq, D) / (B*G, Td, D) with masks), laid out as in :class:`InBatchNegativesLoss`.
    MaxSim lies in [-1, 1]; ``temperature`` scales it as for cosine similarities.
    """

    def __init__(self, temperature: float = 0.05, gather_across_devices: bool = True) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)
        self.gather_across_devices = bool(gather_across_devices)

    def forward(self, queries: TokenVectors, documents: TokenVectors, doc_keys: torch.Tensor | None = None) -> torch.Tensor:
        n_queries = queries.vectors.shape[0]
        if documents.vectors.shape[0] % n_queries:
            raise ValueError(f"documents ({documents.vectors.shape[0]}) must be a whole number of groups per query ({n_queries}).")
        group = documents.vectors.shape[0] // n_queries
        d_vecs, d_mask = documents.vectors.float(), documents.mask
        offset = 0
        if self.gather_across_devices:
            d_vecs, offset = gather_with_grad(d_vecs)  # (N, Td_max, D), padded rows are zero
            d_mask, _ = gather_no_grad(d_mask)  # (N, Td_max), padding 0
            if doc_keys is not None:
                doc_keys, _ = gather_no_grad(doc_keys)
        scores = maxsim_matrix(queries.vectors.float(), queries.mask, d_vecs, d_mask)  # (B, N)
        positive = offset + torch.arange(n_queries, device=scores.device) * group  # (B,)
        return info_nce(scores, positive, self.temperature, doc_keys)


class CoSENTLoss(nn.Module):
    """CoSENT on cosine similarities (embedders) or paired MaxSim scores (ColBERT), for graded labels.

    ``scale`` multiplies score differences; the default 20 matches a temperature of 0.05. With
    ``gather_across_devices`` the pairs of all processes are ranked together (every process then computes
    the same global loss, and its gradient flows back to the process that made each score).
    """

    def __init__(self, scale: float = 20.0, gather_across_devices: bool = True) -> None:
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
            raise ValueError(f"scale must be a positive number; got {scale!r} (20 is a good start).")
        self.scale = float(scale)
        self.gather_across_devices = bool(gather_across_devices)

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """scores (B,) already computed pair by pair, labels (B,) in [0, 1]."""
        scores, labels = scores.float(), labels.float()
        if self.gather_across_devices:
            scores, _ = gather_with_grad(scores)
            labels, _ = gather_no_grad(labels)
        return cosent(scores, labels, self.scale)


def cosine_pairs(queries: torch.Tensor, documents: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of paired rows. (B, H), (B, H) -> (B,)."""
    return F.cosine_similarity(queries.float(), documents.float(), dim=-1)


def maxsim_pairs(queries: TokenVectors, documents: TokenVectors) -> torch.Tensor:
    """MaxSim of paired queries and documents (ColBERT on scored pairs). -> (B,)."""
    return maxsim(queries.vectors.float(), queries.mask, documents.vectors.float(), documents.mask)

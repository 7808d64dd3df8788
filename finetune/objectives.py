"""Training modules: a model plus its loss, as one ``nn.Module`` whose ``forward(**batch)`` returns the loss.

The Hugging Face ``Trainer`` (and DDP under ``torchrun``) wraps this module, so every forward pass of the
model happens inside the wrapped call and gradients are synchronised as usual. The model's own
differentiable ``forward`` is reused: pooling (embedders), token vectors (ColBERT), the relevance logit
(cross-encoder) and the "Yes" logit at the last real token (LLM ranker) are never re-implemented here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from finetune.losses import (
    ColbertInBatchLoss,
    CoSENTLoss,
    InBatchNegativesLoss,
    cosine_pairs,
    listwise_ce,
    maxsim_pairs,
    pointwise_bce,
)

__all__ = ["ColbertObjective", "EmbedderObjective", "PairScoringObjective"]


class EmbedderObjective(nn.Module):
    """An ``AutoModelForEmbedding`` with InfoNCE (pairs, triplets) or CoSENT (scored pairs)."""

    def __init__(
        self, embedder: nn.Module, kind: str, temperature: float = 0.05, gather_across_devices: bool = True,
        symmetric: bool = False,
    ) -> None:
        super().__init__()
        self.embedder = embedder
        self.kind = kind
        if kind == "scored":
            self.loss_fn: nn.Module = CoSENTLoss(scale=1.0 / temperature, gather_across_devices=gather_across_devices)
        else:
            self.loss_fn = InBatchNegativesLoss(temperature, gather_across_devices=gather_across_devices, symmetric=symmetric)

    def forward(
        self,
        query_input_ids: torch.Tensor,
        query_attention_mask: torch.Tensor,
        doc_input_ids: torch.Tensor,
        doc_attention_mask: torch.Tensor,
        doc_keys: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        queries = self.embedder(query_input_ids, query_attention_mask)  # (B, H)
        documents = self.embedder(doc_input_ids, doc_attention_mask)  # (B*G, H)
        if self.kind == "scored":
            return {"loss": self.loss_fn(cosine_pairs(queries, documents), labels)}
        return {"loss": self.loss_fn(queries, documents, doc_keys)}


class ColbertObjective(nn.Module):
    """A ``ColBERT`` ranker with MaxSim InfoNCE (pairs, triplets) or CoSENT on MaxSim (scored pairs)."""

    def __init__(self, ranker: nn.Module, kind: str, temperature: float = 0.05, gather_across_devices: bool = True) -> None:
        super().__init__()
        self.ranker = ranker
        self.kind = kind
        if kind == "scored":
            self.loss_fn: nn.Module = CoSENTLoss(scale=1.0 / temperature, gather_across_devices=gather_across_devices)
        else:
            self.loss_fn = ColbertInBatchLoss(temperature, gather_across_devices=gather_across_devices)

    def forward(
        self,
        query_input_ids: torch.Tensor,
        query_attention_mask: torch.Tensor,
        doc_input_ids: torch.Tensor,
        doc_attention_mask: torch.Tensor,
        doc_keys: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        queries = self.ranker(query_input_ids, query_attention_mask)  # TokenVectors (B, Tq, D)
        documents = self.ranker(doc_input_ids, doc_attention_mask)  # TokenVectors (B*G, Td, D)
        if self.kind == "scored":
            return {"loss": self.loss_fn(maxsim_pairs(queries, documents), labels)}
        return {"loss": self.loss_fn(queries, documents, doc_keys)}


class PairScoringObjective(nn.Module):
    """A cross-encoder or LLM ranker: BCE on its score for scored pairs, listwise CE over groups otherwise.

    The loss reads exactly the score the ranker ranks with (the classifier logit; for the LLM ranker the
    "Yes" logit at the last real token), so what is trained is what is used at inference.
    """

    def __init__(self, ranker: nn.Module, kind: str, group_size: int) -> None:
        super().__init__()
        self.ranker = ranker
        self.kind = kind
        self.group_size = group_size

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        **features: Any,
    ) -> dict[str, torch.Tensor]:
        scores = self.ranker(input_ids, attention_mask, **features)  # (N,)
        if self.kind == "scored":
            return {"loss": pointwise_bce(scores, labels)}
        return {"loss": listwise_ce(scores.view(-1, self.group_size))}  # (B, G), positive first

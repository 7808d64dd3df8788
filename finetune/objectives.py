"""Training modules: a model plus its loss, as one ``nn.Module`` whose ``forward(**batch)`` returns the loss.

The Hugging Face ``Trainer`` (and DDP under ``torchrun``) wraps this module, so every forward pass of the
model happens inside the wrapped call and gradients are synchronised as usual. The model's own
differentiable ``forward`` is reused: pooling (embedders), token vectors (ColBERT), the relevance logit
(cross-encoder) and the "Yes" logit at the last real token (LLM ranker) are never re-implemented here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

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

__all__ = ["ColbertObjective", "EmbedderObjective", "PairScoringObjective", "TwoTowerObjective"]


class TwoTowerObjective(nn.Module):
    """A model that encodes queries and documents apart (``model(input_ids, attention_mask)``), with an
    in-batch loss for pairs and triplets, or CoSENT on the paired scores for scored pairs.

    Subclasses name the attribute the model is kept in (it prefixes the weights' names in training
    checkpoints), the in-batch loss and the score of a (query, document) pair.
    """

    model_attribute: ClassVar[str]

    def __init__(
        self, model: nn.Module, kind: str, in_batch_loss: Callable[[], nn.Module],
        pair_scores: Callable[[Any, Any], torch.Tensor], temperature: float, gather_across_devices: bool,
    ) -> None:
        super().__init__()
        self.add_module(self.model_attribute, model)
        self.kind = kind
        self.pair_scores = pair_scores
        if kind == "scored":
            self.loss_fn: nn.Module = CoSENTLoss(scale=1.0 / temperature, gather_across_devices=gather_across_devices)
        else:
            self.loss_fn = in_batch_loss()

    def forward(
        self,
        query_input_ids: torch.Tensor,
        query_attention_mask: torch.Tensor,
        doc_input_ids: torch.Tensor,
        doc_attention_mask: torch.Tensor,
        doc_keys: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        model = getattr(self, self.model_attribute)
        queries = model(query_input_ids, query_attention_mask)  # (B, H) vectors, or TokenVectors (B, Tq, D)
        documents = model(doc_input_ids, doc_attention_mask)  # (B*G, H), or TokenVectors (B*G, Td, D)
        if self.kind == "scored":
            return {"loss": self.loss_fn(self.pair_scores(queries, documents), labels)}
        return {"loss": self.loss_fn(queries, documents, doc_keys)}


class EmbedderObjective(TwoTowerObjective):
    """An ``AutoModelForEmbedding`` with InfoNCE (pairs, triplets) or CoSENT on cosines (scored pairs)."""

    model_attribute = "embedder"

    def __init__(
        self, embedder: nn.Module, kind: str, temperature: float = 0.05, gather_across_devices: bool = True,
        symmetric: bool = False,
    ) -> None:
        super().__init__(
            embedder, kind, lambda: InBatchNegativesLoss(temperature, gather_across_devices=gather_across_devices,
                                                         symmetric=symmetric),
            cosine_pairs, temperature, gather_across_devices,
        )


class ColbertObjective(TwoTowerObjective):
    """A ``ColBERT`` ranker with MaxSim InfoNCE (pairs, triplets) or CoSENT on MaxSim (scored pairs)."""

    model_attribute = "ranker"

    def __init__(self, ranker: nn.Module, kind: str, temperature: float = 0.05, gather_across_devices: bool = True) -> None:
        super().__init__(
            ranker, kind, lambda: ColbertInBatchLoss(temperature, gather_across_devices=gather_across_devices),
            maxsim_pairs, temperature, gather_across_devices,
        )


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

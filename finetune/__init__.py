"""Fine-tuning embedders and rerankers on domain pairs, with IR evaluation.

- :mod:`finetune.data`: the three training formats (pairs, triplets, scored pairs), validated up front;
- :mod:`finetune.losses`: InfoNCE with in-batch negatives, MaxSim InfoNCE, CoSENT, listwise CE, BCE;
- :mod:`finetune.training`: ``train_embedder`` and ``train_reranker`` on the Hugging Face ``Trainer``.

The trainers are imported on first use (``finetune.train_embedder``), so reading data or computing metrics
does not pay for importing the ``Trainer``.
"""

from __future__ import annotations

from finetune.data import (
    DataError,
    PairExample,
    ScoredExample,
    TrainingData,
    TripletExample,
    load_examples,
    write_jsonl,
)
from retrievers.lazy import lazy_exports

__all__ = [
    "DataError",
    "EmbedderTrainingConfig",
    "PairExample",
    "RerankerTrainingConfig",
    "ScoredExample",
    "TrainResult",
    "TrainingData",
    "TripletExample",
    "load_examples",
    "train_embedder",
    "train_reranker",
    "write_jsonl",
]


__getattr__, __dir__ = lazy_exports(__name__, {
    "finetune.training": ("EmbedderTrainingConfig", "RerankerTrainingConfig", "TrainResult", "train_embedder",
                          "train_reranker"),
})

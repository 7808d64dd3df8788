"""Fine-tuning embedders and rerankers on domain pairs, with IR evaluation.

- :mod:`finetune.data`: the three training formats (pairs, triplets, scored pairs), validated up front;
- :mod:`finetune.losses`: InfoNCE with in-batch negatives, MaxSim InfoNCE, CoSENT, listwise CE, BCE;
- :mod:`finetune.training`: ``train_embedder`` and ``train_reranker`` on the Hugging Face ``Trainer``.

The trainers are imported on first use (``finetune.train_embedder``), so reading data or computing metrics
does not pay for importing the ``Trainer``.
"""

from __future__ import annotations

from typing import Any

from finetune.data import (
    DataError,
    PairExample,
    ScoredExample,
    TrainingData,
    TripletExample,
    load_examples,
    write_jsonl,
)

_TRAINING = ("EmbedderTrainingConfig", "RerankerTrainingConfig", "TrainResult", "train_embedder", "train_reranker")

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


def __getattr__(name: str) -> Any:
    if name in _TRAINING:
        from finetune import training

        return getattr(training, name)
    raise AttributeError(f"module 'finetune' has no attribute {name!r}")

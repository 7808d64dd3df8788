"""Pool token vectors into one vector per text.

``cls`` takes the first real token, ``mean`` averages the real tokens, ``last`` takes the last real token
(what decoder LLMs are trained to summarise into). All three read the attention mask, so they give the same
result whether the batch was padded on the left or on the right.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["POOLING_METHODS", "PoolingMethod", "pool", "first_token_index", "last_token_index"]

PoolingMethod = Literal["cls", "mean", "last"]
POOLING_METHODS: tuple[str, ...] = ("cls", "mean", "last")


def first_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the first real token of each row.  (B, T) -> (B,)"""
    return attention_mask.to(torch.int64).argmax(dim=1)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each row, for left or right padding.  (B, T) -> (B,)"""
    length = attention_mask.shape[1]
    return length - 1 - attention_mask.to(torch.int64).flip(dims=[1]).argmax(dim=1)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, method: str) -> torch.Tensor:
    """Pool ``hidden`` (B, T, H) under ``attention_mask`` (B, T) into (B, H)."""
    if method not in POOLING_METHODS:
        raise ValueError(f"pooling_method must be one of {', '.join(POOLING_METHODS)}; got {method!r}.")
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if method == "cls":
        return hidden[rows, first_token_index(attention_mask)]
    if method == "last":
        return hidden[rows, last_token_index(attention_mask)]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    summed = (hidden * mask).sum(dim=1)  # (B, H)
    counts = mask.sum(dim=1).clamp(min=1e-9)  # (B, 1)
    return summed / counts

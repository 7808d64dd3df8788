"""Pad token id lists into the tensors a transformers model takes, on the left or the right.

The embedder and every ranker prepare their own token ids (instructions, windows, special tokens) and
pad them here, so the attention mask always marks exactly the real tokens, whichever side the padding
is on; :func:`longest_first` groups sequences of similar length into batches, so little compute goes to
padding. Nothing is tokenized or truncated here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from transformers import BatchEncoding, PreTrainedTokenizerBase

__all__ = ["longest_first", "pad_batch", "pad_features"]


def pad_batch(
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    side: str = "right",
    extra: Sequence[Sequence[int]] | None = None,
    extra_pad: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Pad token id lists into ``input_ids`` (B, T) and ``attention_mask`` (B, T), plus an optional
    parallel sequence (token type ids) padded with ``extra_pad``.

    >>> ids, mask, _ = pad_batch([[5, 6], [7]], pad_id=0, side="left")
    >>> ids.tolist(), mask.tolist()
    ([[5, 6], [0, 7]], [[1, 1], [0, 1]])
    """
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


def pad_features(
    sequences: Sequence[Sequence[int]],
    tokenizer: PreTrainedTokenizerBase,
    side: str | None = None,
    token_types: Sequence[Sequence[int]] | None = None,
) -> BatchEncoding:
    """``input_ids`` and ``attention_mask`` (B, T), and ``token_type_ids`` when ``token_types`` is given,
    padded with the tokenizer's pad token on ``side`` (default: the tokenizer's padding side)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids, mask, types = pad_batch(
        sequences, pad_id, side or tokenizer.padding_side, extra=token_types,
        extra_pad=getattr(tokenizer, "pad_token_type_id", 0),
    )
    features = {"input_ids": ids, "attention_mask": mask}  # (B, T) each
    if types is not None:
        features["token_type_ids"] = types  # (B, T)
    return BatchEncoding(features)


def longest_first(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices of ``lengths`` in batches of at most ``batch_size``, longest sequences first.

    >>> list(longest_first([1, 5, 3], 2))
    [[1, 2], [0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]

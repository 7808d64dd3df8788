"""Pooling recomputed by hand, for both paddings; instructions never drop the text."""

from __future__ import annotations

import pytest
import torch

from retrievers.instructions import apply_instruction, validate_instruction
from retrievers.pooling import first_token_index, last_token_index, pool

# Two sequences: lengths 3 and 1, hidden size 2. Values chosen so each pooling gives a distinct answer.
TOKENS = [
    [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
    [[7.0, 8.0]],
]


def _batch(padding_side: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(seq) for seq in TOKENS)
    hidden = torch.full((len(TOKENS), width, 2), 99.0)  # padding positions hold junk that must be ignored
    mask = torch.zeros(len(TOKENS), width, dtype=torch.long)
    for row, seq in enumerate(TOKENS):
        start = 0 if padding_side == "right" else width - len(seq)
        hidden[row, start : start + len(seq)] = torch.tensor(seq)
        mask[row, start : start + len(seq)] = 1
    return hidden, mask


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_pooling_matches_hand_computation(padding_side: str) -> None:
    hidden, mask = _batch(padding_side)
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 2.0], [7.0, 8.0]]
    assert pool(hidden, mask, "last").tolist() == [[5.0, 6.0], [7.0, 8.0]]
    assert pool(hidden, mask, "mean").tolist() == [[3.0, 4.0], [7.0, 8.0]]


def test_token_indices_for_both_paddings() -> None:
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert first_token_index(left).tolist() == [2, 0]
    assert last_token_index(left).tolist() == [3, 3]
    assert first_token_index(right).tolist() == [0, 0]
    assert last_token_index(right).tolist() == [1, 3]


def test_unknown_pooling_names_the_choices() -> None:
    hidden, mask = _batch("right")
    with pytest.raises(ValueError, match="cls, mean, last.*'max'"):
        pool(hidden, mask, "max")


@pytest.mark.parametrize(
    ("instruction", "expected"),
    [
        ("Query: {}", "Query: how to pool"),
        ("Represent this question: {} (for retrieval)", "Represent this question: how to pool (for retrieval)"),
        ("query: ", "query: how to pool"),
        ("Given a question, retrieve answers.\nQuery: ", "Given a question, retrieve answers.\nQuery: how to pool"),
        (None, "how to pool"),
        ("", "how to pool"),
    ],
)
def test_instruction_keeps_the_text(instruction: str | None, expected: str) -> None:
    assert apply_instruction(instruction, "how to pool") == expected


def test_text_with_braces_is_not_formatted() -> None:
    # str.format would raise or mangle these; we substitute literally.
    assert apply_instruction("Q: {}", "dict {a} and {0}") == "Q: dict {a} and {0}"
    assert apply_instruction("prefix {x}: ", "text") == "prefix {x}: text"


def test_instruction_validation() -> None:
    assert validate_instruction(None, "query_instruction") is None
    with pytest.raises(ValueError, match="query_instruction.*at most one"):
        validate_instruction("{} and {}", "query_instruction")
    with pytest.raises(TypeError, match="document_instruction must be a string"):
        validate_instruction(3, "document_instruction")  # type: ignore[arg-type]

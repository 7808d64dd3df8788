"""Each loss against a hand computation (plain Python math on small inputs), and its input checks."""

from __future__ import annotations

import math

import pytest
import torch

from finetune.losses import (
    ColbertInBatchLoss,
    CoSENTLoss,
    InBatchNegativesLoss,
    cosent,
    info_nce,
    listwise_ce,
    pointwise_bce,
)
from retrievers.rerankers.colbert import TokenVectors


def _neg_log_softmax(row: list[float], index: int) -> float:
    return -(row[index] - math.log(sum(math.exp(x) for x in row)))


def _cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a)) / math.sqrt(sum(y * y for y in b))


def test_info_nce_is_cross_entropy_of_the_positive_over_temperature_scaled_scores() -> None:
    scores = [[0.9, 0.1, 0.3], [0.2, 0.8, -0.1]]
    expected = (_neg_log_softmax([s / 0.5 for s in scores[0]], 0) + _neg_log_softmax([s / 0.5 for s in scores[1]], 2)) / 2
    value = info_nce(torch.tensor(scores), torch.tensor([0, 2]), temperature=0.5)
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_info_nce_masks_duplicates_of_the_positive_but_keeps_the_positive() -> None:
    scores = torch.tensor([[0.5, 0.4, 0.9], [0.1, 0.7, 0.2]])
    keys = torch.tensor([7, 8, 7])  # document 2 has the same text as document 0, query 0's positive
    value = info_nce(scores, torch.tensor([0, 1]), temperature=1.0, doc_keys=keys)
    expected = (_neg_log_softmax([0.5, 0.4], 0) + _neg_log_softmax([0.1, 0.7, 0.2], 1)) / 2
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_in_batch_negatives_uses_cosine_and_group_layout() -> None:
    q = [[1.0, 0.0], [0.6, 0.8]]
    d = [[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 1.0]]  # query 0: docs 0 (positive), 1; query 1: docs 2 (positive), 3
    t = 0.1
    rows = [[_cos(qi, dj) / t for dj in d] for qi in q]
    expected = (_neg_log_softmax(rows[0], 0) + _neg_log_softmax(rows[1], 2)) / 2
    loss = InBatchNegativesLoss(temperature=t)(torch.tensor(q), torch.tensor(d))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_symmetric_in_batch_negatives_averages_both_directions() -> None:
    q = [[1.0, 0.0], [0.6, 0.8]]
    d = [[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 1.0]]  # positives: docs 0 and 2
    t = 0.1
    forward = [[_cos(qi, dj) / t for dj in d] for qi in q]
    backward = [[_cos(d[p], qi) / t for qi in q] for p in (0, 2)]  # each positive picks its query
    expected = ((_neg_log_softmax(forward[0], 0) + _neg_log_softmax(forward[1], 2)) / 2
                + (_neg_log_softmax(backward[0], 0) + _neg_log_softmax(backward[1], 1)) / 2) / 2
    loss = InBatchNegativesLoss(temperature=t, symmetric=True)(torch.tensor(q), torch.tensor(d))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_in_batch_negatives_gradient_points_towards_the_positive() -> None:
    q = torch.tensor([[1.0, 0.2]], requires_grad=True)
    d = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # the positive is [0, 1]
    InBatchNegativesLoss(temperature=0.05)(q, d).backward()
    assert q.grad is not None and q.grad[0, 1] < 0 < q.grad[0, 0]  # descent raises the y component, lowers x


def test_cosent_sums_over_wrongly_ordered_pairs() -> None:
    scores, labels, scale = [0.2, 0.5, 0.1], [1.0, 0.0, 0.5], 20.0
    terms = [math.exp(scale * (scores[j] - scores[i])) for i in range(3) for j in range(3) if labels[i] > labels[j]]
    expected = math.log(1 + sum(terms))
    assert float(cosent(torch.tensor(scores), torch.tensor(labels), scale)) == pytest.approx(expected, rel=1e-5)
    assert float(CoSENTLoss(scale=scale)(torch.tensor(scores), torch.tensor(labels))) == pytest.approx(expected, rel=1e-5)


def test_cosent_is_zero_when_all_labels_are_equal() -> None:
    assert float(cosent(torch.tensor([0.3, -0.2]), torch.tensor([1.0, 1.0]), 20.0)) == 0.0


def test_listwise_ce_puts_the_positive_first_in_each_group() -> None:
    scores = [[2.0, 1.0, 0.5], [0.0, 1.5, -1.0]]
    expected = (_neg_log_softmax(scores[0], 0) + _neg_log_softmax(scores[1], 0)) / 2
    assert float(listwise_ce(torch.tensor(scores))) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="G >= 2"):
        listwise_ce(torch.tensor([[1.0], [2.0]]))


def test_pointwise_bce_matches_the_formula() -> None:
    logits, labels = [1.5, -0.5, 0.0], [1.0, 0.0, 0.3]

    def sigmoid(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    expected = -sum(y * math.log(sigmoid(x)) + (1 - y) * math.log(1 - sigmoid(x)) for x, y in zip(logits, labels, strict=True)) / 3
    assert float(pointwise_bce(torch.tensor(logits), torch.tensor(labels))) == pytest.approx(expected, rel=1e-6)


def test_colbert_in_batch_loss_is_info_nce_over_hand_computed_maxsim() -> None:
    # Unit token vectors; the mask drops padding (and would drop [CLS]).
    q_vecs = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [0.0, 0.0]]])  # query 1 has one real token
    q_mask = torch.tensor([[1, 1], [1, 0]])
    d_vecs = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.8, 0.6], [0.0, 1.0]]])
    d_mask = torch.tensor([[1, 0], [1, 1]])

    def maxsim(qi: int, dj: int) -> float:
        best = []
        for a in range(2):
            if q_mask[qi, a]:
                best.append(max(float(q_vecs[qi, a] @ d_vecs[dj, b]) for b in range(2) if d_mask[dj, b]))
        return sum(best) / len(best)

    t = 0.2
    rows = [[maxsim(i, j) / t for j in range(2)] for i in range(2)]
    expected = (_neg_log_softmax(rows[0], 0) + _neg_log_softmax(rows[1], 1)) / 2
    loss = ColbertInBatchLoss(temperature=t)(TokenVectors(q_vecs, q_mask), TokenVectors(d_vecs, d_mask))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), True, "0.05"])
def test_bad_temperature_is_refused_with_the_valid_range(temperature: object) -> None:
    with pytest.raises(ValueError, match=r"temperature must be a number in \(0, 10\]"):
        InBatchNegativesLoss(temperature=temperature)  # type: ignore[arg-type]


def test_documents_must_come_in_whole_groups() -> None:
    with pytest.raises(ValueError, match="whole number of groups"):
        InBatchNegativesLoss()(torch.randn(2, 4), torch.randn(3, 4))


def test_bad_cosent_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale must be a positive number"):
        CoSENTLoss(scale=0)

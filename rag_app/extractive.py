"""Extractive answers: the sentences of the given passages that answer the question, cited ``[n]``.

A 135M-parameter generator invents facts the passages do not hold; the passages' own sentences cannot. The
answer is the best-scoring sentence, with the sentences that continue it in its passage (the next one, a
procedure's next steps, the sentences after a colon) and the runner-up sentences scoring nearly as well, within
``max_words``, in their order in the documents, each followed by the number of its passage.

Scoring, per sentence: cosine similarity of the question and the sentence under the pipeline's own embedder,
plus a share of the question's content words found in the sentence or its heading (a sentence alone lacks the
context its heading gives: "It takes two AA cells" under "Batteries"), minus a small penalty per rank of its
passage, so the reranked order still counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.embeddings import Embeddings

from rag_app.citations import content_words, split_sentences

__all__ = ["ExtractiveAnswer", "Scored", "extract_answer", "score_sentences"]

LEXICAL_WEIGHT = 0.25
"""Weight of the share of the question's content words found in the sentence or its heading."""
RANK_PENALTY = 0.02
"""Subtracted per rank of the sentence's passage (0 for the first)."""
NEAR_BEST = 0.05
"""Other sentences join the answer when they score within this of the best."""
FOLLOW = 1
"""The sentences after the best one in its passage that always join the answer (the answer to "what happens
when…" or "what do I lose…" is often the sentence after the one that matches the question best). Measured on
the Debian Reference train questions (benchmarks/answer_quality.py's judge, passages of the default
retrieval): 0 → 24/40 correct, 1 → 28/40, 2 → 28/40."""
MIN_WORDS = 3
"""Shorter sentences (list markers, headings, "See below.") are not answers."""

_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s")
_CONTINUES = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(?[a-z]\)|[a-z])")
_TRUNCATION = " […]"
_ENDS = re.compile(r"[.!?:;。！？；)\]\"'”’]\s*$")


@dataclass(frozen=True)
class Scored:
    """One sentence of a passage and its score for the question."""

    source_id: int
    rank: int
    position: int
    text: str
    score: float


@dataclass(frozen=True)
class ExtractiveAnswer:
    """The answer's text (sentences each followed by ``[n]``) and the sentences it quotes."""

    text: str
    sentences: list[Scored]
    spans: list[tuple[int, int]]
    """Where each quoted sentence is in ``text`` (without its ``[n]``)."""


def _candidates(sources: Sequence[dict[str, Any]]) -> list[tuple[int, int, int, str, str]]:
    """(source id, rank, position, sentence, heading) of every sentence of every passage."""
    out = []
    seen: set[str] = set()
    for rank, source in enumerate(sources):
        text = str(source.get("text") or "")
        if text.endswith(_TRUNCATION):
            text = text[: -len(_TRUNCATION)]
        spans = split_sentences(text)
        for number, (start, end) in enumerate(spans):
            sentence = _unit(text[start:end])
            key = sentence.casefold()
            if not sentence or key in seen or _cut(sentence, first=number == 0, last=number == len(spans) - 1):
                continue
            seen.add(key)  # overlapping chunks repeat sentences: quote each once, from the best passage
            out.append((int(source["id"]), rank, number, sentence, str(source.get("heading") or "")))
    return out


def _unit(span: str) -> str:
    """One sentence span as it is quoted: whitespace collapsed, except that the rows of a table (lines with
    ``" | "`` cells, as the loaders write rows) keep a line each. Scoring rows one by one was measured worse:
    short rows matching the question's words outscored the sentence that answers (Debian Reference train,
    extract mode: 27 of 40 correct against 28)."""
    lines = [line for line in span.splitlines() if line.strip()]
    if len(lines) > 1 and all(" | " in line for line in lines):
        return "\n".join(" ".join(line.split()) for line in lines)
    return " ".join(span.split())


def _cut(sentence: str, *, first: bool, last: bool) -> bool:
    """Whether ``sentence`` is the part of a sentence that a chunk boundary cut: a passage's first sentence
    starting in lower case ("metres of the display…"), or its last one, of more than eight words, without
    an ending mark ("…and out of direct"). Quoting either would misquote the document. Table rows (a unit of
    several lines, see :func:`_unit`) end without a mark and are never cut by the chunker."""
    if first and sentence[:1].islower():
        return True
    return last and "\n" not in sentence and len(sentence.split()) > 8 and not _ENDS.search(sentence)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def score_sentences(
    question: str, sources: Sequence[dict[str, Any]], embeddings: Embeddings | None
) -> list[Scored]:
    """Every sentence of ``sources`` (dicts with ``id``, ``text``, optional ``heading``, best first) scored for
    ``question``; without ``embeddings`` the score is lexical only."""
    candidates = _candidates(sources)
    if not candidates:
        return []
    asked = content_words(question)
    similarity = [0.0] * len(candidates)
    if embeddings is not None:
        query = embeddings.embed_query(question)
        vectors = embeddings.embed_documents([sentence for _, _, _, sentence, _ in candidates])
        similarity = [_cosine(query, vector) for vector in vectors]
    scored = []
    for (source_id, rank, position, sentence, heading), cosine in zip(candidates, similarity, strict=True):
        words = content_words(f"{heading} {sentence}")
        lexical = len(asked & words) / len(asked) if asked else 0.0
        if len(sentence.split()) < MIN_WORDS and not content_words(sentence) - asked:
            continue
        score = cosine + LEXICAL_WEIGHT * lexical - RANK_PENALTY * rank
        scored.append(Scored(source_id, rank, position, sentence, round(score, 4)))
    return scored


def extract_answer(
    question: str,
    sources: Sequence[dict[str, Any]],
    embeddings: Embeddings | None,
    *,
    max_words: int = 70,
) -> ExtractiveAnswer | None:
    """The extractive answer to ``question`` from ``sources`` (see the module docstring); ``None`` when the
    passages hold no sentence at all."""
    scored = [s for s in score_sentences(question, sources, embeddings) if len(s.text.split()) >= MIN_WORDS]
    if not scored:
        return None
    by_place = {(s.source_id, s.position): s for s in scored}
    best = max(scored, key=lambda s: s.score)
    chosen = [best]
    words = len(best.text.split())

    def add(sentence: Scored) -> bool:
        nonlocal words
        if sentence in chosen or words + len(sentence.text.split()) > max_words:
            return False
        chosen.append(sentence)
        words += len(sentence.text.split())
        return True

    # The best sentence's continuation: the next FOLLOW sentences, then after a colon or the next steps of a list.
    current, steps = best, 0
    while (following := by_place.get((current.source_id, current.position + 1))) is not None and (
        steps < FOLLOW or current.text.rstrip().endswith(":") or _CONTINUES.match(following.text)
    ):
        if not add(following):
            break
        current, steps = following, steps + 1
    for other in sorted(scored, key=lambda s: -s.score):
        if other.score < best.score - NEAR_BEST:
            break
        add(other)
    chosen.sort(key=lambda s: (s.rank, s.position))
    text, spans = "", []
    for sentence in chosen:
        if text:  # list items and lines without an ending mark each start a line, so they read as quoted
            text += "\n" if _LIST_ITEM.match(sentence.text) or not _ENDS.search(spans[-1][2]) else " "
        spans.append((len(text), len(text) + len(sentence.text), sentence.text))
        text += f"{sentence.text} [{sentence.source_id}]"
    return ExtractiveAnswer(text=text, sentences=chosen, spans=[(start, end) for start, end, _ in spans])

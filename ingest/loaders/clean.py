"""Text clean-up shared by the loaders: whitespace, control characters, end-of-line hyphenation, running
headers/footers, and a spacing-quality check for text extracted from PDFs.

All functions are pure (strings in, strings out) so each rule can be tested on its own.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "MAX_BLOCK_CHARS",
    "HyphenationVocabulary",
    "dehyphenate",
    "glued_ratio",
    "looks_glued",
    "normalize_line",
    "repeated_edge_lines",
    "split_long",
]

#: A block never holds more characters than this; longer paragraphs are split at line, then word, boundaries
#: (so streaming a huge one-paragraph file stays bounded, and the chunker gets pieces it can handle).
MAX_BLOCK_CHARS = 16_000

# C0/C1 control characters other than tab/newline/carriage return, and zero-width/formatting characters that
# carry nothing for retrieval (soft hyphen is handled by dehyphenate, BOM anywhere in the text is dropped).
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u200b\u200c\u200d\u2060\ufeff]")
_INLINE_SPACE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


def normalize_line(line: str) -> str:
    """One line with control characters removed, runs of (unicode) spaces/tabs collapsed, ends stripped."""
    return _INLINE_SPACE.sub(" ", _CONTROL.sub("", line)).strip()


def split_long(text: str, limit: int = MAX_BLOCK_CHARS) -> Iterator[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at the last newline, else the last space,
    else hard (a 'word' longer than ``limit`` is junk anyway)."""
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        head, text = text[:cut].rstrip(), text[cut:].lstrip()
        if head:
            yield head
    if text:
        yield text


# ------------------------------------------------------------------------------------------ hyphenation
_HYPHENS = "-\u2010\u00ad\ufffe"  # hyphen, unicode hyphen, soft hyphen, PDFium's line-end hyphen marker
_COMPOUND = re.compile(r"[^\W\d_]+(?:[-\u2010][^\W\d_]+)+", re.UNICODE)
_BROKEN = re.compile(rf"[^\W\d_]+[{_HYPHENS}]\n[ \t]*\S*", re.UNICODE)
# "<letters><hyphen>\n<word...>" then what ends the second word: spaces (more text follows), newline or end
_EOL_HYPHEN = re.compile(rf"([^\W\d_]+)([{_HYPHENS}])\n[ \t]*([^\W\d_]\S*)([ \t]+|\n|$)", re.UNICODE)


def _mark_pdfium_hyphens(text: str) -> str:
    # PDFium reports a hyphen at a line end as U+FFFE and joins the two lines; put the line break back
    return re.sub("\ufffe(?!\n|$)", "\ufffe\n", text) if "\ufffe" in text else text


class HyphenationVocabulary:
    """The hyphenated compounds a document uses inside lines (``third-party``), as evidence that a hyphen
    at a line end is real. Build it from the whole document before joining."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.compounds: set[str] = set()
        for text in texts:
            self.add(text)

    def add(self, text: str) -> None:
        text = _BROKEN.sub(" ", _mark_pdfium_hyphens(text))  # broken words are not evidence
        self.compounds.update(m.group().lower().replace("\u2010", "-") for m in _COMPOUND.finditer(text))


def dehyphenate(text: str, vocabulary: HyphenationVocabulary | None = None) -> str:
    """Join words broken across lines by a hyphen.

    ``"exam-\\nple text"`` becomes ``"example\\ntext"``: the joined word moves up, the rest of the second
    line stays on its line. For ``left-\\nright``, in order:

    1. if ``left-right`` occurs inside a line elsewhere in the document (``vocabulary``), the hyphen is
       real and is kept (``"third-\\nparty"`` → ``"third-party"``);
    2. a soft hyphen (U+00AD) or PDFium's line-end marker (U+FFFE) is a typesetter's hyphen: join;
    3. if ``right`` starts with a capital letter the hyphen is kept (``"Python-\\nBased"``, ``"Jean-\\nPaul"``);
    4. otherwise join without the hyphen.

    Rule 4 suits typeset documents; browser-made PDFs rarely hyphenate, and rule 1 protects the compounds
    they use more than once. Lines ending in ``--`` or a hyphen after a digit are left alone.
    """

    def join(m: re.Match[str]) -> str:
        left, mark, right, tail = m.groups()
        head = re.match(r"[^\W\d_]+", right).group()  # type: ignore[union-attr]
        if vocabulary is not None and f"{left}-{head}".lower() in vocabulary.compounds:
            word = f"{left}-{right}"
        elif mark in "\u00ad\ufffe" or not right[0].isupper():
            word = f"{left}{right}"
        else:
            word = f"{left}-{right}"
        return word + ("\n" if tail else "")  # tail: spaces before the rest of the line, a newline, or end

    text = _EOL_HYPHEN.sub(join, _mark_pdfium_hyphens(text))
    text = re.sub("\ufffe\n(?=\\d)", "-", text) if "\ufffe" in text else text  # "Modula-3": keep, join
    # a marker with no word after it (block end, or a digit follows) is shown as a plain hyphen
    return (
        text.replace("\ufffe\n", "-\n").replace("\ufffe", "-").replace("\u00ad\n", "\n").replace("\u00ad", "")
    )


# ----------------------------------------------------------------------------------- headers & footers
_DIGITS = re.compile(r"\d+")


def _edge_key(line: str) -> str:
    return _DIGITS.sub("#", " ".join(line.split()).casefold())


def repeated_edge_lines(
    pages: Sequence[Sequence[str]], *, edge: int = 3, min_share: float = 0.6
) -> list[set[int]]:
    """Indexes, per page, of lines that are running headers/footers/page numbers.

    A line is one if it sits among the first or last ``edge`` lines of its page and the same line, with
    digits normalised (``"Page 3 of 9"`` ~ ``"Page 4 of 9"``), sits among the first/last lines of at least
    ``min_share`` of the pages (and of at least two pages). Documents of one page have none.
    """
    n = len(pages)
    drop: list[set[int]] = [set() for _ in pages]
    if n < 2:
        return drop
    counts: Counter[str] = Counter()
    edges: list[list[tuple[int, str]]] = []
    for lines in pages:
        idx = list(range(len(lines)))
        positions = sorted(set(idx[:edge] + idx[-edge:]))
        keyed = [(i, _edge_key(lines[i])) for i in positions if lines[i].strip()]
        edges.append(keyed)
        counts.update({k for _, k in keyed})
    need = max(2, math.ceil(min_share * n))
    for page, keyed in enumerate(edges):
        drop[page] = {i for i, k in keyed if counts[k] >= need}
    return drop


# --------------------------------------------------------------------------------------- spacing check
# A "word" made of letters and word punctuation only: no digits, underscores, slashes, dots inside URLs...
_LETTER_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
GLUED_WORD_LEN = 20


def glued_ratio(text: str) -> float:
    """Share of the letters of ``text`` that sit in implausibly long runs of letters (≥ 20), e.g.
    ``"TheofficialdocumentgivinginstallationinstructionsistheDebian"``.

    Identifiers and URLs are not letter runs (they contain ``_ . / digits``), so they don't count; real
    long words (German compounds) are rare enough per page not to matter. 0.0 for text without letters.
    """
    total = glued = 0
    for m in _LETTER_TOKEN.finditer(text):
        n = m.end() - m.start()
        total += n
        if n >= GLUED_WORD_LEN:
            glued += n
    return glued / total if total else 0.0


def looks_glued(text: str, *, threshold: float = 0.2, min_letters: int = 40) -> bool:
    """Whether the words of ``text`` have lost the spaces between them: more than ``threshold`` of its letters,
    and at least ``min_letters``, in runs of ≥ 20 letters (see :func:`glued_ratio`; the minimum keeps a
    short page with one long compound word from counting)."""
    ratio = glued_ratio(text)
    if ratio <= threshold:
        return False
    return (
        sum(len(m.group()) for m in _LETTER_TOKEN.finditer(text) if len(m.group()) >= GLUED_WORD_LEN)
        >= min_letters
    )

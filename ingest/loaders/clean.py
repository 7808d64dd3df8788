"""Text clean-up shared by the loaders: whitespace, control characters, end-of-line hyphenation, running
headers/footers, contents and index pages, and a spacing-quality check for text extracted from PDFs.

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
    "contents_lines",
    "glued_ratio",
    "is_contents_line",
    "is_index_line",
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
_LEADING_SPACE = re.compile(r"\s*")  # what str.lstrip() strips


def normalize_line(line: str) -> str:
    """One line with control characters removed, runs of (unicode) spaces/tabs collapsed, ends stripped."""
    return _INLINE_SPACE.sub(" ", _CONTROL.sub("", line)).strip()


def split_long(text: str, limit: int = MAX_BLOCK_CHARS) -> Iterator[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at the last newline, else the last space,
    else hard (a 'word' longer than ``limit`` is junk anyway)."""
    # By position, not by slicing off the rest each time: that copied the rest per piece, quadratic in a
    # 50 MB paragraph (95 s).
    start = 0
    while len(text) - start > limit:
        cut = text.rfind("\n", start, start + limit + 1)
        if cut <= start:
            cut = text.rfind(" ", start, start + limit + 1)
        if cut <= start:
            cut = start + limit
        head = text[start:cut].rstrip()
        start = _LEADING_SPACE.match(text, cut).end()
        if head:
            yield head
    if start < len(text):
        yield text[start:]


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
_ROMAN = r"(?=[ivxl])l?x{0,3}(?:ix|iv|v?i{0,3})"
_ROMAN_EDGE = re.compile(rf"^{_ROMAN}\b|\b{_ROMAN}$")
_NUMBER_TOKEN = re.compile(r"^[(\[\-–—]*(\d{1,5})[)\]\-–—]*$")
_MAX_RUNNING_CHARS = 150  # a running header or footer is one short line
_LOCAL_WINDOW = 10  # a header that changes with the chapter repeats within this many pages...
_LOCAL_MIN_PAGES = 3  # ...on at least this many of them
_EMPTIED_SHARE = 0.5  # a "header" whose removal empties at least this share of its pages is the text itself
_BODY_PAGE_CHARS = 200  # a page left empty that held this much text is kept whole


def _edge_key(line: str) -> str:
    key = " ".join(line.split()).casefold()
    return _DIGITS.sub("#", _ROMAN_EDGE.sub("#", key))


def _numbers(line: str) -> set[int]:
    """The numbers standing first or last on a line, as page numbers do (``"4"``, ``"- 4 -"``, ``"[4]"``,
    ``"CHAPTER 5. SOFTWARE 45"``; not ``"5."``, ``"1.2"`` or the ``3`` of ``"Page 3 of 9"``)."""
    tokens = [t for t in line.split() if any(c.isalnum() for c in t)]
    out = set()
    for token in tokens[:1] + tokens[-1:]:
        m = _NUMBER_TOKEN.match(token)
        if m:
            out.add(int(m.group(1)))
    return out


def _folio_offsets(pages: Sequence[Sequence[str]], edge: int) -> set[int]:
    """``pdf_page - printed_page`` for the page numbering(s) the document's edge lines follow: offsets shared
    by at least three pages and a quarter of them."""
    support: Counter[int] = Counter()
    for p, lines in enumerate(pages):
        offsets = set()
        for i in _edge_positions(len(lines), edge):
            if len(lines[i]) <= _MAX_RUNNING_CHARS:
                offsets.update(p + 1 - n for n in _numbers(lines[i]))
        support.update(offsets)
    need = max(3, math.ceil(0.25 * len(pages)))
    return {offset for offset, n in support.items() if n >= need}


def _edge_positions(n: int, edge: int) -> list[int]:
    return sorted(set(range(min(edge, n))) | set(range(max(0, n - edge), n)))


def repeated_edge_lines(
    pages: Sequence[Sequence[str]],
    *,
    edge: int = 3,
    min_share: float = 0.6,
    breaks: Sequence[set[int] | None] | None = None,
) -> list[set[int]]:
    """Indexes, per page, of lines that are running headers/footers/page numbers.

    A *candidate* sits among the first or last ``edge`` lines of its page, is at most 150 characters long
    and is one of:

    1. the same line, with digits (and roman numerals at its ends) normalised (``"Page 3 of 9"`` ~
       ``"Page 4 of 9"``), among the first/last lines of at least ``min_share`` of the pages (and of two);
    2. a line holding the page's printed number, where the document's edge lines follow a page numbering
       (the same offset between PDF page and printed number on ≥ 3 pages and ≥ 25 % of them): TeX's
       ``"CHAPTER 5. SOFTWARE 45"`` / ``"5.9. HOW DOES … 47"``, which change with the chapter;
    3. the same normalised line at the same end of the page on three pages within ten (a header naming
       the chapter, without a page number).

    Only unbroken runs of candidates from the top and from the bottom of a page are removed, and where
    ``breaks`` gives, per page, the indexes of the lines that start a paragraph (``None`` where unknown),
    a run must end at a paragraph break: a header is set apart from the text, a paragraph's first line is
    not. Removal never empties a page of body text: a repeated line whose removal would empty half of the
    pages it is on is text (a document whose pages all start alike), and a page left empty that held
    ≥ 200 characters is kept whole. Documents of one page have none.
    """
    n = len(pages)
    drop: list[set[int]] = [set() for _ in pages]
    if n < 2:
        return drop
    keys: list[dict[int, str]] = []  # per page: edge line index -> normalised text
    counts: Counter[str] = Counter()
    for lines in pages:
        keyed = {i: _edge_key(lines[i]) for i in _edge_positions(len(lines), edge)
                 if lines[i].strip() and len(lines[i]) <= _MAX_RUNNING_CHARS}  # fmt: skip
        keys.append(keyed)
        counts.update(set(keyed.values()))
    need = max(2, math.ceil(min_share * n))
    offsets = _folio_offsets(pages, edge)

    def local(p: int, i: int, key: str) -> bool:
        top = i < edge
        lo, hi = max(0, p - _LOCAL_WINDOW + 1), min(n, p + _LOCAL_WINDOW)
        seen = [q for q in range(lo, hi) if any(k == key and (j < edge) == top for j, k in keys[q].items())]
        return any(sum(1 for q in seen if s <= q < s + _LOCAL_WINDOW) >= _LOCAL_MIN_PAGES for s in seen)

    def candidates(p: int, rejected: set[str]) -> dict[int, str]:
        found = {}
        for i, key in keys[p].items():
            if offsets and any(p + 1 - o in _numbers(pages[p][i]) for o in offsets):
                found[i] = ""  # a page-number line: never rejected as text
            elif key not in rejected and (counts[key] >= need or local(p, i, key)):
                found[i] = key
        return found

    def runs(p: int, found: dict[int, str]) -> set[int]:
        lines = pages[p]
        if len(found) == len(lines) and not any(found.values()):
            return set(found)  # a page with nothing but its number
        starts = None if breaks is None else breaks[p]
        top: list[int] = []
        for i in range(min(edge, len(lines))):
            if i not in found:
                break
            top.append(i)
        if starts is not None:  # a run ends where a paragraph of the text starts, and leaves some text
            while top and (top[-1] + 1 >= len(lines) or top[-1] + 1 not in starts):
                top.pop()
        bottom: list[int] = []
        for i in range(len(lines) - 1, max(len(lines) - edge, 0) - 1, -1):
            if i not in found or i in top:
                break
            bottom.append(i)
        if starts is not None:
            while bottom and (bottom[-1] == 0 or bottom[-1] not in starts):
                bottom.pop()
        return set(top) | set(bottom)

    rejected: set[str] = set()
    while True:
        found = [candidates(p, rejected) for p in range(n)]
        drop = [runs(p, found[p]) for p in range(n)]
        emptied: Counter[str] = Counter()
        dropped: Counter[str] = Counter()
        for p in range(n):
            ks = {found[p][i] for i in drop[p]} - {""}
            dropped.update(ks)
            if drop[p] and len(drop[p]) == sum(1 for line in pages[p] if line.strip()):
                emptied.update(ks)
        bad = {k for k in emptied if emptied[k] >= _EMPTIED_SHARE * dropped[k]}
        if not bad:
            break
        rejected |= bad
    for p, lines in enumerate(pages):
        emptied_page = drop[p] and len(drop[p]) == sum(1 for line in lines if line.strip())
        if emptied_page and sum(len(line) for line in lines) >= _BODY_PAGE_CHARS:
            drop[p] = set()
    return drop


# ------------------------------------------------------------------------------ contents and index pages
# "1.2 Title . . . . . 7", "Title ........ vii": dot leaders before a page number
_LEADER_LINE = re.compile(r"(?:\s?[.·…]){4,}\s*(?:\d{1,5}|[ivxlcdm]{1,8})\s*$")
# "1 GNU/Linux tutorials 1", "A.2 Copyright 231", "Chapter 3 Water 17": a numbered title ending in a number
_NUMBERED_ENTRY = re.compile(
    r"^\s*(?:(?i:chapter|part|appendix|section)\s+)?(?:\d+(?:\.\d+)*\.?|[A-Z]\.(?:\d+\.?)*)\s+\S.*?\s(?:\d{1,5}|[ivxlcdm]{1,8})\s*$"
)
# "bleeding, 3, 4", "boiler pressure, 12-14, 31": an index entry, words then page references after a comma
_INDEX_ENTRY = re.compile(
    r"^\s*\D.*?,\s*\d{1,5}(?:\s*[-–]\s*\d{1,5})?(?:\s*,\s*\d{1,5}(?:\s*[-–]\s*\d{1,5})?)*\s*$"
)
_CONTENTS_TITLE = re.compile(
    r"^\s*(?:table of )?contents|^\s*list of (?:tables|figures|examples|listings|illustrations)\b|^\s*index\s*$|"
    r"^\s*(?:figures|tables|examples)\s*$",
    re.I,
)
_MIN_ENTRIES = 2  # a contents page has at least this many entry lines...
_ENTRY_SHARE = 0.5  # ...making up at least this share of its lines


def is_contents_line(line: str) -> bool:
    """A line of a table of contents (or of a list of tables/figures): dot leaders before a page number, or
    a numbered title ending in a page number."""
    return bool(_LEADER_LINE.search(line) or _NUMBERED_ENTRY.match(line))


def is_index_line(line: str) -> bool:
    """A line of a back-of-book index: words, a comma, page numbers (``"stopcock, 5, 12-14"``)."""
    return bool(_INDEX_ENTRY.match(line))


def contents_lines(pages: Sequence[Sequence[str]]) -> list[set[int]]:
    """Indexes, per page, of the lines of contents, list-of-tables/figures and index pages.

    A page is one when at least half of its lines (and two) are entries (:func:`is_contents_line`, or
    :func:`is_index_line` for an index). On such a page the entries go, with the lines between them
    (titles that wrap, an index's letter headings) and the page's title above them ("Contents", "List of
    Tables", "Index", or up to three short lines); text after the last entry stays.
    """
    drop: list[set[int]] = []
    for lines in pages:
        filled = [i for i, line in enumerate(lines) if line.strip()]
        entries = [i for i in filled if is_contents_line(lines[i]) or is_index_line(lines[i])]
        if len(entries) < _MIN_ENTRIES or len(entries) < _ENTRY_SHARE * len(filled):
            drop.append(set())
            continue
        first, last = entries[0], entries[-1]
        gone = set(range(first, last + 1))
        before = [i for i in filled if i < first]
        if len(before) <= 3 and all(len(lines[i]) <= 60 for i in before):
            gone.update(before)
        else:
            gone.update(i for i in before if _CONTENTS_TITLE.match(lines[i]))
        drop.append(gone)
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

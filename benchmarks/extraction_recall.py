"""Extraction recall and furniture share on real documents from many generators (issue 12 §1).

For every document of the corpus built by ``scripts/build_extraction_corpus.py`` (Sphinx, DocBook, texinfo,
Doxygen, Javadoc, MkDocs, man pages as HTML; PDFs made by LaTeX, LibreOffice and Chromium's print), the
document is loaded and chunked exactly as ``rag-app ingest`` does it (``ingest.loaders.open_file``, then
``ingest.chunking.Chunker.iter_chunks`` with the configured embedder's tokenizer and maximum length, and the
default ``chunk_size``/``chunk_overlap`` of ``rag_app.config``; nothing is embedded), and compared with an
independent *reference* extraction (``w3m -dump`` for HTML, ``pdftotext -layout`` for PDF). The same is
done, in the same run, with LangChain's own loaders (``BSHTMLLoader``, ``PyPDFLoader``).

Two figures per document:

* **content recall**: the share of the reference's *body* text that reaches the index;
* **furniture share**: the share of the indexed text that is navigation, contents lines, running headers
  and footers, page numbers or other repeated furniture.

Normalisation and alignment
---------------------------
Both sides are normalised the same way: NFKC, case-folded, and only letters and digits kept (every space,
punctuation mark, bullet, box-drawing character and hyphen dropped), so that line breaks, hyphenation at a
line end ("extrac-\\ntion"), words glued or torn apart by a PDF extractor, ligatures and quotes do not
count. Texts are then compared by **character 20-grams** of that stream. Why characters and not word
n-grams: with spaces gone there are no reliable words left, and a word 8-gram fails on each of the above;
20 letters (three or four English words) are long enough that a lost sentence does not turn up elsewhere
in the document by chance, and short enough for short lines. A reference character counts as *reached*
when some 20-gram of the body stream that covers it occurs in the indexed text (so an extra or missing
character costs only itself, not the n-1 grams around it). Body segments shorter than 20 characters
(headings, table cells; a segment is a line's part between runs of 3+ spaces) whose n-grams all cross into
their neighbours are also reached when they occur whole in the indexed text. Recall = reached body
characters / body characters.

The indexed text, for our pipeline, is the union of the chunks' spans in the loaded text (chunks overlap:
each character is counted once), plus each chunk's title and heading path, which live in its metadata and
are embedded with it (``ingest.contextual``). For LangChain it is the loaders' documents (their splitter
loses nothing but white space; its chunk count, ``RecursiveCharacterTextSplitter(1000, 200)``, is shown).

What is furniture (the reference's body is the reference less these lines)
-------------------------------------------------------------------------
HTML (reference with link and navigation markers, see the build script):

* ``nav``: every letter of the line is inside a ``<nav>`` or ``role="navigation"`` element;
* ``links``: every letter is the text of links within the site (``a[href]`` with a relative or ``#``
  target, not a permalink to its own element; links to other sites are references, i.e. body), except at most 3 letters or navigation words
  ("next", "previous", "up", "contents", "index"...): local tables of contents, breadcrumbs, prev/next
  bars, and the link-only rows of summary tables (Javadoc member summaries, Sphinx autosummary);
* ``repeated``: the line occurs in at least half of the pages of its document set (sets of 3+ pages) and
  stands in the page's leading or trailing run of furniture: headers, footers, copyright lines, search
  boxes (a "Traceback (most recent call last):" repeated in the body of several pages stays body);
* ``contents``: a line ending in dot leaders and a page number, or a contents title alone on its line
  ("Table of Contents", "Contents", "List of Tables", "List of Figures", "List of Examples").

PDF (``pdftotext -layout``, pages split at form feeds; a line's *fields* are its parts between runs of 3+
spaces):

* ``header``: among the first two and last two lines of a page, a line all of whose fields are page numbers
  ("12", "iv", "5 / 57", "Page 3 of 9") or recur in the same place (digits masked) on 3+ pages; or the first
  or last line of a page when it starts or ends with a page-number field (TeX running heads that change with
  the section); recurring lines stay body where they are all the page holds;
* ``contents``: a line ending in dot leaders and a page number; and on a page where 5+ lines and at least
  half of them end in page references (contents, list of tables, index pages), every line from the first
  such line on (with up to 3 short title lines above it).

The furniture share applies the same rules to the indexed text: its lines ending in dot leaders, its lines
holding only a page number, and every occurrence of a reference furniture line or field (4+ characters)
that is not body text where it stands: neither the text before it nor the text after it continues as in
the reference body (most of the 20-grams crossing its start, and most of those crossing its end, are not
in the body). A heading that the navigation repeats is body where it stands; the same words in a list of
links, or spliced into a paragraph as a running head, are furniture. Furniture share = furniture
characters / indexed characters (all in normalised characters).

Targets (issue 12): content recall >= 0.99 on every generator (pooled over its documents; the worst
document is shown too), furniture share <= 1 %. The run prints a table per document and per generator,
the worst document, the longest lost body lines per document and the furniture found in our chunks.

Run::

    .venv/bin/python scripts/build_extraction_corpus.py          # once: builds ../shared/data/extraction-corpus
    .venv/bin/python benchmarks/extraction_recall.py [--corpus DIR] [--json FILE] [--png FILE] [--only SUBSTR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import unicodedata
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "extraction-corpus"
N = 20
"""Length of the character n-grams (see the module docstring)."""
RECALL_TARGET = 0.99
FURNITURE_TARGET = 0.01
MIN_FURNITURE_CHARS = 4
"""Furniture lines and fields shorter than this (after normalisation) are not looked for in indexed text."""
REPEATED_SHARE = 0.5
REPEATED_MIN_PAGES = 3
HEADER_REPEAT = 3
TINY_WORDS = 5
"""A chunk with fewer words than this is counted as a fragment ("Chapter 4")."""

LINK_OPEN, LINK_CLOSE, NAV_OPEN, NAV_CLOSE = "\ue000", "\ue001", "\ue002", "\ue003"
_MARKERS = re.compile("[\ue000-\ue003]")
_NON_ALNUM = re.compile(r"[\W_]+")
_FIELD_SPLIT = re.compile(r"\s{3,}")
_ROMAN = r"(?=[ivxlcdm])m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})"
_PAGE_FIELD = re.compile(rf"(?:page\s+)?(?:\d{{1,4}}|{_ROMAN})(?:\s*(?:/|of)\s*\d{{1,4}})?", re.I)
_DOT_LEADER = re.compile(rf"(?:\.\s?){{4,}}\s*(?:\d{{1,4}}|{_ROMAN})\s*$", re.I)
_PAGE_REF_END = re.compile(rf"(?:(?:\.\s?){{2,}}|\s{{2,}}|,\s*)(?:\d{{1,4}}|{_ROMAN})(?:\s*[-–,]\s*\d{{1,4}})*\s*$", re.I)
_PAGE_ONLY = re.compile(rf"\s*(?:page\s+)?(?:\d{{1,4}}|{_ROMAN})(?:\s*(?:/|of)\s*\d{{1,4}})?\s*", re.I)
CONTENTS_TITLES = frozenset({"tableofcontents", "contents", "listoftables", "listoffigures", "listofexamples"})
NAV_WORDS = frozenset({
    "next", "prev", "previous", "up", "top", "home", "back", "forward", "contents", "index", "toc", "table",
    "of", "page", "go", "to", "chapter", "section", "part", "appendix", "search",
})


# ---------------------------------------------------------------------------------------------------------
# Normalisation and n-grams
# ---------------------------------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """NFKC, case-folded, letters and digits only: ``"Extrac-\\ntion, ﬁnal!" -> "extractionfinal"``."""
    return _NON_ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


def grams(text: str, n: int = N) -> set[str]:
    """The character ``n``-grams of an already normalised string (none when it is shorter than ``n``)."""
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def gram_set(pieces: Iterable[str], n: int = N) -> set[str]:
    """The ``n``-grams of each normalised piece, none crossing from one piece into the next."""
    out: set[str] = set()
    for piece in pieces:
        out.update(grams(piece, n))
    return out


def fields(line: str) -> list[str]:
    """A line's parts between runs of 3+ spaces (table cells, the two sides of a running head)."""
    return [f for f in _FIELD_SPLIT.split(line.strip()) if f]


# ---------------------------------------------------------------------------------------------------------
# The reference: lines, furniture, body
# ---------------------------------------------------------------------------------------------------------
@dataclass
class RefLine:
    text: str
    norm: str
    page: int = 0
    reason: str | None = None  # None: body; else the furniture rule that matched
    link_chars: int = 0
    nav_chars: int = 0
    outside: str = ""  # raw text outside links and navigation


def parse_marked(text: str) -> list[RefLine]:
    """Lines of a reference dumped with link/navigation markers; counts the letters inside each."""
    lines: list[RefLine] = []
    link = nav = 0
    raw: list[str] = []
    outside: list[str] = []
    n_link = n_nav = 0
    for token in re.split("([\ue000-\ue003\n])", text):
        if token == LINK_OPEN:
            link += 1
        elif token == LINK_CLOSE:
            link = max(0, link - 1)
        elif token == NAV_OPEN:
            nav += 1
        elif token == NAV_CLOSE:
            nav = max(0, nav - 1)
        elif token == "\n":
            line = "".join(raw)
            lines.append(RefLine(line, normalize(line), link_chars=n_link, nav_chars=n_nav, outside="".join(outside)))
            raw, outside, n_link, n_nav = [], [], 0, 0
        elif token:
            raw.append(token)
            size = len(normalize(token))
            n_nav += size if nav else 0
            n_link += size if link else 0
            if not link and not nav:
                outside.append(token)
    if raw:
        line = "".join(raw)
        lines.append(RefLine(line, normalize(line), link_chars=n_link, nav_chars=n_nav, outside="".join(outside)))
    return lines


def link_only(line: RefLine) -> bool:
    """All letters of the line are link text, but for <= 3 letters or navigation words outside links."""
    if not line.link_chars:
        return False
    rest = normalize(line.outside)
    if len(rest) <= 3:
        return True
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", line.outside).casefold())
    return all(w in NAV_WORDS or w.isdigit() for w in words)


def classify_html(pages: dict[str, list[RefLine]]) -> None:
    """Set ``reason`` on the furniture lines of the pages of one document set (see the module docstring)."""
    counts: Counter[str] = Counter()
    for lines in pages.values():
        counts.update({line.norm for line in lines if line.norm})
    threshold = max(REPEATED_MIN_PAGES, math.ceil(REPEATED_SHARE * len(pages)))
    repeated = {norm for norm, c in counts.items() if c >= threshold} if len(pages) >= REPEATED_MIN_PAGES else set()
    for lines in pages.values():
        for line in lines:
            if not line.norm:
                continue
            if line.nav_chars >= len(line.norm):
                line.reason = "nav"
            elif link_only(line):
                line.reason = "links"
            elif _DOT_LEADER.search(line.text) or line.norm in CONTENTS_TITLES:
                line.reason = "contents"
        # A repeated line is furniture only in the page's leading or trailing run of furniture (headers,
        # footers, search boxes): "Traceback (most recent call last):" or a "Note" label repeated in the
        # body of several pages stays body.
        for order in (lines, lines[::-1]):
            for line in order:
                if not line.norm or line.reason is not None:
                    continue
                if line.norm in repeated:
                    line.reason = "repeated"
                    continue
                break


def _field_signature(text: str) -> str:
    return re.sub(r"\d+", "#", normalize(text))


def _is_page_field(text: str) -> bool:
    return _PAGE_FIELD.fullmatch(text.strip()) is not None


def parse_pdf_reference(text: str) -> list[RefLine]:
    """Lines of a ``pdftotext -layout`` reference with the PDF furniture rules applied."""
    pages = text.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    per_page: list[list[RefLine]] = []
    for number, page in enumerate(pages, 1):
        per_page.append([RefLine(line, normalize(line), page=number) for line in page.splitlines()])

    def zones(lines: list[RefLine]) -> tuple[list[int], list[int]]:
        filled = [i for i, line in enumerate(lines) if line.norm]
        return filled[:2], filled[-2:]

    recurring: Counter[tuple[str, str]] = Counter()
    for lines in per_page:
        top, bottom = zones(lines)
        seen = set()
        for zone, idx in (("top", top), ("bottom", bottom)):
            for i in idx:
                for f in fields(lines[i].text):
                    sig = _field_signature(f)
                    if sig and not _is_page_field(f):
                        seen.add((zone, sig))
        recurring.update(seen)

    for lines in per_page:
        top, bottom = zones(lines)
        filled = [i for i, line in enumerate(lines) if line.norm]
        recurring_only = []
        for zone, idx in (("top", top), ("bottom", bottom)):
            for i in idx:
                parts = [f for f in fields(lines[i].text) if normalize(f)]
                if not parts:
                    continue
                page_fields = [_is_page_field(f) for f in parts]
                if all(p or recurring[(zone, _field_signature(f))] >= HEADER_REPEAT for f, p in zip(parts, page_fields, strict=True)):
                    lines[i].reason = "header"
                    if not any(page_fields):
                        recurring_only.append(i)
                elif i in (filled[0], filled[-1]) and len(parts) > 1 and (page_fields[0] or page_fields[-1]):
                    lines[i].reason = "header"
        if recurring_only and all(lines[i].reason for i in filled):
            # Never empty a page: pages alike but for a number ("Page 3 of the facilities guide. The boiler
            # room key...") keep their text.
            for i in recurring_only:
                lines[i].reason = None
        for line in lines:
            if line.reason is None and line.norm and _DOT_LEADER.search(line.text):
                line.reason = "contents"
        body = [line for line in lines if line.norm and line.reason != "header"]
        refs = [i for i, line in enumerate(body) if _PAGE_REF_END.search(line.text)]
        if len(refs) >= 5 and len(refs) >= 0.5 * len(body):
            # A contents or index page: from its first page reference on (with up to 3 short lines above
            # it: "Contents", "Index", a letter), everything; body text above it on the same page stays.
            first = refs[0]
            while first > 0 and refs[0] - first < 3 and len(body[first - 1].norm) < 25:
                first -= 1
            for line in body[first:]:
                line.reason = "contents"
    return [line for lines in per_page for line in lines]


@dataclass
class Body:
    """The reference body as one normalised stream, with its lines' and segments' places in it."""

    stream: str
    lines: list[tuple[int, int, str]]  # (start, end, raw text) of each body line
    segments: list[tuple[int, int]]

    @classmethod
    def from_lines(cls, lines: Sequence[RefLine]) -> Body:
        parts: list[str] = []
        spans: list[tuple[int, int, str]] = []
        segments: list[tuple[int, int]] = []
        pos = 0
        for line in lines:
            if line.reason is not None or not line.norm:
                continue
            spans.append((pos, pos + len(line.norm), line.text))
            seg_pos = pos
            for f in fields(line.text):
                size = len(normalize(f))
                if size:
                    segments.append((seg_pos, seg_pos + size))
                    seg_pos += size
            parts.append(line.norm)
            pos += len(line.norm)
        return cls("".join(parts), spans, segments)


# ---------------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Recall:
    recall: float
    body_chars: int
    covered: np.ndarray = field(repr=False)


def content_recall(body: Body, indexed: Sequence[str], n: int = N) -> Recall:
    """The share of ``body``'s characters reached by the indexed texts (raw strings; see the docstring)."""
    pieces = [p for p in (normalize(t) for t in indexed) if p]
    index_grams = gram_set(pieces, n)
    joined = "\x00".join(pieces)
    stream = body.stream
    size = len(stream)
    covered = np.zeros(size, dtype=bool)
    if size >= n:
        hits = np.fromiter((stream[i : i + n] in index_grams for i in range(size - n + 1)), dtype=bool, count=size - n + 1)
        diff = np.zeros(size + 1, dtype=np.int32)
        starts = np.flatnonzero(hits)
        np.add.at(diff, starts, 1)
        np.add.at(diff, starts + n, -1)
        covered = np.cumsum(diff[:-1]) > 0
    prefix = np.concatenate(([0], np.cumsum(covered)))
    for a, b in body.segments:
        if prefix[b] - prefix[a] < b - a and b - a < n and stream[a:b] in joined:
            covered[a:b] = True
    reached = int(covered.sum())
    return Recall(reached / size if size else 1.0, size, covered)


def lost_lines(body: Body, result: Recall, limit: int = 8) -> list[dict]:
    """The body lines mostly not reached, longest loss first."""
    out = []
    for a, b, text in body.lines:
        missed = int((~result.covered[a:b]).sum())
        if missed >= 10 and missed >= 0.5 * (b - a):
            out.append({"missed_chars": missed, "text": " ".join(text.split())[:160]})
    out.sort(key=lambda d: -d["missed_chars"])
    return out[:limit]


@dataclass
class Furniture:
    share: float
    furniture_chars: int
    indexed_chars: int
    by_reason: dict[str, int]
    examples: list[str]


def furniture_share(
    indexed: Sequence[str],
    furniture: dict[str, str],
    body: Body,
    n: int = N,
) -> Furniture:
    """The share of the indexed texts that is furniture.

    ``furniture`` maps normalised reference furniture strings (lines and fields) to their rule's name.
    """
    body_grams = grams(body.stream, n)
    line_spans: list[tuple[int, int, str]] = []  # (start, end, raw) of each indexed line in the stream
    region_spans: list[tuple[int, int]] = []
    parts: list[str] = []
    pos = 0
    marks: list[tuple[int, int, str]] = []
    for region in indexed:
        start = pos
        for raw in region.splitlines():
            norm = normalize(raw)
            if not norm:
                continue
            if _DOT_LEADER.search(raw):
                marks.append((pos, pos + len(norm), "contents"))
            elif _PAGE_ONLY.fullmatch(raw):
                marks.append((pos, pos + len(norm), "header"))
            line_spans.append((pos, pos + len(norm), raw))
            parts.append(norm)
            pos += len(norm)
        if pos > start:
            region_spans.append((start, pos))
            parts.append("\x00")
            pos += 1
    stream = "".join(parts)
    size = len(stream)
    is_text = np.frombuffer(stream.encode("utf-32-le"), dtype=np.uint32) != 0 if size else np.zeros(0, bool)
    indexed_chars = int(is_text.sum())
    mask = np.zeros(size, dtype=np.int8)  # 0: body, else index of the reason + 1
    reasons = ["contents", "header", "nav", "links", "repeated"]
    for a, b, why in marks:
        mask[a:b] = reasons.index(why) + 1

    m = max(0, size - n + 1)
    inside = np.zeros(m, dtype=bool)  # gram i lies within one region
    good = np.zeros(m, dtype=bool)  # ... and occurs in the reference body
    for a, b in region_spans:
        for i in range(a, max(a, b - n + 1)):
            inside[i] = True
            good[i] = stream[i : i + n] in body_grams
    inside_sum = np.concatenate(([0], np.cumsum(inside)))
    good_sum = np.concatenate(([0], np.cumsum(good)))
    region_starts = [a for a, _ in region_spans]

    def side_in_body(lo: int, hi: int) -> bool | None:
        """Whether most grams starting in [lo, hi) are body text; None when none lies within a region."""
        lo, hi = max(lo, 0), min(hi, m)
        k = inside_sum[hi] - inside_sum[lo] if hi > lo else 0
        return None if k == 0 else 2 * (good_sum[hi] - good_sum[lo]) >= k

    for text, why in furniture.items():
        if len(text) < MIN_FURNITURE_CHARS:
            continue
        start = stream.find(text)
        while start != -1:
            end = start + len(text)
            # Body where it stands when the text on either side of it continues as in the reference body.
            left = side_in_body(start - n + 1, start)  # grams crossing the occurrence's start
            right = side_in_body(end - n + 1, end)  # grams crossing its end
            if left is None and right is None:
                k = np.searchsorted(region_starts, start, side="right") - 1
                a, b = region_spans[k]
                hit = stream[a:b] not in body.stream
            else:
                hit = not (left or right)
            if hit:
                span = mask[start:end]
                span[span == 0] = reasons.index(why) + 1
            start = stream.find(text, start + 1)

    flagged = mask > 0
    by_reason = {r: int((mask == i + 1).sum()) for i, r in enumerate(reasons) if (mask == i + 1).any()}
    examples: list[tuple[int, str]] = []
    for a, b, raw in line_spans:
        k = int(flagged[a:b].sum())
        if k >= 4 and k >= 0.5 * (b - a):
            examples.append((k, " ".join(raw.split())[:120]))
    seen: set[str] = set()
    unique = []
    for _, text in sorted(examples, key=lambda e: -e[0]):
        if text not in seen:
            seen.add(text)
            unique.append(text)
    total = int(flagged.sum())
    return Furniture(total / indexed_chars if indexed_chars else 0.0, total, indexed_chars, by_reason, unique[:6])


def furniture_strings(lines: Sequence[RefLine]) -> dict[str, str]:
    """Normalised furniture lines and fields of a reference, with the rule that found them."""
    out: dict[str, str] = {}
    for line in lines:
        if line.reason is None or not line.norm:
            continue
        out.setdefault(line.norm, line.reason)
        for f in fields(line.text):
            norm = normalize(f)
            if norm and not (line.reason == "header" and _is_page_field(f)):
                out.setdefault(norm, line.reason)
    return out


# ---------------------------------------------------------------------------------------------------------
# Loading: ours (as ``rag-app ingest``) and LangChain's
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Indexed:
    regions: list[str]  # indexed text, each character once
    extra: list[str]  # text that reaches the index beside the chunk text (headings, title)
    chunks: int
    tiny: int
    seconds: float


def make_chunker():
    from ingest.chunking import Chunker, load_tokenizer, read_max_seq_length
    from rag_app.config import Settings
    from retrievers.model_names import resolve_model

    settings = Settings()
    folder = resolve_model(settings.retrieval.embedder).path
    max_tokens = read_max_seq_length(folder) or 512
    chunker = Chunker(load_tokenizer(folder), chunk_size=settings.ingest.chunk_size,
                      chunk_overlap=settings.ingest.chunk_overlap, max_tokens=max_tokens)
    return chunker, f"{settings.retrieval.embedder} ({folder.name}), chunk_size={settings.ingest.chunk_size}, " \
                    f"chunk_overlap={settings.ingest.chunk_overlap}, max_tokens={max_tokens}"


def index_ours(path: Path, chunker) -> Indexed:
    """Load and chunk ``path`` as ``Ingestor._ingest_one`` does; merge the chunks' spans."""
    from ingest.chunking import HEADING_SEPARATOR
    from ingest.loaders import open_file

    t0 = time.perf_counter()
    opened = open_file(path, source=path.name)
    blocks = []

    def tee():
        for block in opened.blocks:
            blocks.append(block)
            yield block

    chunks = list(chunker.iter_chunks(tee(), source=opened.source, file_type=opened.file_type, title=lambda: opened.title))
    seconds = time.perf_counter() - t0
    text = "\n\n".join(b.text for b in blocks)
    spans = []
    exact = True
    for doc in chunks:
        a, b = doc.metadata["start_index"], doc.metadata["end_index"]
        if text[a:b] != doc.page_content:
            exact = False
            break
        spans.append((a, b))
    regions: list[str] = []
    if exact:
        spans.sort()
        merged: list[list[int]] = []
        for a, b in spans:
            if merged and (a <= merged[-1][1] or not text[merged[-1][1] : a].strip()):
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        regions = [text[a:b] for a, b in merged]
    else:  # should not happen (the chunker's contract); count chunk texts as they are
        warnings.warn(f"{path.name}: chunk offsets do not match the loaded text; using chunk texts", stacklevel=1)
        regions = [d.page_content for d in chunks]
    extra: set[str] = set()
    for doc in chunks:
        if doc.metadata.get("title"):
            extra.add(doc.metadata["title"])
        extra.update(h for h in str(doc.metadata.get("heading", "")).split(HEADING_SEPARATOR) if h.strip())
    tiny = sum(1 for d in chunks if len(d.page_content.split()) < TINY_WORDS)
    return Indexed(regions, sorted(extra), len(chunks), tiny, seconds)


def index_langchain(path: Path, fmt: str) -> Indexed:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_community.document_loaders import BSHTMLLoader, PyPDFLoader
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        t0 = time.perf_counter()
        loader = PyPDFLoader(str(path)) if fmt == "pdf" else BSHTMLLoader(str(path), open_encoding="utf-8")
        docs = loader.load()
        seconds = time.perf_counter() - t0
        chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    tiny = sum(1 for d in chunks if len(d.page_content.split()) < TINY_WORDS)
    return Indexed([d.page_content for d in docs], [], len(chunks), tiny, seconds)


# ---------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------
def load_references(corpus: Path, entries: list[dict]) -> dict[str, list[RefLine]]:
    """Each document's reference lines, furniture classified (HTML per document set)."""
    refs: dict[str, list[RefLine]] = {}
    html_sets: dict[str, dict[str, list[RefLine]]] = defaultdict(dict)
    for e in entries:
        if e["format"] == "pdf":
            refs[e["id"]] = parse_pdf_reference((corpus / e["reference"]).read_text(encoding="utf-8", errors="replace"))
        else:
            name = e.get("reference_links") or e["reference"]
            lines = parse_marked((corpus / name).read_text(encoding="utf-8", errors="replace"))
            refs[e["id"]] = lines
            html_sets[e["set"]][e["id"]] = lines
    for pages in html_sets.values():
        classify_html(pages)
    return refs


def evaluate(corpus: Path, entries: list[dict], progress=None) -> tuple[list[dict], str]:
    # References of whole sets are read even with --only: the "repeated" rule needs every page of a set.
    manifest = json.loads((corpus / "manifest.json").read_text())["documents"]
    wanted_sets = {e["set"] for e in entries}
    refs = load_references(corpus, [e for e in manifest if e["set"] in wanted_sets])
    chunker, chunker_desc = make_chunker()
    rows = []
    for e in entries:
        if progress:
            progress(e["id"])
        lines = refs[e["id"]]
        body = Body.from_lines(lines)
        furn = furniture_strings(lines)
        ref_total = sum(len(line.norm) for line in lines)
        removed = Counter()
        for line in lines:
            if line.reason:
                removed[line.reason] += len(line.norm)
        row = {
            "id": e["id"], "set": e["set"], "generator": e["generator"], "format": e["format"],
            "package": e["package"], "version": e["version"],
            "body_chars": len(body.stream),
            "reference_furniture": {k: v / ref_total for k, v in removed.items()} if ref_total else {},
        }
        path = corpus / e["document"]
        for side in ("ours", "langchain"):
            try:
                indexed = index_ours(path, chunker) if side == "ours" else index_langchain(path, e["format"])
            except Exception as exc:  # a loader that fails on a document: recall 0, and say why
                row[side] = {"error": f"{type(exc).__name__}: {exc}"[:300], "recall": 0.0, "reached_chars": 0,
                             "furniture": 0.0, "furniture_chars": 0, "indexed_chars": 0, "chunks": 0, "tiny_chunks": 0}
                continue
            rec = content_recall(body, [*indexed.regions, *indexed.extra])
            fur = furniture_share(indexed.regions, furn, body)
            row[side] = {
                "recall": rec.recall,
                "reached_chars": int(rec.covered.sum()),
                "furniture": fur.share,
                "furniture_chars": fur.furniture_chars,
                "indexed_chars": fur.indexed_chars,
                "furniture_by_rule": fur.by_reason,
                "chunks": indexed.chunks,
                "tiny_chunks": indexed.tiny,
                "load_seconds": round(indexed.seconds, 3),
                "lost": lost_lines(body, rec),
                "furniture_examples": fur.examples,
            }
        rows.append(row)
    return rows, chunker_desc


def summarize(rows: list[dict]) -> list[dict]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["generator"]].append(r)
    out = []
    for gen, rs in groups.items():
        body = sum(r["body_chars"] for r in rs)
        entry = {"generator": gen, "documents": len(rs), "body_chars": body}
        for side in ("ours", "langchain"):
            reached = sum(r[side]["reached_chars"] for r in rs)
            fchars = sum(r[side]["furniture_chars"] for r in rs)
            ichars = sum(r[side]["indexed_chars"] for r in rs)
            worst = min(rs, key=lambda r: r[side]["recall"])
            entry[side] = {
                "recall": reached / body if body else 1.0,
                "worst_recall": worst[side]["recall"],
                "worst_document": worst["id"],
                "furniture": fchars / ichars if ichars else 0.0,
                "chunks": sum(r[side]["chunks"] for r in rs),
                "tiny_chunks": sum(r[side]["tiny_chunks"] for r in rs),
            }
        entry["recall_met"] = entry["ours"]["recall"] >= RECALL_TARGET
        entry["furniture_met"] = entry["ours"]["furniture"] <= FURNITURE_TARGET
        out.append(entry)
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def report(rows: list[dict], generators: list[dict], chunker_desc: str, console) -> None:
    from rich.table import Table

    def mark(ok: bool) -> str:
        return "[green]yes[/]" if ok else "[red]no[/]"

    def rec(x: float) -> str:
        return f"[red]{x:.3f}[/]" if x < RECALL_TARGET else f"{x:.3f}"

    console.print(f"ours: open_file + Chunker({chunker_desc}); LangChain: BSHTMLLoader / PyPDFLoader; "
                  f"character {N}-grams of NFKC-casefolded letters and digits")
    t = Table(title="Extraction per document (recall: share of the reference body reached; furniture: share of indexed text)")
    for col in ("generator", "document", "body kchars", "ref. furniture", "recall ours", "recall LC",
                "furniture ours", "furniture LC", "chunks ours", "tiny", "chunks LC"):
        t.add_column(col, justify="left" if col in ("generator", "document") else "right")
    for r in rows:
        o, lc = r["ours"], r["langchain"]
        t.add_row(r["generator"], r["id"].split("/", 1)[1] if r["set"] in r["generator"] else r["id"],
                  f"{r['body_chars'] / 1000:.1f}", _pct(sum(r["reference_furniture"].values())),
                  rec(o["recall"]) + (" [red]![/]" if "error" in o else ""), rec(lc["recall"]),
                  _pct(o["furniture"]), _pct(lc["furniture"]), str(o["chunks"]), str(o["tiny_chunks"]), str(lc["chunks"]))
    console.print(t)

    t = Table(title=f"Per generator (pooled over its documents); targets: recall >= {RECALL_TARGET}, furniture <= {_pct(FURNITURE_TARGET)}")
    for col in ("generator", "docs", "recall ours", "worst doc ours", "recall LC", "furniture ours", "furniture LC",
                "chunks ours", "tiny", "chunks LC", "recall met", "furniture met"):
        t.add_column(col, justify="left" if col == "generator" else "right")
    for g in generators:
        o, lc = g["ours"], g["langchain"]
        t.add_row(g["generator"], str(g["documents"]), rec(o["recall"]), f"{o['worst_recall']:.3f}", rec(lc["recall"]),
                  _pct(o["furniture"]), _pct(lc["furniture"]), str(o["chunks"]), str(o["tiny_chunks"]),
                  str(lc["chunks"]), mark(g["recall_met"]), mark(g["furniture_met"]))
    console.print(t)
    worst = min(rows, key=lambda r: r["ours"]["recall"])
    console.print(f"worst document (ours): [bold]{worst['id']}[/] ({worst['generator']}), recall {worst['ours']['recall']:.3f}; "
                  f"LangChain on it: {worst['langchain']['recall']:.3f}")
    met_r = sum(g["recall_met"] for g in generators)
    met_f = sum(g["furniture_met"] for g in generators)
    console.print(f"targets met (ours): recall on {met_r}/{len(generators)} generators, furniture on {met_f}/{len(generators)}")
    errors = [(r["id"], side, r[side]["error"]) for r in rows for side in ("ours", "langchain") if "error" in r[side]]
    for doc, side, err in errors:
        console.print(f"[red]{side} failed on {doc}[/]: {err}")

    console.rule("Lost body text (ours), worst documents first")
    for r in sorted(rows, key=lambda r: r["ours"]["recall"]):
        if r["ours"]["recall"] >= 0.999 or not r["ours"].get("lost"):
            continue
        console.print(f"[bold]{r['id']}[/] recall {r['ours']['recall']:.3f}")
        for item in r["ours"]["lost"][:4]:
            console.print(f"   - {item['missed_chars']:5d}  {item['text']}", markup=False, highlight=False)
    console.rule("Furniture in our chunks, most first")
    for r in sorted(rows, key=lambda r: -r["ours"]["furniture"]):
        if r["ours"]["furniture"] <= FURNITURE_TARGET:
            continue
        rules = ", ".join(f"{k} {_pct(v / max(1, r['ours']['indexed_chars']))}" for k, v in r["ours"]["furniture_by_rule"].items())
        console.print(f"[bold]{r['id']}[/] furniture {_pct(r['ours']['furniture'])} ({rules})")
        for text in r["ours"]["furniture_examples"][:3]:
            console.print(f"   - {text}", markup=False, highlight=False)


def bar_chart(generators: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [g["generator"] for g in generators]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar(x - 0.2, [g["ours"]["recall"] for g in generators], 0.4, label="ours (rag-app ingest)")
    ax.bar(x + 0.2, [g["langchain"]["recall"] for g in generators], 0.4, label="LangChain loaders")
    ax.axhline(RECALL_TARGET, color="red", linestyle="--", linewidth=1, label=f"target {RECALL_TARGET}")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("content recall")
    ax.set_ylim(min(0.5, min(g["ours"]["recall"] for g in generators) - 0.05), 1.01)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"corpus folder (default {DEFAULT_CORPUS})")
    parser.add_argument("--json", type=Path, help="write every figure, lost lines and furniture examples here")
    parser.add_argument("--png", type=Path, help="write a bar chart of recall per generator here")
    parser.add_argument("--only", action="append", default=[], help="documents whose id contains this (repeatable)")
    args = parser.parse_args(argv)
    console = Console(width=200) if not sys.stdout.isatty() else Console()
    manifest_path = args.corpus / "manifest.json"
    if not manifest_path.exists():
        console.print(f"[red]no corpus at {args.corpus}[/]: run scripts/build_extraction_corpus.py --out {args.corpus}")
        return 2
    entries = json.loads(manifest_path.read_text())["documents"]
    if args.only:
        entries = [e for e in entries if any(s in e["id"] for s in args.only)]
    warnings.filterwarnings("ignore", message=".*XML document.*")  # bs4's XMLParsedAsHTMLWarning on XHTML pages
    t0 = time.perf_counter()
    rows, chunker_desc = evaluate(args.corpus, entries, progress=lambda d: console.print(f"[dim]{d}[/]", highlight=False))
    generators = summarize(rows)
    report(rows, generators, chunker_desc, console)
    console.print(f"{len(rows)} documents in {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"n": N, "chunker": chunker_desc, "targets": {"recall": RECALL_TARGET,
                             "furniture": FURNITURE_TARGET}, "generators": generators, "documents": rows}, indent=1))
    if args.png:
        bar_chart(generators, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""PDF: text per page that reads well, the heading path, and clear errors.

Extraction (``pdf_extractor``):

* ``"pypdfium2"``: PDFium's text page. Keeps the spaces between words where pypdf loses them (fonts whose
  declared space width doesn't match the gaps), gives each line's position and glyph height, which give
  paragraphs (vertical gaps) and headings (taller lines).
* ``"pypdf"``: pypdf's plain extraction. No paragraph breaks, lines break at every font change.
* ``"pypdf-layout"``: pypdf's layout mode; blank lines become paragraph breaks.
* ``"auto"`` (default, see ``benchmarks/pdf_extraction.py``): PDFium per page; where a page's words look
  glued together (:func:`~ingest.loaders.clean.looks_glued`) or PDFium fails on the page, pypdf plain and
  layout are tried too and the text with the best spacing wins (PDFium on a tie).

Clean-up, in order (nothing a reader of the body sees is dropped):

1. running headers, footers and page numbers: lines at the top/bottom of ≥ 60 % of the pages after
   normalising digits, lines holding the page's printed number (TeX's "CHAPTER 5. SOFTWARE … 45", which
   change with the chapter), lines repeated at the same edge of three pages within ten; only when set apart
   from the text by a paragraph break, and never so that a page loses its body text
   (:func:`~ingest.loaders.clean.repeated_edge_lines`);
2. contents, list-of-tables/figures and index pages: their entry lines (dot leaders before a page number,
   numbered titles ending in one, "term, 12, 40") and titles (:func:`~ingest.loaders.clean.contents_lines`);
3. lines are grouped into paragraphs; words broken at line ends are joined
   (:func:`~ingest.loaders.clean.dehyphenate`, with the document's own hyphenated words as evidence);
4. a paragraph that runs over a page break is joined into one block (the page it starts on), and a page's
   text under a heading shorter than :data:`MIN_FRAGMENT_CHARS` joins the same heading's text on the page
   before or after; a "Chapter 4" / "Appendix A" line above an outline title is part of the heading.

Headings: from the outline (bookmarks) when there is one: a block gets the path of the nearest outline
entry at or before it; where the entry's title is found on its page the page is split there (and the
title line leaves the body text, its printed section number joining the title: "3.1 Which Languages to
Use" for the bookmark "Which Languages to Use"), otherwise at the destination's position when the outline gives one
and the extractor gives line positions (PDFium), otherwise at the top of the page (after the entries
found before it on that page). Without an outline, from the layout (PDFium only): a line whose glyphs
are ≥ 10 % taller than the body text's most common height is a heading; heading levels rank the distinct
heights.

OCR (:mod:`ingest.loaders.ocr`, ``ocr``): a page with no text but something drawn (a scan) is rendered at 300 dpi
and read by Tesseract, one page at a time, when Tesseract is installed; its lines keep Tesseract's paragraphs
and positions, so clean-up and layout headings apply to them as to text pages. The warnings say which pages
were read by OCR ("pages 2-3 read by OCR (Tesseract 5.3.0, language eng)"), and
:attr:`PdfText.ocr_pages` lists them. Without Tesseract (or with ``ocr`` off) such pages are named in a
warning with how to enable OCR, and a file with no text anywhere fails saying the same.

Limits: pages follow PDFium's reading order (content-stream order:
multi-column text stays in columns, but a box drawn late, e.g. some code blocks in wkhtmltopdf output,
comes late); code indentation and tables are flattened to lines; layout headings need PDFium; a
paragraph running over a page break is joined only when the next page starts in lower case; an outline
title is matched at its first occurrence on its page, so a table of contents on the same page as the
heading can take the match; a table's header row repeated at the top of its pages goes with the headers.

Errors: encrypted without/with a wrong password, damaged files, no text at all (even after OCR),
all as :class:`~ingest.types.LoadError` with one line saying what to do. PDFium is not thread-safe: all PDFium
work holds a module lock, so parallel ingestion of PDFs is serialised there.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from ingest.loaders.clean import (
    MAX_BLOCK_CHARS,
    HyphenationVocabulary,
    contents_lines,
    dehyphenate,
    glued_ratio,
    looks_glued,
    normalize_line,
    repeated_edge_lines,
    split_long,
)
from ingest.loaders.ocr import (
    OcrError,
    OcrLine,
    OcrOptions,
    OcrUnavailable,
    find_tesseract,
    ocr_png,
    page_ranges,
    render_page,
)
from ingest.types import LoadError, TextBlock

__all__ = [
    "DEFAULT_PDF_EXTRACTOR",
    "MIN_FRAGMENT_CHARS",
    "PDF_EXTRACTORS",
    "PdfExtractor",
    "PdfText",
    "extract_pdf",
]

PdfExtractor = Literal["auto", "pypdfium2", "pypdf", "pypdf-layout"]
PDF_EXTRACTORS: tuple[str, ...] = get_args(PdfExtractor)
#: Chosen by measurement: see the module docstring and ``benchmarks/pdf_extraction.py``.
DEFAULT_PDF_EXTRACTOR: PdfExtractor = "auto"

#: How a page read by OCR is named in :attr:`PdfText.extractor_per_page`.
OCR_EXTRACTOR = "tesseract"
_PDFIUM_LOCK = threading.RLock()
_HEADING_RATIO = 1.1  # a heading's glyphs are at least this much taller than the body's
_PARAGRAPH_GAP = 0.6  # vertical gap between lines, in line heights, that starts a new paragraph
_MAX_HEADING_CHARS = 200
_CHAPTER_LABEL = re.compile(
    r"^(?:chapter|part|appendix|book|lesson|unit)\s+(?:\d+|[ivxlcdm]+|[a-z])\.?$", re.I
)
#: A page's run of text under one heading shorter than this is merged with the same heading's text on the
#: page before (or after): the tail of a paragraph, a stray label, never a chunk of its own.
MIN_FRAGMENT_CHARS = 50


@dataclass
class _Line:
    text: str
    height: float | None = None  # glyph-box height of the line's first and last characters (pt), if known
    top: float | None = None
    bottom: float | None = None
    new_paragraph: bool = False  # a paragraph starts here (blank line before it, or a vertical gap)
    heading_level: int | None = None


@dataclass
class _OutlineEntry:
    level: int  # 1 = top
    title: str
    page: int  # 0-based
    y: float | None = None  # where on the page the destination points (PDF units, from the bottom), if known


@dataclass
class PdfText:
    """What :func:`extract_pdf` returns: blocks and what was learnt on the way."""

    blocks: list[TextBlock]
    pages: int
    title: str | None = None
    warnings: list[str] = field(default_factory=list)
    extractor_per_page: list[str] = field(default_factory=list)  # which extractor produced each page
    ocr_pages: list[int] = field(default_factory=list)  # 1-based numbers of the pages read by OCR


# ----------------------------------------------------------------------------------------- extraction
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _pdfium_lines(page) -> list[_Line]:  # pypdfium2.PdfPage
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        lines: list[_Line] = []
        start = 0
        for m in [*_LINE_BREAK.finditer(text), None]:
            end = m.start() if m is not None else len(text)
            raw = text[start:end]
            stripped = raw.strip()
            if stripped:
                first = start + (len(raw) - len(raw.lstrip()))
                last = start + len(raw.rstrip()) - 1
                boxes = []
                for ti in (first, last):
                    ci = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage.raw, ti)
                    if ci >= 0:
                        boxes.append(textpage.get_charbox(ci, loose=True))  # (left, bottom, right, top)
                heights = [b[3] - b[1] for b in boxes if b[3] > b[1]]
                lines.append(
                    _Line(
                        normalize_line(raw),
                        height=min(heights) if heights else None,
                        top=max(b[3] for b in boxes) if boxes else None,
                        bottom=min(b[1] for b in boxes) if boxes else None,
                    )
                )
            start = m.end() if m is not None else len(text)
    finally:
        textpage.close()
    _mark_paragraphs_by_geometry(lines)
    return lines


def _mark_paragraphs_by_geometry(lines: list[_Line]) -> None:
    prev: _Line | None = None
    for line in lines:
        line.new_paragraph = prev is None or _starts_paragraph(prev, line)
        prev = line


def _starts_paragraph(prev: _Line, line: _Line) -> bool:
    """A vertical gap of more than ``_PARAGRAPH_GAP`` line heights, a change of glyph height (heading/body),
    or a jump back up the page (a new column or box) starts a paragraph; without positions, nothing does."""
    if (
        line.height is None
        or line.top is None
        or prev.height is None
        or prev.top is None
        or prev.bottom is None
    ):
        return False
    gap = prev.bottom - line.top
    size_change = abs(line.height - prev.height) > 0.08 * max(line.height, prev.height)
    moved_up = line.top > prev.top + 0.5 * prev.height
    return gap > _PARAGRAPH_GAP * min(line.height, prev.height) or size_change or moved_up


def _pypdf_lines(page, layout: bool) -> list[_Line]:  # pypdf.PageObject
    text = page.extract_text(extraction_mode="layout") if layout else page.extract_text()
    lines: list[_Line] = []
    blank = True
    for raw in text.split("\n"):
        line = normalize_line(raw)
        if not line:
            blank = True
            continue
        lines.append(_Line(line, new_paragraph=not lines or (layout and blank)))
        blank = False
    return lines


def _page_text(lines: list[_Line]) -> str:
    return "\n".join(line.text for line in lines)


# ------------------------------------------------------------------------------------------- opening
#: A PDF that cannot be parsed: damaged, or cut short (a copy or a sync still writing it).
DAMAGED_PDF = ("damaged PDF that cannot be parsed: if it is still being copied or synced, ingest again once that is "
               "done; else re-export it or repair it (e.g. qpdf in.pdf out.pdf)")


def _open_pdfium(path: Path, source: str, password: str | None):  # pypdfium2.PdfDocument
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        return pdfium.PdfDocument(path, password=password)
    except pdfium.PdfiumError as e:
        code = getattr(e, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            if password is None:
                raise LoadError(source, "encrypted PDF: pass its password with --pdf-password") from None
            raise LoadError(source, "wrong password for this encrypted PDF (check --pdf-password)") from None
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise LoadError(
                source, "PDF uses an unsupported encryption scheme; decrypt it first (e.g. qpdf)"
            ) from None
        if code == pdfium_c.FPDF_ERR_FILE:
            raise LoadError(source, "cannot read the file; check it exists and is readable") from None
        raise LoadError(source, DAMAGED_PDF) from None


def _outline(doc) -> list[_OutlineEntry]:  # pypdfium2.PdfDocument
    """Outline entries with a destination page, in document order (levels 1-based)."""
    import pypdfium2.raw as pdfium_c

    entries: list[_OutlineEntry] = []
    for bookmark in doc.get_toc(max_depth=16):
        title = " ".join((bookmark.get_title() or "").split())
        dest = pdfium_c.FPDFBookmark_GetDest(doc.raw, bookmark.raw)
        if not dest:  # a GoTo action instead of a plain destination
            action = pdfium_c.FPDFBookmark_GetAction(bookmark.raw)
            dest = pdfium_c.FPDFAction_GetDest(doc.raw, action) if action else None
        page = pdfium_c.FPDFDest_GetDestPageIndex(doc.raw, dest) if dest else -1
        if title and page >= 0:
            entries.append(_OutlineEntry(bookmark.level + 1, title, page, _dest_y(dest)))
    return entries


def _dest_y(dest) -> float | None:  # FPDF_DEST
    import ctypes

    import pypdfium2.raw as pdfium_c

    has = [pdfium_c.FPDF_BOOL() for _ in range(3)]
    xyz = [pdfium_c.FS_FLOAT() for _ in range(3)]
    ok = pdfium_c.FPDFDest_GetLocationInPage(dest, *map(ctypes.byref, has + xyz))
    return float(xyz[1].value) if ok and has[1].value else None


# ------------------------------------------------------------------------------------------ headings
_SECTION_NUMBER = re.compile(r"\s*((?:\d+(?:\.\d+)*|[IVXLC]+)\.?)\s+\D")


def _norm(text: str) -> str:
    text = re.sub(r"[\W_]+", " ", text.casefold().replace("\ufffe", "")).strip()
    return re.sub(r"^(?:\d+(?: \d+)*|[ivxlc]+) (?=\D)", "", text)  # leading section number


def _locate(title: str, lines: list[_Line], start: int) -> tuple[int, int] | None:
    """``(first, end)`` of the lines at or after ``start`` that spell ``title`` (a heading may wrap)."""
    want = _norm(title)
    if not want:
        return None
    for i in range(start, len(lines)):
        got = _norm(lines[i].text)
        if not got or not want.startswith(got):
            continue
        j = i + 1
        while got != want and j < len(lines) and j - i < 4:
            got = f"{got} {_norm(lines[j].text)}".strip()
            if not want.startswith(got):
                break
            j += 1
        if got == want:
            return i, j
    return None


def _line_below(y: float | None, lines: list[_Line], start: int) -> int:
    """Index of the first line at or after ``start`` that lies below height ``y`` (``start`` if unknown)."""
    if y is None:
        return start
    for i in range(start, len(lines)):
        top = lines[i].top
        if top is None:
            return start
        if top <= y + 1.0:
            return i
    return len(lines)


def _mark_layout_headings(pages: list[list[_Line]]) -> None:
    """Lines noticeably taller than the body text are headings; levels rank the distinct heights."""
    weights: dict[float, int] = {}
    for lines in pages:
        for line in lines:
            if line.height:
                key = round(line.height, 1)
                weights[key] = weights.get(key, 0) + len(line.text)
    if not weights:
        return
    body = max(weights, key=lambda h: weights[h])
    tall = sorted({round(h * 2) / 2 for h in weights if h >= body * _HEADING_RATIO}, reverse=True)
    rank = {h: min(i + 1, 6) for i, h in enumerate(tall)}
    for lines in pages:
        for line in lines:
            if (
                line.height
                and line.height >= body * _HEADING_RATIO
                and len(line.text) <= _MAX_HEADING_CHARS
                and re.search(r"[^\W\d_]", line.text)
            ):
                line.heading_level = rank[round(round(line.height, 1) * 2) / 2]


# ------------------------------------------------------------------------------------------- assembly
class _Assembler:
    """Turns cleaned lines into blocks, following the heading path."""

    def __init__(self, vocabulary: HyphenationVocabulary) -> None:
        self.vocabulary = vocabulary
        self.blocks: list[TextBlock] = []
        self.headings: list[tuple[int, str]] = []
        self._para: list[str] = []
        self._page = 0

    def heading(self, level: int, title: str) -> None:
        self.flush()
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, title))

    def line(self, text: str, page: int, new_paragraph: bool) -> None:
        if new_paragraph or page != self._page:
            self.flush()
        self._page = page
        self._para.append(text)

    def flush(self) -> None:
        if not self._para:
            return
        text = dehyphenate("\n".join(self._para), self.vocabulary)
        self._para = []
        path = tuple(t for _, t in self.headings)
        for piece in split_long(text, MAX_BLOCK_CHARS):
            if piece.strip():
                self.blocks.append(TextBlock(piece, path, self._page + 1))


def extract_pdf(
    path: Path,
    source: str,
    *,
    password: str | None = None,
    extractor: PdfExtractor = DEFAULT_PDF_EXTRACTOR,
    ocr: OcrOptions | None = None,
) -> PdfText:
    """Blocks of a PDF file (see the module docstring). Raises :class:`LoadError`.

    ``ocr`` says how pages without a text layer are read (default :class:`~ingest.loaders.ocr.OcrOptions`:
    Tesseract when it is installed, else a warning naming the pages).
    """
    if extractor not in PDF_EXTRACTORS:
        raise ValueError(f"pdf_extractor must be one of {', '.join(PDF_EXTRACTORS)}; got {extractor!r}")
    ocr = ocr if ocr is not None else OcrOptions()
    warnings: list[str] = []
    with _PDFIUM_LOCK:
        doc = _open_pdfium(path, source, password)
    try:
        with _PDFIUM_LOCK:
            n_pages = len(doc)
            try:
                title = (doc.get_metadata_dict().get("Title") or "").strip() or None
            except Exception:  # metadata is optional
                title = None
            try:
                outline = _outline(doc)
            except Exception as e:  # a broken outline must not lose the text
                outline = []
                warnings.append(f"outline unreadable, headings from the layout instead ({e})")
            pages, used = _extract_pages(doc, path, source, password, extractor, warnings)
            textless = [i for i, lines in enumerate(pages) if not lines and _has_content(doc, i)]
        no_text = _read_by_ocr(doc, textless, pages, used, ocr, source, warnings)
    finally:
        with _PDFIUM_LOCK:
            doc.close()

    if not any(pages):
        raise LoadError(source, no_text)
    pages = _drop_furniture(pages, source)

    vocabulary = HyphenationVocabulary(_page_text(lines) for lines in pages)
    out = _Assembler(vocabulary)
    if outline:
        _assemble_with_outline(out, pages, outline)
    else:
        _mark_layout_headings(pages)
        _assemble_with_layout(out, pages)
    out.flush()
    blocks = _merge_fragments(out.blocks)
    if title is None:
        title = next((t for lvl, t in _first_headings(outline, pages) if lvl == 1), None)
    ocr_pages = [i + 1 for i, name in enumerate(used) if name == OCR_EXTRACTOR]
    return PdfText(blocks, n_pages, title, warnings, used, ocr_pages)


# ------------------------------------------------------------------------------------------------- OCR
def _has_content(doc, i: int) -> bool:  # pypdfium2.PdfDocument; the caller holds the PDFium lock
    """Whether page ``i`` draws anything (an image, paths, a form): a page without text worth OCR."""
    import pypdfium2.raw as pdfium_c

    try:
        page = doc[i]
    except Exception:  # PDFium could not load the page: nothing to render either
        return False
    try:
        return pdfium_c.FPDFPage_CountObjects(page.raw) > 0
    finally:
        page.close()


def _read_by_ocr(
    doc,  # pypdfium2.PdfDocument
    textless: list[int],
    pages: list[list[_Line]],
    used: list[str],
    ocr: OcrOptions,
    source: str,
    warnings: list[str],
) -> str:
    """OCR the ``textless`` pages (0-based) in place, one at a time, adding what happened to ``warnings``.

    Returns the reason to give if no page of the file has text after this. Each page is rendered holding
    the PDFium lock and read by Tesseract without it, so other files' PDF work goes on meanwhile.
    """
    if not textless:
        return "no extractable text (every page is blank or unreadable)"
    named = page_ranges([i + 1 for i in textless])
    if ocr.mode == "off":
        warnings.append(f"{named}: no text layer (scanned?), not read because OCR is off (set ingest.ocr = \"auto\")")
        return (
            f"no extractable text ({named}: no text layer, scanned?) and OCR is off: set ingest.ocr = \"auto\" "
            "with Tesseract installed, or OCR it first (e.g. with ocrmypdf)"
        )
    try:
        tesseract = find_tesseract(ocr.tesseract_cmd, ocr.language)
    except OcrUnavailable as e:
        if ocr.mode == "on":
            raise LoadError(
                source, f"{named}: no text layer and ingest.ocr = \"on\", but {e.reason}; {e.fix}"
            ) from None
        warnings.append(f"{named}: no text layer (scanned?), not read: {e.reason}; to OCR them, {e.fix}")
        return f"no extractable text ({named}: no text layer, scanned?): {e.reason}; to OCR them, {e.fix}"
    read: list[int] = []
    empty: list[int] = []
    for i in textless:
        try:
            with _PDFIUM_LOCK:
                page = doc[i]
                try:
                    width, height = page.get_size()
                    png, scale = render_page(page, ocr.dpi)
                finally:
                    page.close()
            lines = ocr_png(png, ocr.language, tesseract, ocr.timeout_s)
        except OcrError as e:
            warnings.append(f"page {i + 1}: OCR failed ({e})")
            continue
        except Exception as e:  # PDFium could not render the page: one page must not lose the rest
            warnings.append(f"page {i + 1}: could not be rendered for OCR ({type(e).__name__}: {e})")
            continue
        del png
        pages[i] = _ocr_lines(lines, height, scale)
        if pages[i]:
            used[i] = OCR_EXTRACTOR
            read.append(i + 1)
        else:
            empty.append(i + 1)
    if read:
        warnings.append(f"{page_ranges(read)} read by OCR (Tesseract {tesseract.version}, language {ocr.language})")
    if empty:
        warnings.append(f"{page_ranges(empty)}: no text layer, and OCR found no text")
    return f"no extractable text ({named}: no text layer, and OCR with Tesseract, language {ocr.language}, found none)"


def _ocr_lines(lines: list[OcrLine], page_height: float, scale: float) -> list[_Line]:
    """Tesseract's lines as :class:`_Line` with positions in PDF units (from the bottom, like PDFium's):
    a paragraph starts where Tesseract's does; the height is its font-size estimate (for layout headings)."""
    out: list[_Line] = []
    paragraph = None
    for line in lines:
        text = normalize_line(line.text)
        if not text:
            continue
        size = line.x_size if line.x_size else line.bottom - line.top
        out.append(
            _Line(
                text,
                height=size / scale,
                top=page_height - line.top / scale,
                bottom=page_height - line.bottom / scale,
                new_paragraph=line.paragraph != paragraph,
            )
        )
        paragraph = line.paragraph
    return out


def _continues(before: str, after: str) -> bool:
    """Whether ``after`` (the top of a page) carries on the sentence ``before`` (the end of the last page)."""
    return bool(before) and before.rstrip()[-1:] not in '.!?:;"”’)]。！？' and after.lstrip()[:1].islower()


def _merge_fragments(blocks: list[TextBlock]) -> list[TextBlock]:
    """Join a paragraph that runs over a page break (the end of a page with no sentence end, the next page
    starting in lower case, same heading) into one block on the page it starts on; and merge a page's text
    under a heading that is shorter than :data:`MIN_FRAGMENT_CHARS` into the same heading's text on the
    page before, else after."""
    out: list[TextBlock] = []
    for block in blocks:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.heading == block.heading
            and prev.page is not None
            and block.page is not None
            and block.page == prev.page + 1
            and _continues(prev.text, block.text)
            and len(prev.text) + len(block.text) < MAX_BLOCK_CHARS
        ):
            out[-1] = TextBlock(f"{prev.text}\n{block.text}", prev.heading, prev.page, kind=prev.kind)
            continue
        out.append(block)
    # sections (runs of one page and heading) too small to stand alone
    runs: list[list[int]] = []
    for i, block in enumerate(out):
        if runs and out[runs[-1][0]].page == block.page and out[runs[-1][0]].heading == block.heading:
            runs[-1].append(i)
        else:
            runs.append([i])
    texts = [b.text for b in out]  # with the fragments merged in so far (a run may pass them on)
    merged: set[int] = set()
    gone: set[int] = set()
    for r, run in enumerate(runs):
        text = "\n\n".join(texts[i] for i in run)
        if len(text) >= MIN_FRAGMENT_CHARS:
            continue
        heading = out[run[0]].heading
        before = runs[r - 1][-1] if r > 0 else None
        after = runs[r + 1][0] if r + 1 < len(runs) else None
        if before is not None and before not in gone and out[before].heading == heading:
            target, joined = before, f"{texts[before]}\n\n{text}"
        elif after is not None and out[after].heading == heading:
            target, joined = after, f"{text}\n\n{texts[after]}"
        else:
            continue  # alone under its heading: the heading's whole text
        if len(joined) <= MAX_BLOCK_CHARS:
            texts[target] = joined
            merged.add(target)
            gone.update(run)
    return [
        TextBlock(texts[i], b.heading, b.page, kind="text") if i in merged else b
        for i, b in enumerate(out)
        if i not in gone
    ]


def _paragraph_starts(lines: list[_Line]) -> set[int] | None:
    """Indexes of the lines that start a paragraph, or ``None`` where the extractor cannot tell (pypdf plain
    marks only a page's first line)."""
    starts = {i for i, line in enumerate(lines) if line.new_paragraph}
    if len(lines) > 1 and starts == {0} and all(line.top is None for line in lines):
        return None
    return starts


def _drop_furniture(pages: list[list[_Line]], source: str) -> list[list[_Line]]:
    """Pages without running headers/footers/page numbers (:func:`~ingest.loaders.clean.repeated_edge_lines`)
    and without contents, list-of-tables and index pages (:func:`~ingest.loaders.clean.contents_lines`).
    Contents are kept if nothing else would be left."""
    texts = [[line.text for line in lines] for lines in pages]
    drop = repeated_edge_lines(texts, breaks=[_paragraph_starts(lines) for lines in pages])
    pages = [
        [line for i, line in enumerate(lines) if i not in gone]
        for lines, gone in zip(pages, drop, strict=True)
    ]
    if not any(pages):  # repeated_edge_lines keeps body text, so only furniture was there
        raise LoadError(source, "only running headers, footers and page numbers on every page; no body text")
    contents = contents_lines([[line.text for line in lines] for lines in pages])
    kept = [
        [line for i, line in enumerate(lines) if i not in gone]
        for lines, gone in zip(pages, contents, strict=True)
    ]
    if not any(kept):
        return pages  # a document that is all entries (a price list, an index on its own): keep it
    for lines, gone in zip(kept, contents, strict=True):
        if gone and lines:
            lines[0].new_paragraph = True  # what follows a contents list starts afresh
    return kept


def _first_headings(outline: list[_OutlineEntry], pages: list[list[_Line]]) -> Iterable[tuple[int, str]]:
    for entry in outline:
        yield entry.level, entry.title
    for lines in pages:
        for line in lines:
            if line.heading_level is not None:
                yield line.heading_level, line.text


def _numbered_title(title: str, printed: list[_Line]) -> str:
    """An outline ``title`` with the section number that its printed heading lines start with ("3.1 Which
    Languages to Use" for the bookmark "Which Languages to Use"): the heading as a reader sees it."""
    m = _SECTION_NUMBER.match(" ".join(line.text for line in printed))
    if m is None or title.startswith(m.group(1)):
        return title
    return f"{m.group(1)} {title}"


def _assemble_with_outline(out: _Assembler, pages: list[list[_Line]], outline: list[_OutlineEntry]) -> None:
    by_page: dict[int, list[_OutlineEntry]] = {}
    for entry in sorted(outline, key=lambda e: e.page):  # stable: document order within a page
        by_page.setdefault(min(entry.page, len(pages) - 1), []).append(entry)
    for p, lines in enumerate(pages):
        cursor = 0
        starts: dict[int, list[tuple[_OutlineEntry, str, int]]] = {}  # line index -> headings starting there
        for entry in by_page.get(p, []):
            found = _locate(entry.title, lines, cursor)
            if found is None:
                at = _line_below(entry.y, lines, cursor)
                starts.setdefault(at, []).append((entry, entry.title, at))
                cursor = at
            else:
                first, end = found
                title = _numbered_title(entry.title, lines[first:end])
                # "Chapter 4" / "Appendix A" set above the title is part of the heading, not text
                if first > cursor and _CHAPTER_LABEL.match(lines[first - 1].text):
                    first -= 1
                starts.setdefault(first, []).append((entry, title, end))
                cursor = end
        skip_until = 0
        for i in range(len(lines) + 1):
            for entry, title, end in starts.get(i, []):
                out.heading(entry.level, title)
                skip_until = max(skip_until, end)
            if i == len(lines):
                break
            if i < skip_until:
                continue
            out.line(lines[i].text, p, lines[i].new_paragraph)


def _assemble_with_layout(out: _Assembler, pages: list[list[_Line]]) -> None:
    for p, lines in enumerate(pages):
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.heading_level is not None:
                parts = [line.text]
                j = i + 1
                # a heading that wraps: following lines of the same level with no paragraph gap
                while (
                    j < len(lines)
                    and lines[j].heading_level == line.heading_level
                    and not lines[j].new_paragraph
                ):
                    parts.append(lines[j].text)
                    j += 1
                out.heading(line.heading_level, " ".join(" ".join(parts).split()))
                i = j
                continue
            out.line(line.text, p, line.new_paragraph)
            i += 1


def _extract_pages(
    doc,  # pypdfium2.PdfDocument
    path: Path,
    source: str,
    password: str | None,
    extractor: PdfExtractor,
    warnings: list[str],
) -> tuple[list[list[_Line]], list[str]]:
    reader = None
    reader_error: str | None = None

    def pypdf_page(i: int, layout: bool) -> list[_Line]:
        nonlocal reader, reader_error
        if reader_error is not None:
            return []
        try:
            if reader is None:
                import pypdf

                reader = pypdf.PdfReader(path)
                if reader.is_encrypted:
                    reader.decrypt(password or "")
        except Exception as e:  # e.g. AES without the cryptography package
            reader_error = f"{type(e).__name__}: {e}"
            warnings.append(f"pypdf cannot open this PDF ({reader_error}); PDFium's text kept")
            return []
        try:
            return _pypdf_lines(reader.pages[i], layout)
        except Exception as e:  # pypdf raises many kinds; one page must not lose the rest
            warnings.append(f"page {i + 1}: pypdf could not extract text ({type(e).__name__}: {e})")
            return []

    pages: list[list[_Line]] = []
    used: list[str] = []
    for i in range(len(doc)):
        if extractor in ("pypdf", "pypdf-layout"):
            lines = pypdf_page(i, extractor == "pypdf-layout")
            if looks_glued(_page_text(lines)):
                warnings.append(f"page {i + 1}: words look run together; try pdf_extractor='auto'")
            pages.append(lines)
            used.append(extractor)
            continue
        pdfium_failed = False
        try:
            page = doc[i]
            try:
                lines = _pdfium_lines(page)
            finally:
                page.close()
        except Exception as e:
            warnings.append(f"page {i + 1}: PDFium could not extract text ({type(e).__name__}: {e})")
            lines, pdfium_failed = [], True
        name = "pypdfium2"
        text = _page_text(lines)
        # A page PDFium reads as empty has no text objects (a scan): pypdf would find nothing either.
        if extractor == "auto" and (pdfium_failed or looks_glued(text)):
            candidates = [(_spacing_score(text), 0, name, lines)]
            for rank, (alt, layout) in enumerate((("pypdf", False), ("pypdf-layout", True)), start=1):
                alt_lines = pypdf_page(i, layout)
                candidates.append((_spacing_score(_page_text(alt_lines)), -rank, alt, alt_lines))
            _, _, name, lines = max(candidates)  # best spacing; on a tie PDFium, then pypdf plain
            if looks_glued(_page_text(lines)):
                warnings.append(
                    f"page {i + 1}: words run together in every extractor (the PDF lacks spacing information)"
                )
        elif extractor == "pypdfium2" and looks_glued(text):
            warnings.append(f"page {i + 1}: words look run together; try pdf_extractor='auto'")
        pages.append(lines)
        used.append(name)
    if reader_error is not None and extractor in ("pypdf", "pypdf-layout"):
        raise LoadError(source, f"pypdf cannot read this PDF ({reader_error}); use pdf_extractor='auto'")
    fell_back = [i + 1 for i, name in enumerate(used) if extractor == "auto" and name != "pypdfium2"]
    if fell_back:
        warnings.append(f"{page_ranges(fell_back)}: extraction fell back to pypdf (PDFium's text was run together "
                        "or unreadable); check those pages read well")
    return pages, used


def _spacing_score(text: str) -> float:
    """Higher is better: 1 - glued share for pages with text, -1 for none."""
    return 1.0 - glued_ratio(text) if text.strip() else -1.0

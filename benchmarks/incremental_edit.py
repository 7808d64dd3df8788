"""What an edit costs: one paragraph changed in the middle of a long document, re-ingested into its index,
against a full ingest of the edited document into a fresh index, in the same process with the same model.

The document: the Debian Reference PDF (``--data``, default ``../shared/data/debian-reference/``: the first PDF
under it), 261 pages; without a PDF there, ~300 pages of seeded random words in chapters and sections. A PDF
cannot be edited honestly in place (nobody edits a content stream), so the benchmark takes the PDF's text as
``rag-app`` extracts it (blocks with their page and heading path), inserts one sentence after the first
sentence of the paragraph at the middle of the text (the nearest one of at least 300 characters), and writes
the original and the edited text in each ``--formats``:

* ``markdown``: headings as ``#`` lines, each block a paragraph (body lines Markdown would take for structure
  are indented four spaces, which the loader keeps as text): the edit touches one paragraph and nothing moves;
* ``pdf-pages``: a PDF made with fpdf2 (DejaVu Sans 9 pt, A4, outline entries for the headings), each source
  page starting a new page: an edit made in a PDF editor, which keeps the pages;
* ``pdf-reflow``: the same PDF with the text running on from page to page: a document re-exported from its
  source after the edit, where the text after the edit may move to other pages (the figures say how many
  pages' text changed).

Steps per format, each timed without model loading (both pipelines are built first):

1. ingest the original into a fresh store A (warms the model up; shown for reference);
2. ingest the edited file into A: chunks embedded (counted at the embedding call) and deleted, seconds;
3. ingest the edited file into a fresh store B: the full cost of the same content.

The check: A and B then hold the same chunk ids and texts. The ratio is step 3's time over step 2's.

Run: ``python benchmarks/incremental_edit.py [--data DIR_OR_PDF] [--formats markdown,pdf-pages,pdf-reflow]
[--sentences 1] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from faq_eval import machine_note, make_console, print_table, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "debian-reference"
INSERTED = "This sentence was inserted by the incremental edit benchmark, and only its section should change."
WORDS = ("system package network file user kernel service boot disk mount option command shell script archive "
         "mirror source update upgrade release security log process memory device driver module configure install "
         "remove keep check read write the a of to and in is for on with as by")
# Body lines the Markdown loader would take for structure: ATX headings, setext underlines, rules, fences.
_STRUCTURE = re.compile(r"^ {0,3}(?:#{1,6}(?:[ \t]|$)|=+[ \t]*$|-+[ \t]*$|[-*_](?:[ \t]*[-*_]){2,}[ \t]*$|`{3,}|~{3,})")


# ------------------------------------------------------------------------------------------- the document
Entry = tuple[int, tuple[str, ...], str]  # (page, heading path, paragraph text)


def entries_from_pdf(pdf: Path) -> tuple[list[Entry], int]:
    """The PDF's blocks as ``rag-app`` extracts them, and its page count."""
    from ingest.loaders import load_file

    loaded = load_file(pdf)
    return [(block.page or 1, block.heading, block.text) for block in loaded.blocks], loaded.pages or 0


def generated_entries(pages: int = 300, seed: int = 0) -> list[Entry]:
    """About ``pages`` pages (3,000 characters each) of seeded random prose in chapters and sections."""
    rng = random.Random(seed)
    words = WORDS.split()
    entries: list[Entry] = []
    size, chapter = 0, 0
    while size < pages * 3000:
        chapter += 1
        for section in range(1, 9):
            heading = (f"Chapter {chapter}", f"{chapter}.{section} Notes on {rng.choice(words)} {rng.choice(words)}")
            for _ in range(rng.randint(3, 6)):
                sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 18))).capitalize() + "."
                             for _ in range(rng.randint(3, 7))]
                text = " ".join(sentences)
                entries.append((size // 3000 + 1, heading, text))
                size += len(text)
    return entries


def edit_middle(entries: list[Entry], sentences: int = 1) -> tuple[list[Entry], int]:
    """``entries`` with ``sentences`` sentences inserted in the paragraph at the middle of the text (the nearest
    one of at least 300 characters with a sentence end), and that paragraph's index."""
    total = sum(len(text) for _, _, text in entries)
    position, middle = 0, 0
    for i, (_, _, text) in enumerate(entries):
        position += len(text)
        if position >= total / 2:
            middle = i
            break
    candidates = [i for i, (_, _, text) in enumerate(entries) if len(text) >= 300 and ". " in text]
    chosen = min(candidates, key=lambda i: abs(i - middle))
    page, heading, text = entries[chosen]
    first_end = text.index(". ") + 2
    edited = list(entries)
    edited[chosen] = (page, heading, text[:first_end] + " ".join([INSERTED] * sentences) + " " + text[first_end:])
    return edited, chosen


def write_markdown(entries: list[Entry], path: Path) -> None:
    """Headings as ``#`` lines where the path changes; each paragraph a Markdown paragraph (lines Markdown would
    take for structure indented four spaces, which the loader keeps as text)."""
    parts: list[str] = []
    path_now: tuple[str, ...] = ()
    for _, heading, text in entries:
        if heading != path_now:
            common = 0
            while common < min(len(path_now), len(heading)) and path_now[common] == heading[common]:
                common += 1
            parts.extend(f"{'#' * min(level + 1, 6)} {heading[level]}" for level in range(common, len(heading)))
            path_now = heading
        parts.append("\n".join("    " + line if _STRUCTURE.match(line) else line for line in text.split("\n")))
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def write_pdf(entries: list[Entry], path: Path, *, reflow: bool) -> None:
    """A PDF of ``entries`` made with fpdf2 (DejaVu Sans 9 pt on A4, headings 11 pt with outline entries).
    ``reflow=False``: each page of the source starts a new page, as an edit in a PDF editor keeps the pages;
    ``reflow=True``: the text runs on, as a document re-exported from its source after an edit."""
    import logging

    import matplotlib
    from fpdf import FPDF

    logging.getLogger("fpdf").setLevel(logging.ERROR)  # glyphs DejaVu Sans lacks (a few CJK examples)
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_font("DejaVu", fname=str(font))
    page_now: int | None = None
    path_now: tuple[str, ...] = ()
    for page, heading, text in entries:
        if page != page_now and (not reflow or page_now is None):
            pdf.add_page()
        page_now = page
        if heading != path_now:
            common = 0
            while common < min(len(path_now), len(heading)) and path_now[common] == heading[common]:
                common += 1
            pdf.set_font("DejaVu", size=11)
            for level in range(common, len(heading)):
                pdf.start_section(heading[level], level=level, strict=False)
                pdf.multi_cell(0, 5.5, heading[level], new_x="LMARGIN", new_y="NEXT")
            path_now = heading
        pdf.set_font("DejaVu", size=9)
        pdf.multi_cell(0, 4.2, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.output(str(path))


FORMATS = {
    "markdown": ("the same text as Markdown", ".md", write_markdown),
    "pdf-pages": ("the same text as a PDF made with fpdf2, a page per source page", ".pdf",
                  lambda entries, path: write_pdf(entries, path, reflow=False)),
    "pdf-reflow": ("the same text as a PDF made with fpdf2, reflowed after the edit", ".pdf",
                   lambda entries, path: write_pdf(entries, path, reflow=True)),
}


# ------------------------------------------------------------------------------------------------ ingest
class CountingEmbeddings:
    """Delegates to an embedding and counts the texts it embeds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.count = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.count += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def open_pipeline(db: Path) -> tuple[Any, CountingEmbeddings]:
    from rag_app.config import load_settings
    from rag_app.pipeline import build_pipeline

    settings = load_settings(index={"db": db, "collection": "bench"},  # the embedder only: no reranker to load
                             retrieval={"embedder": "minilm", "reranker": "", "mode": "dense"})
    pipeline = build_pipeline(settings, generator=False)
    vector_store = pipeline.ingestor().store.vector_store  # opens the writer: set-up, not timed
    counter = CountingEmbeddings(vector_store._embedding_function)
    vector_store.use_embedding(counter, vector_store._embed_text)
    return pipeline, counter


def ingest(pipeline: Any, counter: CountingEmbeddings, folder: Path) -> dict[str, Any]:
    before = counter.count
    start = time.perf_counter()
    report = pipeline.ingest([folder])
    seconds = time.perf_counter() - start
    if report.files_failed:
        raise SystemExit(f"ingest failed: {report.files_failed}")
    return {"seconds": seconds, "embedded": counter.count - before, "chunks_added": report.chunks_added,
            "chunks_deleted": report.chunks_deleted, "chunks_total": report.chunks_total}


def contents(pipeline: Any) -> dict[str, str]:
    got = pipeline.ingestor().store.vector_store.get(include=["documents"])
    return dict(zip(got["ids"], got["documents"], strict=True))


def run_format(name: str, original: list[Entry], edited: list[Entry], tmp: Path) -> dict[str, Any]:
    """Steps 1-3 for one format, each store and pipeline fresh."""
    _, suffix, write = FORMATS[name]
    folder = tmp / name / "docs"
    folder.mkdir(parents=True)
    versions = {"original": tmp / name / f"original{suffix}", "edited": tmp / name / f"edited{suffix}"}
    write(original, versions["original"])
    write(edited, versions["edited"])
    doc = folder / f"document{suffix}"
    a, count_a = open_pipeline(tmp / name / "a")
    b, count_b = open_pipeline(tmp / name / "b")
    with a, b:
        shutil.copyfile(versions["original"], doc)
        first = ingest(a, count_a, folder)
        shutil.copyfile(versions["edited"], doc)
        edit = ingest(a, count_a, folder)
        full = ingest(b, count_b, folder)
        same = contents(a) == contents(b)
    return {"initial": first, "edit": edit, "full": full, "speedup": full["seconds"] / edit["seconds"],
            "embedded_share": edit["embedded"] / max(1, full["embedded"]), "stores_match": same,
            "bytes": versions["edited"].stat().st_size,
            "pages_changed": pages_changed(*versions.values()) if suffix == ".pdf" else None}


def pages_changed(before: Path, after: Path) -> int:
    """Pages whose text differs between two PDFs (extra pages count as changed)."""
    import pypdfium2 as pdfium

    def texts(path: Path) -> list[str]:
        doc = pdfium.PdfDocument(path)
        try:
            out = []
            for i in range(len(doc)):
                page = doc[i]
                textpage = page.get_textpage()
                out.append(textpage.get_text_range())
                textpage.close()
                page.close()
            return out
        finally:
            doc.close()

    a, b = texts(before), texts(after)
    return sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="a PDF, or a folder with one under it (default: %(default)s); none: a generated document")
    parser.add_argument("--formats", default="markdown,pdf-pages,pdf-reflow",
                        help=f"comma-separated, of {', '.join(FORMATS)} (default: %(default)s)")
    parser.add_argument("--sentences", type=int, default=1,
                        help="sentences inserted (default 1; more lines push text onto later pages in pdf-reflow)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    console = make_console()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if unknown := [f for f in formats if f not in FORMATS]:
        parser.error(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")

    pdfs = [args.data] if args.data.suffix.lower() == ".pdf" else sorted(args.data.rglob("*.pdf")) if args.data.is_dir() else []
    if pdfs:
        entries, pages = entries_from_pdf(pdfs[0])
        what = f"{pdfs[0].name} ({pages} pages)"
    else:
        entries, pages = generated_entries(), 300
        what = "a generated document (~300 pages of 3,000 characters)"
        console.print(f"no PDF under {args.data}: {what}")
    edited, chosen = edit_middle(entries, args.sentences)
    size = sum(len(text) for _, _, text in entries)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in formats:
            results[name] = run_format(name, entries, edited, Path(tmp))

    rows = []
    for name, r in results.items():
        for step, label in (("initial", "1. original, fresh store (warm-up)"), ("edit", "2. edited, same store"),
                            ("full", "3. edited, fresh store (full)")):
            s = r[step]
            rows.append((f"{name}: {label}", s["embedded"], s["chunks_deleted"], s["chunks_total"], s["seconds"]))
    print_table(f"{args.sentences} sentence(s) inserted in one paragraph of {what}: {size / 1e6:.2f} MB of text, its paragraph {chosen} of "
                f"{len(entries)} (page {entries[chosen][0]})",
                ["format: ingest", "chunks embedded", "chunks deleted", "chunks in the index", "seconds"], rows, console)
    for name, r in results.items():
        console.print(f"{name} ({FORMATS[name][0]}): the edit re-embedded {r['edit']['embedded']} of "
                      f"{r['full']['embedded']} chunks ({r['embedded_share']:.1%}) in {r['edit']['seconds']:.2f} s "
                      f"against {r['full']['seconds']:.2f} s for a full ingest: {r['speedup']:.1f}x faster; "
                      + (f"pages whose text changed: {r['pages_changed']}; " if r["pages_changed"] is not None else "") +
                      f"both stores hold the same chunks: {'yes' if r['stores_match'] else 'NO'}.")
    note = machine_note()
    console.print(note)
    write_json(args.json, {"document": what, "sentences_inserted": args.sentences, "pages": pages, "characters": size, "paragraphs": len(entries),
                           "edited_paragraph": chosen, "edited_page": entries[chosen][0], "formats": results,
                           "machine": note})
    if not all(r["stores_match"] for r in results.values()):
        sys.exit("a store edited in place and a fresh store of the same file differ")


if __name__ == "__main__":
    main()

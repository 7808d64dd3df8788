"""PDF text extraction quality and speed: pypdf plain, pypdf layout, PDFium, and ``auto``, through our loader.

Ground truth: the python-faq corpus has each PDF's source page as HTML (``general.pdf`` ~ ``general.html``,
printed with wkhtmltopdf); the HTML loader's main text, headings included, is the reference. For each
extractor the script loads every PDF with ``load_file(..., pdf_extractor=...)`` (extraction plus our
clean-up: headers/footers, paragraphs, hyphenation, headings put back in the text) and prints, over all
PDFs (the PDFs also hold a table of contents that the HTML reference drops, which costs every row a little
precision alike):

* ``word F1``: F1 of the bag of words (``\\w+`` tokens, case-folded) against the HTML's: is the text there;
* ``in order``: share of the HTML's words recovered in order (longest matching subsequence by difflib);
* ``token F1`` / ``token R``: F1 and recall of whitespace-separated tokens (punctuation stripped at the
  ends): penalises words glued together ("Theofficialdocument") and torn apart ("help(L\\n.\\nappend)");
* ``glued``: share of letters in runs of ≥ 20 letters (what the ``auto`` extractor checks per page);
* ``pages/s``: best of ``--repeats`` timed loads.

``raw:`` rows are the libraries' own text without our clean-up, for reference. A last table repeats the
measure on a synthetic page whose font declares a wrong space width (built like ``tests/fixtures_docs.py``),
the failure users of pypdf report ("TheofficialdocumentgivinginstallationinstructionsistheDebian…").

Run: ``python benchmarks/pdf_extraction.py [--data DIR] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.loaders import PDF_EXTRACTORS, load_file  # noqa: E402
from ingest.loaders.clean import glued_ratio  # noqa: E402
from ingest.types import LoadedFile  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "python-faq" / "corpus"
_PUNCT = "\"'“”‘’.,;:!?()[]{}<>«»–—-"


def full_text(loaded: LoadedFile) -> str:
    """The file's text with its headings put back where they start (headings are metadata in blocks)."""
    out: list[str] = []
    previous: tuple[str, ...] = ()
    for block in loaded.blocks:
        if block.heading != previous:
            common = 0
            while (
                common < min(len(previous), len(block.heading)) and previous[common] == block.heading[common]
            ):
                common += 1
            out.extend(block.heading[common:])
            previous = block.heading
        out.append(block.text)
    return "\n\n".join(out)


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def space_tokens(text: str) -> list[str]:
    out = []
    for tok in text.casefold().split():
        tok = tok.strip(_PUNCT)
        if tok:
            out.append(tok)
    return out


def recall(reference: list[str], got: list[str]) -> float:
    return sum((Counter(reference) & Counter(got)).values()) / max(1, len(reference))


def f1(reference: list[str], got: list[str]) -> float:
    ref, hyp = Counter(reference), Counter(got)
    hit = sum((ref & hyp).values())
    if not hit:
        return 0.0
    p, r = hit / sum(hyp.values()), hit / sum(ref.values())
    return 2 * p * r / (p + r)


def in_order(reference: list[str], got: list[str]) -> float:
    matcher = difflib.SequenceMatcher(None, reference, got, autojunk=False)
    return sum(b.size for b in matcher.get_matching_blocks()) / max(1, len(reference))


def raw_text(path: Path, extractor: str) -> str:
    if extractor == "pypdfium2":
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(path)
        try:
            return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
        finally:
            doc.close()
    import pypdf

    reader = pypdf.PdfReader(path)
    mode = "layout" if extractor == "pypdf-layout" else "plain"
    return "\n".join(page.extract_text(extraction_mode=mode) for page in reader.pages)


def measure(
    pairs: list[tuple[Path, str, int]], run: Callable[[Path], str], repeats: int
) -> tuple[float, float, float, float, float, float]:
    """(word F1, in order, token F1, token recall, glued, pages/s) over all (pdf, reference, pages) pairs."""
    ref_words: list[str] = []
    got_words: list[str] = []
    ref_tokens: list[str] = []
    got_tokens: list[str] = []
    order_hits = 0.0
    texts = []
    for pdf, reference, _ in pairs:
        text = run(pdf)
        texts.append(text)
        r, g = words(reference), words(text)
        ref_words += r
        got_words += g
        order_hits += in_order(r, g) * len(r)
        ref_tokens += space_tokens(reference)
        got_tokens += space_tokens(text)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for pdf, _, _ in pairs:
            run(pdf)
        best = min(best, time.perf_counter() - t0)
    pages = sum(n for _, _, n in pairs)
    return (
        f1(ref_words, got_words),
        order_hits / max(1, len(ref_words)),
        f1(ref_tokens, got_tokens),
        recall(ref_tokens, got_tokens),
        glued_ratio("\n".join(texts)),
        pages / best,
    )


def table(title: str, pairs: list[tuple[Path, str, int]], repeats: int) -> None:
    print(f"\n{title}")
    print(
        f"{'extractor':<22} {'word F1':>8} {'in order':>9} {'token F1':>9} {'token R':>8} {'glued':>7} {'pages/s':>8}"
    )
    rows: list[tuple[str, Callable[[Path], str]]] = [
        (name, lambda p, name=name: full_text(load_file(p, p.parent, pdf_extractor=name)))
        for name in PDF_EXTRACTORS
    ]
    rows += [
        (f"raw:{name}", lambda p, name=name: raw_text(p, name))
        for name in ("pypdf", "pypdf-layout", "pypdfium2")
    ]
    for name, run in rows:
        wf1, order, tf1, trecall, glued, speed = measure(pairs, run, repeats)
        print(f"{name:<22} {wf1:>8.3f} {order:>9.3f} {tf1:>9.3f} {trecall:>8.4f} {glued:>7.3f} {speed:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with NAME.pdf + NAME.html pairs"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    pairs = []
    for pdf in sorted(args.data.glob("*.pdf")):
        html = pdf.with_suffix(".html")
        if html.exists():
            pages = load_file(pdf, args.data).pages or 0
            pairs.append((pdf, full_text(load_file(html, args.data)), pages))
    if not pairs:
        sys.exit(f"no PDF with a matching HTML page in {args.data}")
    names = ", ".join(p.name for p, _, _ in pairs)
    table(
        f"python-faq PDFs ({names}; {sum(n for *_, n in pairs)} pages) against their HTML",
        pairs,
        args.repeats,
    )

    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.fixtures_docs import GLUED_WORDS, build_glued_pdf
    except ImportError as e:  # fpdf2 is a dev dependency
        print(f"\n(synthetic glued-font page skipped: {e})")
        return
    with tempfile.TemporaryDirectory() as tmp:
        pdf = build_glued_pdf(Path(tmp) / "glued.pdf")
        table(
            "synthetic page, font with a wrong space width",
            [(pdf, " ".join(GLUED_WORDS * 3), 1)],
            args.repeats,
        )


if __name__ == "__main__":
    main()

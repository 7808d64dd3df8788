"""How to run Tesseract on scanned PDF pages: words recovered and seconds per page, on a generated scan.

The scan: ``--pages`` letter pages of body text (the Debian Reference's first chapter when ``--data`` has it,
else the sample manual), set in DejaVu Sans 11 pt at 300 dpi with a 14 pt heading per page, rotated 0.4°,
with grey noise, saved by Pillow as a PDF of JPEG page images (no text layer). The words drawn are the truth.

Engines, each on the same PDF, each page rendered by PDFium at 300 dpi grayscale where the engine does not
rasterise itself:

* ``tesseract program``: :func:`ingest.loaders.ocr.ocr_png`, the PNG piped to ``tesseract stdin stdout hocr``
  (one OpenMP thread, as ingest runs it); ``tesseract program, 2 threads``: the same, OpenMP's default;
* ``pytesseract``: ``pytesseract.image_to_pdf_or_hocr(image, extension="hocr")`` (temporary files around the same
  program), read by the same hOCR parser;
* ``ocrmypdf``: ``ocrmypdf -l eng --output-type pdf`` (``--ocrmypdf PROGRAM``; its own rasteriser and
  pre-processing), then its text layer read by ``ingest.loaders.pdf``.

Word recall: the share of the drawn words (casefolded, letters and digits) found in the output, counted with
multiplicity; precision: the share of output words that were drawn. Seconds per page are wall time, rendering
included. Run: ``python benchmarks/ocr_engines.py [--pages 6] [--repeats 3] [--omp] [--ocrmypdf PATH] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from faq_eval import machine_note, make_console, print_table, write_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "debian-reference" / "corpus"
DPI = 300


def _words(text: str) -> list[str]:
    return [w for w in (re.sub(r"\W+", "", t.casefold()) for t in text.split()) if w]


def source_paragraphs(data: Path) -> list[str]:
    from ingest.loaders import load_file

    chapter = data / "ch01.en.html"
    path = chapter if chapter.is_file() else ROOT / "rag_app" / "sample_data" / "manual.md"
    return [b.text.replace("\n", " ") for b in load_file(path).blocks if len(b.text) > 80]


def make_scan(paragraphs: list[str], pages: int, path: Path) -> list[str]:
    """Write the scanned PDF; return the words drawn on it."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font_path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    body = ImageFont.truetype(str(font_path), round(11 / 72 * DPI))
    head = ImageFont.truetype(str(font_path), round(14 / 72 * DPI))
    width, height, margin = round(8.5 * DPI), round(11 * DPI), DPI
    drawn: list[str] = []
    images = []
    queue = list(paragraphs)
    for number in range(1, pages + 1):
        image = Image.new("L", (width, height), 255)
        draw = ImageDraw.Draw(image)
        heading = f"Section {number}: notes on the system"
        draw.text((margin, margin), heading, font=head, fill=0)
        drawn.extend(heading.split())
        y = margin + round(14 / 72 * DPI * 2)
        line_h = round(11 / 72 * DPI * 1.4)
        while queue and y + line_h < height - margin:
            words = queue[0].split()
            line: list[str] = []
            while words and y + line_h < height - margin:
                if draw.textlength(" ".join([*line, words[0]]), font=body) > width - 2 * margin and line:
                    draw.text((margin, y), " ".join(line), font=body, fill=0)
                    drawn.extend(line)
                    y, line = y + line_h, []
                else:
                    line.append(words.pop(0))
            if line:
                draw.text((margin, y), " ".join(line), font=body, fill=0)
                drawn.extend(line)
                y += line_h
            if words:
                queue[0] = " ".join(words)  # the rest of the paragraph starts the next page
            else:
                queue.pop(0)
                y += line_h // 2
        image = image.rotate(0.4, resample=Image.Resampling.BICUBIC, fillcolor=255)
        noise = Image.effect_noise((width, height), 18).filter(ImageFilter.GaussianBlur(0.6))
        image = Image.blend(image, noise, 0.12).point(lambda v: 255 if v > 235 else v)
        images.append(image)
    images[0].save(path, save_all=True, append_images=images[1:], resolution=DPI, quality=75)
    return drawn


def _rendered(path: Path):
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(path)
    try:
        for i in range(len(doc)):
            page = doc[i]
            try:
                yield page
            finally:
                page.close()
    finally:
        doc.close()


def engine_program(path: Path, threads: int) -> str:
    from ingest.loaders.ocr import find_tesseract, ocr_png, render_page

    tesseract = find_tesseract("tesseract", "eng")
    os.environ["OMP_THREAD_LIMIT"] = str(threads)  # ocr_png passes it on (its default is 1)
    texts = []
    for page in _rendered(path):
        png, _ = render_page(page, DPI)
        texts.append("\n".join(line.text for line in ocr_png(png, "eng", tesseract)))
    return "\n".join(texts)


def engine_pytesseract(path: Path) -> str:
    import pytesseract

    from ingest.loaders.ocr import parse_hocr

    os.environ["OMP_THREAD_LIMIT"] = "1"
    texts = []
    for page in _rendered(path):
        bitmap = page.render(scale=DPI / 72, grayscale=True)
        image = bitmap.to_pil()
        hocr = pytesseract.image_to_pdf_or_hocr(image, lang="eng", extension="hocr").decode("utf-8")
        texts.append("\n".join(line.text for line in parse_hocr(hocr)))
    return "\n".join(texts)


def engine_ocrmypdf(path: Path, program: str) -> str:
    from ingest.loaders.ocr import OcrOptions
    from ingest.loaders.pdf import extract_pdf

    out = path.with_name("ocrmypdf-out.pdf")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    subprocess.run([program, "-q", "-l", "eng", "--output-type", "pdf", "--jobs", "1", str(path), str(out)],
                   check=True, env=env)
    return "\n\n".join(b.text for b in extract_pdf(out, out.name, ocr=OcrOptions(mode="off")).blocks)


def score(truth: list[str], text: str) -> tuple[float, float]:
    want, got = Counter(_words(" ".join(truth))), Counter(_words(text))
    hit = sum((want & got).values())
    return hit / max(1, sum(want.values())), hit / max(1, sum(got.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Debian Reference corpus (default: %(default)s)")
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each engine, interleaved; the median time")
    parser.add_argument("--omp", action="store_true", help="also the program with OpenMP's threads (slow when busy)")
    parser.add_argument("--ocrmypdf", help="the ocrmypdf program (default: on PATH, else left out)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    console = make_console()
    engines = {"tesseract program (chosen)": lambda p: engine_program(p, 1)}
    if args.omp:
        engines["tesseract program, OpenMP threads = CPUs"] = lambda p: engine_program(p, os.cpu_count() or 1)
    try:
        import pytesseract  # noqa: F401

        engines["pytesseract"] = engine_pytesseract
    except ImportError:
        console.print("pytesseract not installed: left out (pip install pytesseract)")
    ocrmypdf = args.ocrmypdf or shutil.which("ocrmypdf")
    if ocrmypdf:
        engines["ocrmypdf"] = lambda p: engine_ocrmypdf(p, ocrmypdf)
    else:
        console.print("ocrmypdf not found: left out (--ocrmypdf PATH)")
    with tempfile.TemporaryDirectory() as tmp:
        scan = Path(tmp) / "scan.pdf"
        truth = make_scan(source_paragraphs(args.data), args.pages, scan)
        times: dict[str, list[float]] = {name: [] for name in engines}
        texts: dict[str, str] = {}
        for _ in range(args.repeats):
            for name, run in engines.items():
                start = time.perf_counter()
                texts[name] = run(scan)
                times[name].append((time.perf_counter() - start) / args.pages)
        rows, results = [], {}
        for name in engines:
            recall, precision = score(truth, texts[name])
            per_page = statistics.median(times[name])
            results[name] = {"word_recall": recall, "word_precision": precision, "seconds_per_page": per_page,
                             "seconds_per_page_runs": times[name]}
            rows.append((name, recall, precision, per_page))
    print_table(f"OCR of a generated {args.pages}-page scan ({len(truth)} words, 300 dpi)",
                ["engine", "word recall", "word precision", "s/page"], rows, console)
    note = machine_note()
    console.print(note)
    write_json(args.json, {"pages": args.pages, "words": len(truth), "engines": results, "machine": note})


if __name__ == "__main__":
    main()

"""Bad inputs through the ingest pipeline, all in one run beside good files: the line each gets and peak RSS.

Generated in a temporary folder (issue 14, "Bad input, each tested"):

- ``report.pdf``: indexed, then half of a new version (a PDF a sync client is still writing);
- ``growing.pdf``: new, half written when the ingest reaches it, the rest written by another thread;
- ``growing.txt``: new, a log another thread appends to while the ingest reads it;
- ``moved.md``: indexed, then replaced by a folder after the walk listed it;
- ``locked.md``: indexed, changed, then made unreadable after the walk listed it (``chmod 000``; as root,
  whom that does not stop, the denial is simulated at ``open`` and the line says so);
- ``rules.docx`` / ``stock.xlsx``: indexed, then replaced by zip bombs (8 MiB of spaces in a few KiB);
- ``empty.xlsx``: a sheet of 1.04 million styled empty cells and two values;
- ``book.epub``: a spine that names a chapter the archive lacks;
- ``export.html``: an HTML page of ``--html-mb`` MB (default 50) on one line;
- ``a.md``, ``c.md``, ``notes.txt``: good files.

The first ingest (the good versions) and the second (the bad ones) each run in a fresh process, through
:class:`ingest.pipeline.Ingestor` with the bundled MiniLM's tokenizer and, as ``ingest_throughput.py --large-mb``
does, a hashing embedding in place of the model (which would take hours on the HTML page on a CPU). Printed per
file: status, chunks and the line ``rag-app ingest`` shows (error or warnings), and the peak RSS of the process
after that file (``ru_maxrss``, a high-water mark); then the run's peak RSS and time.

Run: ``.venv/bin/python benchmarks/bad_inputs_memory.py [--html-mb 50] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import builtins
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from faq_eval import hashing_ingestor

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
GOOD = {
    "a.md": "# Allotments\n\nThe allotment gate is locked at dusk.\n",
    "c.md": "# Compost\n\nTurn the compost heap every fortnight; keep it as damp as a wrung-out sponge.\n",
    "notes.txt": "Seed order\n\nBroad beans, two packets. Leeks, one packet.\n",
    "moved.md": "# Sheds\n\nEach plot holder may keep one shed of at most six square metres.\n",
    "locked.md": "# Keys\n\nThe spare key is with the secretary.\n",
}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------- inputs
def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF of ``lines`` in Helvetica, written by hand (no PDF library needed)."""
    text = "".join(f"({line.replace('(', '[').replace(')', ']')}) Tj T* " for line in lines)
    content = f"BT /F1 12 Tf 14 TL 72 720 Td {text}ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Plot rules", 1)
    document.add_paragraph("Keep paths clear and hoses coiled.")
    document.save(str(path))


def _xlsx(path: Path, rows: list[list[str]] | None = None) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Stock"
    for row in rows or [["Tool", "Count"], ["spade", "4"], ["rake", "2"]]:
        sheet.append(row)
    workbook.save(str(path))


def _empty_cells_xlsx(path: Path, base: Path) -> None:
    """A sheet of 40,000 rows of 26 styled empty cells (1.04 million cells) between a header and one value."""
    _xlsx(base, [["x"]])
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                out.writestr(info.filename, source.read(info))
                continue
            with out.open("xl/worksheets/sheet1.xml", "w") as sheet:
                sheet.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                            b'<dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Tool'
                            b"</t></is></c></row>")  # fmt: skip
                for r in range(2, 40_002):
                    cells = "".join(f'<c r="{c}{r}" s="0"/>' for c in letters)
                    sheet.write(f'<row r="{r}">{cells}</row>'.encode())
                sheet.write(b'<row r="40002"><c r="A40002" t="inlineStr"><is><t>hoe</t></is></c></row></sheetData>'
                            b"</worksheet>")  # fmt: skip


def _zip_bomb(path: Path, member: str) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, b"<x>" + b" " * (8 << 20) + b"</x>")


def _epub(path: Path, *, broken: bool) -> None:
    chapters = {"ch1.xhtml": ("Sowing", "Sow beans two fingers deep."), "ch2.xhtml": ("Watering", "Water at dawn."),
                "ch3.xhtml": ("Harvest", "Pick the pods while flat.")}  # fmt: skip
    items = "".join(f'<item id="c{i}" href="{name}" media-type="application/xhtml+xml"/>' for i, name in enumerate(chapters))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/epub+zip", zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:'
                   'opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
                   'media-type="application/oebps-package+xml"/></rootfiles></container>')  # fmt: skip
        z.writestr("OEBPS/content.opf", '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
                   '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Beans</dc:title></metadata>'
                   f"<manifest>{items}</manifest><spine>{spine}</spine></package>")  # fmt: skip
        for name, (title, text) in chapters.items():
            if broken and name == "ch2.xhtml":
                continue  # named by the spine, missing from the archive
            z.writestr(f"OEBPS/{name}", f'<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>{title}</h1><p>{text}</p>'
                       "</body></html>")  # fmt: skip


def _one_line_html(path: Path, megabytes: int) -> None:
    """A minified export: a menu, then sections of a heading and a 2 KB paragraph, one paragraph of 5 MB."""
    words = ["soil", "rake", "hoe", "bean", "pea", "leek", "kale", "compost", "mulch", "water", "seed", "sow"]
    with path.open("w", encoding="utf-8") as out:
        out.write('<!DOCTYPE html><html><head><title>Garden log</title></head><body><nav><a href="/">Home</a></nav>'
                  "<main><h1>Garden log</h1>")  # fmt: skip
        written, i = 0, 0
        while written < megabytes << 20:
            body = " ".join(words[(i + k) % len(words)] for k in range(400))
            if i == 1000:
                body = " ".join([body] * 2600)
            part = f"<h2>Day {i}</h2><p>Day {i}: {body}.</p>"
            out.write(part)
            written += len(part)
            i += 1
        out.write("</main></body></html>")


def make_inputs(folder: Path, html_mb: int) -> None:
    """The good versions of every file (the first ingest indexes them)."""
    folder.mkdir(parents=True)
    for name, text in GOOD.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "report.pdf").write_bytes(_pdf(["The first edition of the allotment report."]))
    _docx(folder / "rules.docx")
    _xlsx(folder / "stock.xlsx")
    _epub(folder / "book.epub", broken=False)


def make_bad(folder: Path, scratch: Path, html_mb: int) -> None:
    """The bad versions, in place of the good ones, and the new bad files."""
    new = _pdf(["The second edition of the allotment report, with the new rents.", *["Plot rents rise."] * 40])
    (folder / "report.pdf").write_bytes(new[: len(new) // 2])
    (folder / "locked.md").write_text("# Keys\n\nThe spare key is with the secretary and the treasurer.\n", encoding="utf-8")
    (folder / "rules.docx").unlink()
    _zip_bomb(folder / "rules.docx", "word/document.xml")
    (folder / "stock.xlsx").unlink()
    _zip_bomb(folder / "stock.xlsx", "xl/workbook.xml")
    _empty_cells_xlsx(folder / "empty.xlsx", scratch / "base.xlsx")
    (folder / "book.epub").unlink()
    _epub(folder / "book.epub", broken=True)
    _one_line_html(folder / "export.html", html_mb)
    for name in ("growing.pdf", "growing.txt"):
        (folder / name).write_bytes(b"")  # listed by the walk; written while the ingest runs


# ---------------------------------------------------------------------------------------------- phases
def _ingestor(db: Path):  # noqa: ANN202 - an Ingestor
    return hashing_ingestor(db, "bad-inputs")


def _chmod_stops_reads(folder: Path) -> bool:
    probe = folder / ".probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        probe.read_bytes()
        return False
    except PermissionError:
        return True
    finally:
        probe.chmod(0o600)
        probe.unlink()


def _deny_open(path: Path) -> None:
    """For root, whom chmod 000 does not stop: opening ``path`` fails as it would for any other user."""
    real = io.open

    def denied(file, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if isinstance(file, (str, os.PathLike)) and Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real(file, *args, **kwargs)

    builtins.open = io.open = denied


def _write_slowly(path: Path, data: bytes) -> threading.Thread:
    """Another program writing ``path``: half of ``data`` now, the rest in 1 KiB pieces every 20 ms."""
    half = len(data) // 2
    path.write_bytes(data[:half])

    def run() -> None:
        with path.open("ab", buffering=0) as out:
            for start in range(half, len(data), 1024):
                time.sleep(0.02)
                out.write(data[start : start + 1024])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _append_until(path: Path, stop: threading.Event) -> threading.Thread:
    """Another program logging to ``path``: 1 MB now, then a line every 10 ms until ``stop``."""
    entry = "Watered the beans, weeded the leeks, turned the compost. "
    path.write_text("".join(f"Entry {i}: {entry}\n" for i in range(16_000)), encoding="utf-8")

    def run() -> None:
        with path.open("a", encoding="utf-8") as out:
            i = 16_000
            while not stop.wait(0.01):
                out.write(f"Entry {i}: {entry}\n")
                out.flush()
                i += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def phase(which: str, folder: Path, db: Path) -> dict:
    ingestor = _ingestor(db)
    rows: dict[str, float] = {}
    notes: dict[str, str] = {}
    writers: list[threading.Thread] = []
    stop = threading.Event()

    def on_file(source: str, status: str) -> None:
        rows[source] = _peak_rss_mib()
        if which == "bad" and source == "a.md":  # after the walk has listed the folder
            (folder / "moved.md").unlink()
            (folder / "moved.md").mkdir()
            (folder / "moved.md" / "inside.md").write_text("# Inside\n\nA note in the folder.\n", encoding="utf-8")
            if _chmod_stops_reads(folder):
                (folder / "locked.md").chmod(0)
            else:
                _deny_open(folder / "locked.md")
                notes["locked.md"] = "running as root, whom chmod 000 does not stop: the denial is simulated at open"
        if which == "bad" and source == "export.html":  # the file just before growing.pdf and growing.txt
            writers.append(_write_slowly(folder / "growing.pdf", _pdf(["A long document still being copied."] * 300)))
            writers.append(_append_until(folder / "growing.txt", stop))

    start = time.perf_counter()
    report = ingestor.ingest([folder], on_file=on_file)
    seconds = time.perf_counter() - start
    stop.set()
    for thread in writers:
        thread.join()
    if (folder / "locked.md").exists():
        (folder / "locked.md").chmod(0o644)
    files = [{"source": f.source, "status": f.status, "chunks_added": f.chunks_added, "error": f.error,
              "warnings": f.warnings, "peak_rss_mib": rows.get(f.source), "note": notes.get(f.source)}
             for f in report.files]  # fmt: skip
    return {"files": files, "seconds": seconds, "peak_rss_mib": _peak_rss_mib(), "chunks_total": report.chunks_total}


def _child(which: str, folder: Path, db: Path) -> dict:
    """One ingest in a fresh interpreter, so its peak RSS is its own."""
    out = subprocess.run([sys.executable, __file__, "--phase", which, "--folder", str(folder), "--db", str(db)],
                         check=True, capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(f: dict) -> str:
    """What ``rag-app ingest`` shows for the file: its error (and that its last good version stays), its warnings."""
    parts = []
    if f["error"]:
        parts.append(f["error"] + ("; its last good version stays indexed" if f["status"] == "kept_previous" else ""))
    parts += [f"⚠ {w}" for w in f["warnings"]]
    if f.get("note"):
        parts.append(f"({f['note']})")
    return " / ".join(parts) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--html-mb", type=int, default=50, help="size of the one-line HTML page (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--phase", choices=["good", "bad"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.folder, args.db)))
        return
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as tmp:
        folder, db = Path(tmp) / "docs", Path(tmp) / "db"
        make_inputs(folder, args.html_mb)
        good = _child("good", folder, db)
        make_bad(folder, Path(tmp), args.html_mb)
        size = (folder / "export.html").stat().st_size
        bad = _child("bad", folder, db)
    print(f"first ingest (good versions): {len(good['files'])} files in {good['seconds']:.1f} s, "
          f"peak RSS {good['peak_rss_mib']:.0f} MiB")
    print(f"second ingest (bad inputs, export.html {size / (1 << 20):.0f} MiB on one line): {bad['seconds']:.1f} s, "
          f"{bad['chunks_total']} chunks in the index, peak RSS {bad['peak_rss_mib']:.0f} MiB\n")
    print(f"{'source':20} {'status':14} {'chunks':>7} {'peak RSS after':>15}  line")
    for f in bad["files"]:
        rss = f"{f['peak_rss_mib']:.0f} MiB" if f["peak_rss_mib"] else "-"
        print(f"{f['source']:20} {f['status']:14} {f['chunks_added']:7d} {rss:>15}  {_line(f)}")
    if args.json:
        args.json.write_text(json.dumps({"html_bytes": size, "good": good, "bad": bad}, indent=2) + "\n")


if __name__ == "__main__":
    main()

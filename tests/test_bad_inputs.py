"""Bad input, each tested (issue 14): a PDF being written while ingest reads it, a file replaced by a folder or
made unreadable between the walk and its reading, zip bombs disguised as DOCX/XLSX, an XLSX of a million empty
cells, an EPUB with a broken spine, an HTML page of 50 MB on one line.

Each gets one line naming the file and what to do; the other files of the run are ingested; a file indexed
before keeps its last good version (``kept_previous``); memory stays bounded. The loaders' own tests cover the
messages of each format (tests/test_loaders_*.py); here they go through the pipeline together.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from transformers import AutoTokenizer

import ingest.pipeline as pipeline_module
from ingest.indexing import IndexStore, open_store
from ingest.loaders import html as html_module
from ingest.loaders.detect import IS_A_FOLDER
from ingest.loaders.pdf import DAMAGED_PDF
from ingest.pipeline import CHANGED_WHILE_READ, Ingestor, IngestReport
from tests.fixtures_docs import build_docx, build_simple_pdf
from tests.indexing_support import HashEmbeddings
from tests.test_loaders_office_formats import (
    _SHEET,
    _bomb,
    _one_sheet_workbook,
    _with_sheet,
    build_epub,
    build_xlsx,
)

REPO = Path(__file__).resolve().parents[1]
DENIED = "permission denied: make the file readable for this user"


@pytest.fixture()
def tokenizer(tiny_encoder_dir: Path):  # noqa: ANN201
    return AutoTokenizer.from_pretrained(tiny_encoder_dir)


def _ingestor(tmp_path: Path, tokenizer) -> Ingestor:  # noqa: ANN001
    return Ingestor(open_store(tmp_path / "db", "docs", HashEmbeddings()), tokenizer, chunk_size=40, chunk_overlap=8,
                    max_tokens=64)  # fmt: skip


def _lines(report: IngestReport) -> dict[str, tuple[str, str | None]]:
    """Each file's line: its status and error."""
    return {f.source: (f.status, f.error) for f in report.files}


def _texts(store: IndexStore, source: str) -> list[str]:
    return sorted(store.vector_store.get(where={"source": source}, include=["documents"])["documents"])


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


GOOD = {
    "a.md": "# Allotments\n\nThe allotment gate is locked at dusk.\n",
    "c.md": "# Compost\n\nTurn the compost heap every fortnight.\n",
}


# --------------------------------------------------------------------------------- a PDF being written
def test_a_pdf_being_written_keeps_its_last_good_version_and_records_no_other_content(
    tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    docs = _write(tmp_path / "docs", GOOD)
    build_simple_pdf(docs / "report.pdf", ["The first edition of the allotment report."])
    ingestor = _ingestor(tmp_path, tokenizer)
    assert ingestor.ingest([docs]).ok
    store = ingestor.store
    first = _texts(store, "report.pdf")
    new = build_simple_pdf(tmp_path / "new.pdf", ["The second edition of the allotment report, with the rents."]).read_bytes()

    # A sync client has written half of the new version; a new file is half-written too.
    (docs / "report.pdf").write_bytes(new[: len(new) // 2])
    (docs / "fresh.pdf").write_bytes(new[: len(new) // 3])
    (docs / "a.md").write_text("# Allotments\n\nThe gate is locked at dusk and opened at dawn.\n", encoding="utf-8")
    half = ingestor.ingest([docs])
    assert _lines(half) == {
        "a.md": ("ingested", None),  # the other files of the run are ingested
        "c.md": ("unchanged", None),
        "fresh.pdf": ("failed", DAMAGED_PDF),
        "report.pdf": ("kept_previous", DAMAGED_PDF),
    }
    assert _texts(store, "report.pdf") == first
    assert store.journal.file_state("fresh.pdf") is None

    # The writer goes on between the hash and the read: the loader reads a whole, valid PDF, but not the
    # content that was hashed. Nothing of it is written, and no state of the half-written file is recorded.
    real = pipeline_module.file_fingerprint

    def hashed_then_written(path: Path):  # noqa: ANN202
        stamp = real(path)
        if path.name == "report.pdf":
            path.write_bytes(new)
        return stamp

    monkeypatch.setattr(pipeline_module, "file_fingerprint", hashed_then_written)
    raced = ingestor.ingest([docs])
    assert _lines(raced)["report.pdf"] == ("kept_previous", CHANGED_WHILE_READ)
    assert CHANGED_WHILE_READ == (
        "changed while it was being read (still being written or synced?); ingest again once it is complete"
    )
    assert _texts(store, "report.pdf") == first  # rolled back: the first edition is still what is found
    assert store.journal.file_state("report.pdf") is None  # forgotten: the next ingest reads it again
    monkeypatch.undo()

    done = ingestor.ingest([docs])  # the writer has finished
    assert _lines(done)["report.pdf"] == ("ingested", None)
    assert any("second edition" in text for text in _texts(store, "report.pdf"))
    state = store.journal.file_state("report.pdf")
    assert (state.size, state.sha256) == (len(new), hashlib.sha256(new).hexdigest())  # the content indexed


def test_a_text_file_appended_to_while_its_blocks_are_read_is_not_recorded(
    tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    # Text is streamed: the file is still being read while its first chunks are made.
    docs = _write(tmp_path / "docs", {**GOOD, "log.txt": "\n\n".join(f"Entry {i}: watered the beans." for i in range(400))})
    ingestor = _ingestor(tmp_path, tokenizer)
    real = pipeline_module.open_file
    written = False

    def open_then_append(path: Path, **kwargs):  # noqa: ANN003, ANN202
        opened = real(path, **kwargs)
        blocks = opened.blocks

        def appending():  # noqa: ANN202
            nonlocal written
            for n, block in enumerate(blocks):
                if n == 1 and path.name == "log.txt":  # a writer appends after the first block is read
                    with path.open("a", encoding="utf-8") as log:
                        log.write("\n\nEntry 400: picked the first pods.\n")
                    written = True
                yield block

        opened.blocks = appending()
        return opened

    monkeypatch.setattr(pipeline_module, "open_file", open_then_append)
    report = ingestor.ingest([docs])
    monkeypatch.undo()
    assert written
    assert _lines(report) == {"a.md": ("ingested", None), "c.md": ("ingested", None),
                              "log.txt": ("failed", CHANGED_WHILE_READ)}  # fmt: skip
    assert _texts(ingestor.store, "log.txt") == [] and ingestor.store.journal.file_state("log.txt") is None
    assert _lines(ingestor.ingest([docs]))["log.txt"] == ("ingested", None)


# ----------------------------------------------------------------------------- a file replaced by a folder
def test_a_file_replaced_by_a_folder_between_walk_and_load(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _write(tmp_path / "docs", {**GOOD, "b.md": "# Beans\n\nSow beans in May.\n"})
    ingestor = _ingestor(tmp_path, tokenizer)
    ingestor.ingest([docs])
    before = _texts(ingestor.store, "b.md")
    (docs / "new.md").write_text("# New\n\nA note.\n", encoding="utf-8")

    def replace(source: str, status: str) -> None:
        if source == "a.md":  # the folder is listed: b.md and new.md are files in the walk
            for name in ("b.md", "new.md"):
                (docs / name).unlink()
                _write(docs / name, {"inside.md": "# Inside\n\nNotes kept in the folder.\n"})

    report = ingestor.ingest([docs], on_file=replace)
    assert _lines(report) == {
        "a.md": ("unchanged", None),
        "b.md": ("kept_previous", IS_A_FOLDER),
        "c.md": ("unchanged", None),
        "new.md": ("failed", IS_A_FOLDER),
    }
    assert IS_A_FOLDER == "is a folder, not a file (replaced by one while ingesting?); ingest again to read the files in it"
    assert _texts(ingestor.store, "b.md") == before

    again = ingestor.ingest([docs], prune=True)  # as the line says: the files in it are read
    assert _lines(again) == {"a.md": ("unchanged", None), "b.md/inside.md": ("ingested", None), "c.md": ("unchanged", None),
                             "new.md/inside.md": ("ingested", None), "b.md": ("pruned", None)}  # fmt: skip


# ------------------------------------------------------------------------------ permissions change mid-run
def _chmod_stops_reads(folder: Path) -> bool:
    """Whether ``chmod 000`` makes a file unreadable here (not for root)."""
    probe = folder / "probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        probe.read_bytes()
    except PermissionError:
        return True
    finally:
        probe.chmod(0o600)
        probe.unlink()
    return False


def _deny_by_chmod(file: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    def undo() -> None:
        folder.chmod(0o755)
        file.chmod(0o644)

    file.chmod(0)
    folder.chmod(0)
    return undo


def _deny_by_patching(file: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """What ``chmod 000`` does for a user who is not root: opening the file and listing the folder fail, at the
    level every reader goes through (``open``, ``Path.open``, ``os.scandir``)."""
    real_open, real_scandir = io.open, os.scandir

    def denied_open(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if isinstance(path, (str, os.PathLike)) and Path(path) == file:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    def denied_scandir(path=".", *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if isinstance(path, (str, os.PathLike)) and Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denied_open)
    monkeypatch.setattr(io, "open", denied_open)
    monkeypatch.setattr(os, "scandir", denied_scandir)
    return monkeypatch.undo


def test_permissions_changed_mid_run(tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    # A real chmod 000 where it stops reads; as root (CI) it does not, so reads are denied where every reader opens.
    deny = _deny_by_chmod if _chmod_stops_reads(tmp_path) else _deny_by_patching
    docs = _write(tmp_path / "docs", {**GOOD, "b.md": "# Beans\n\nSow beans in May.\n",
                                      "sub/inner.md": "# Inner\n\nThe inner note.\n"})  # fmt: skip
    ingestor = _ingestor(tmp_path, tokenizer)
    ingestor.ingest([docs])
    before = {source: _texts(ingestor.store, source) for source in ("b.md", "sub/inner.md")}
    (docs / "b.md").write_text("# Beans\n\nSow beans in May, once the soil is warm.\n", encoding="utf-8")
    undo: list[Callable[[], None]] = []

    def lock(source: str, status: str) -> None:
        if source == "a.md":  # after the walk has listed docs/
            undo.append(deny(docs / "b.md", docs / "sub", monkeypatch))

    try:
        report = ingestor.ingest([docs], prune=True, on_file=lock)
    finally:
        for step in undo:
            step()
    assert _lines(report) == {
        "a.md": ("unchanged", None),
        "b.md": ("kept_previous", DENIED),
        "c.md": ("unchanged", None),
        "sub": ("failed", "cannot read folder: permission denied; make it readable for this user"),
    }  # and sub/inner.md is not pruned: its folder could not be listed, it was not seen gone
    assert {source: _texts(ingestor.store, source) for source in before} == before

    readable = ingestor.ingest([docs], prune=True)
    assert _lines(readable) == {"a.md": ("unchanged", None), "b.md": ("ingested", None), "c.md": ("unchanged", None),
                                "sub/inner.md": ("unchanged", None)}  # fmt: skip

    # The folder given cannot be listed: one line, and --prune removes nothing.
    undo_all = deny(docs / "b.md", docs, monkeypatch)
    try:
        unlisted = ingestor.ingest([docs], prune=True)
    finally:
        undo_all()
    assert _lines(unlisted) == {str(docs): ("failed", "cannot read folder: permission denied; make it readable for this user")}
    assert set(dict(ingestor.store.sources())) == {"a.md", "b.md", "c.md", "sub/inner.md"}


# ------------------------------------------------------------------- zip bombs, empty cells, broken spine
def test_office_bad_inputs_together_one_line_each_and_nothing_else_lost(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _write(tmp_path / "docs", GOOD)
    build_docx(docs / "rules.docx")
    build_xlsx(docs / "stock.xlsx")
    build_epub(docs / "beans.epub")
    ingestor = _ingestor(tmp_path, tokenizer)
    assert ingestor.ingest([docs]).ok
    store = ingestor.store
    before = {source: _texts(store, source) for source in ("rules.docx", "stock.xlsx")}

    # The good documents are replaced by zip bombs under the same names, the book loses a chapter, and a
    # sheet of a million empty cells arrives.
    for name, bomb in (("rules.docx", "word/document.xml"), ("stock.xlsx", "xl/workbook.xml")):
        (docs / name).unlink()
        _bomb(docs / name, {}, bomb)
    (docs / "beans.epub").unlink()
    stray = "<html><body><h1>Seed saving</h1><p>Dry the best pods on the plant.</p></body></html>"
    build_epub(docs / "beans.epub", drop=("OEBPS/text/ch2.xhtml",), extra={"OEBPS/text/ch2b.xhtml": stray})
    cells = ['<row r="1"><c r="A1" t="inlineStr"><is><t>Tool</t></is></c></row>']
    cells += [f'<row r="{r}">' + "".join(f'<c r="{c}{r}" s="1"/>' for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ") + "</row>"
              for r in range(2, 40_002)]  # fmt: skip
    cells.append('<row r="40002"><c r="A40002" t="inlineStr"><is><t>spade</t></is></c></row>')
    _with_sheet(_one_sheet_workbook(tmp_path / "base.xlsx"), docs / "empty.xlsx",
                _SHEET.format(f"<sheetData>{''.join(cells)}</sheetData>"))  # fmt: skip

    report = ingestor.ingest([docs])
    files = {f.source: f for f in report.files}
    assert {source: f.status for source, f in files.items()} == {
        "a.md": "unchanged", "c.md": "unchanged", "beans.epub": "ingested", "empty.xlsx": "ingested",
        "rules.docx": "kept_previous", "stock.xlsx": "kept_previous",
    }  # fmt: skip
    for source, what, member in (("rules.docx", "DOCX", "word/document.xml"), ("stock.xlsx", "XLSX", "xl/workbook.xml")):
        assert files[source].error.startswith(f"{what} refused: {member} would expand ")
        assert files[source].error.endswith(" times to 8 MiB, more than 100 times (a zip bomb?); re-save it from its "
                                            "application if it is genuine")  # fmt: skip
        assert _texts(store, source) == before[source]  # the last good version stays
    assert files["beans.epub"].warnings == [
        "broken EPUB spine: OEBPS/text/ch2.xhtml missing from the archive; read the 1 XHTML file(s) the spine "
        "does not list after the rest"
    ]
    assert any("Dry the best pods" in t for t in _texts(store, "beans.epub"))
    assert _texts(store, "empty.xlsx") == ["Tool: spade"]


# ------------------------------------------------------------------------- an HTML page of 50 MB on one line
def write_one_line_page(path: Path, size: int) -> Path:
    """A page of about ``size`` bytes without a line break: a menu, then sections of a heading and a paragraph
    of 2 KB, with one paragraph of 5 MB in the middle (a minified export) when it is that large."""
    words = ["soil", "rake", "hoe", "bean", "pea", "leek", "kale", "compost", "mulch", "water", "seed", "sow", "prune", "graft"]
    with path.open("w", encoding="utf-8") as out:
        out.write('<!DOCTYPE html><html><head><title>Garden log</title><script>var x = 1;</script></head><body>'
                  '<nav><a href="/">Home</a> <a href="/log">Log</a></nav><main><h1>Garden log</h1>')  # fmt: skip
        written, i = 0, 0
        while written < size:
            body = " ".join(words[(i + k) % len(words)] for k in range(400))
            if i == 1000:
                body = " ".join([body] * 2600)  # 5 MB
            part = f"<h2>Day {i}</h2><p>Day {i}: {body}.</p>"
            out.write(part)
            written += len(part)
            i += 1
        out.write("</main></body></html>")
    return path


_MEASURE_HTML = """
import json, resource, sys, time
from pathlib import Path
from ingest.loaders import open_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
opened = open_file(Path(sys.argv[1]))
blocks = chars = longest = 0
first = last = None
for block in opened.blocks:
    blocks, chars, longest = blocks + 1, chars + len(block.text), max(longest, len(block.text))
    first = first or [block.text[:20], list(block.heading)]
    last = [block.text[:12], list(block.heading)]
print(json.dumps({"seconds": time.perf_counter() - start, "blocks": blocks, "chars": chars, "longest": longest,
                  "first": first, "last": last, "title": opened.title, "warnings": opened.warnings,
                  "rss_growth_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def test_html_of_50_mb_on_one_line_is_read_in_bounded_memory(tmp_path: Path) -> None:
    page = write_one_line_page(tmp_path / "export.html", 50 << 20)
    assert b"\n" not in page.read_bytes()
    out = subprocess.run([sys.executable, "-c", _MEASURE_HTML, str(page)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)  # fmt: skip
    measured = json.loads(out.stdout)
    assert measured["title"] == "Garden log"
    assert measured["first"] == ["Day 0: soil rake hoe", ["Garden log", "Day 0"]]
    assert measured["last"][1][0] == "Garden log" and measured["last"][1][1].startswith("Day ")
    assert measured["chars"] > 49_000_000 and measured["longest"] <= 16_000  # every word, in blocks a chunker takes
    assert measured["warnings"] == [
        "large page (50 MiB, over 8 MiB): read as a stream, without the rules that find the main text, so menus "
        "and link lists may be indexed too; split the page to have them left out"
    ]
    # Here the stream peaks at 80 MiB (the whole process) in 4 s; the tree took 280 MiB and 24 s on this page,
    # 2.2 GiB and 3 minutes on a page of denser markup.
    assert measured["rss_growth_mib"] < 1536, measured
    assert measured["seconds"] < 120, measured


def test_large_html_through_the_pipeline_beside_good_files(
    tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    # The stream path from 64 KiB on (8 MiB in use), so that the whole pipeline runs on it quickly.
    monkeypatch.setattr(html_module, "HTML_TREE_MAX_BYTES", 64 << 10)
    docs = _write(tmp_path / "docs", GOOD)
    kib = write_one_line_page(docs / "export.html", 200 << 10).stat().st_size >> 10
    ingestor = _ingestor(tmp_path, tokenizer)
    report = ingestor.ingest([docs])
    files = {f.source: f for f in report.files}
    assert {s: f.status for s, f in files.items()} == {"a.md": "ingested", "c.md": "ingested", "export.html": "ingested"}
    assert files["export.html"].warnings == [
        f"large page ({kib} KiB, over 64 KiB): read as a stream, without the rules that find the main text, so menus and "
        "link lists may be indexed too; split the page to have them left out"
    ]
    got = ingestor.store.vector_store.get(where={"source": "export.html"}, include=["metadatas", "documents"])
    assert {m["title"] for m in got["metadatas"]} == {"Garden log"}
    assert any(m.get("heading", "").startswith("Garden log > Day ") for m in got["metadatas"])
    assert not any("var x" in text or "Home" in text for text in got["documents"])  # script and menu dropped

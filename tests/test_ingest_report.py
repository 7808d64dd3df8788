"""The ingest report names every file: its status, chunks added and deleted, and the warnings its loader,
the chunker and the store had (pages without text, a guessed encoding, headings not found, table rows cut,
the same content under another name), read once the file's chunk stream is exhausted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fpdf import FPDF
from transformers import AutoTokenizer

from ingest.indexing import IndexStore, open_store
from ingest.loaders import HEADINGLESS_CHARS, load_file
from ingest.pipeline import FILE_STATUSES, FileReport, Ingestor
from tests.indexing_support import HashEmbeddings

BOILER = "The boiler needs a yearly service by a registered engineer."
RADIATORS = "Bleed the radiators every autumn before the heating season."


@pytest.fixture()
def tokenizer(tiny_encoder_dir: Path):  # noqa: ANN201
    return AutoTokenizer.from_pretrained(tiny_encoder_dir)


def _store(root: Path) -> IndexStore:
    return open_store(root / "db", "docs", HashEmbeddings())


def _ingestor(store: IndexStore, tokenizer) -> Ingestor:  # noqa: ANN001
    return Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64)


def build_pdf_with_a_page_without_text(path: Path) -> Path:
    """Three pages: text, drawings only (a scan has no text layer either), text."""
    pdf = FPDF()
    for content in (BOILER, None, RADIATORS):
        pdf.add_page()
        if content is None:
            pdf.set_fill_color(40, 40, 40)
            for i in range(10):
                pdf.rect(20, 20 + 12 * i, 150 - 7 * i, 6, style="F")
        else:
            pdf.set_font("helvetica", size=11)
            pdf.cell(0, 6, content)
    pdf.output(str(path))
    return path


def _by_source(entries: list[dict]) -> dict[str, dict]:
    return {entry["source"]: entry for entry in entries}


def test_json_lists_every_file_with_each_status(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("keep.md", "edit.md", "break.md", "gone.md"):
        (docs / name).write_text(f"# {name}\n\nThe first text of {name}.\n", encoding="utf-8")
    store = _store(tmp_path)
    ingestor = _ingestor(store, tokenizer)
    first = ingestor.ingest([docs])
    chunks = {f.source: f.chunks_added for f in first.files}
    assert [(f.source, f.status) for f in first.files] == [
        ("break.md", "ingested"), ("edit.md", "ingested"), ("gone.md", "ingested"), ("keep.md", "ingested")]
    assert all(n == 1 for n in chunks.values())

    (docs / "edit.md").write_text("# edit.md\n\nA new text for edit.md.\n", encoding="utf-8")
    os.utime(docs / "edit.md", ns=(1, 1))
    (docs / "break.md").write_bytes(b"\x00\x01\x02" * 100)  # a sync client mid-write: the old version stays
    (docs / "gone.md").unlink()
    (docs / "new.md").write_bytes(b"")  # never loaded: nothing to keep
    report = ingestor.ingest([docs], prune=True)

    files = _by_source(report.to_json()["files"])
    assert files == {
        "break.md": {"source": "break.md", "status": "kept_previous", "chunks_added": 0, "chunks_deleted": 0,
                     "warnings": [], "error": "binary content, not text (control characters); is this the right file?"},
        "edit.md": {"source": "edit.md", "status": "ingested", "chunks_added": 1, "chunks_deleted": 1,
                    "warnings": [], "error": None},
        "keep.md": {"source": "keep.md", "status": "unchanged", "chunks_added": 0, "chunks_deleted": 0,
                    "warnings": [], "error": None},
        "new.md": {"source": "new.md", "status": "failed", "chunks_added": 0, "chunks_deleted": 0,
                   "warnings": [], "error": "empty file"},
        "gone.md": {"source": "gone.md", "status": "pruned", "chunks_added": 0, "chunks_deleted": 1,
                    "warnings": [], "error": None},
    }
    assert {entry["status"] for entry in files.values()} == set(FILE_STATUSES)
    # The counts and the old keys say the same as the list.
    data = report.to_json()
    assert (data["files_ingested"], data["files_unchanged"], data["files_pruned"]) == (1, 1, 1)
    assert data["files_failed"] == [
        {"source": "break.md", "error": files["break.md"]["error"], "kept_previous": True},
        {"source": "new.md", "error": "empty file", "kept_previous": False},
    ]
    assert (data["chunks_added"], data["chunks_deleted"]) == (1, 2)
    assert [f.source for f in report.files if f.needs_attention] == ["break.md", "new.md", "gone.md"]
    assert sorted(dict(store.sources())) == ["break.md", "edit.md", "keep.md"]


def test_progress_callback_gets_the_same_status(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nSome text.\n", encoding="utf-8")
    ingestor = _ingestor(_store(tmp_path), tokenizer)
    ingestor.ingest([docs])
    (docs / "a.md").write_bytes(b"\x00\x01\x02" * 100)
    seen: list[tuple[str, str]] = []
    report = ingestor.ingest([docs], on_file=lambda source, status: seen.append((source, status)))
    assert seen == [("a.md", "kept_previous")] == [(f.source, f.status) for f in report.files]


def test_a_pdf_page_without_text_is_named_in_the_report(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    pdf = build_pdf_with_a_page_without_text(docs / "boiler.pdf")
    expected = load_file(pdf).warnings  # what the loader knows: with or without Tesseract, page 2 is named
    assert len(expected) == 1 and expected[0].startswith("page 2: no text layer")

    report = _ingestor(_store(tmp_path), tokenizer).ingest([docs])
    (entry,) = report.to_json()["files"]
    assert entry["source"] == "boiler.pdf" and entry["status"] == "ingested"
    assert entry["warnings"] == expected
    assert report.files[0].needs_attention


def test_streamed_warnings_are_read_after_the_last_block(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    """Markdown and text are streamed: warnings found at the end of the file (undecodable bytes past the
    sniffed start, no heading anywhere) are in the report."""
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraph = "The pump runs for ten minutes every hour and stops when the tank is full. " * 4
    body = (paragraph + "\n\n") * (HEADINGLESS_CHARS // len(paragraph) + 2)
    (docs / "long.md").write_text(body, encoding="utf-8")
    (docs / "headed.md").write_text("# Pump\n\n" + body, encoding="utf-8")
    (docs / "mixed.txt").write_bytes(b"# Notes\n\n" + b"plain ascii line\n" * 5000 + b"caf\xe9\n")

    report = Ingestor(_store(tmp_path), tokenizer, chunk_size=60, chunk_overlap=0, max_tokens=64).ingest([docs])
    warnings = {f.source: f.warnings for f in report.files}
    assert warnings == {
        "headed.md": [],
        "long.md": ["headings not found (no # headings): its chunks carry no section path"],
        "mixed.txt": ["1 undecodable byte sequence(s) replaced with U+FFFD (read as utf-8)",
                      "headings not found (plain text has no heading syntax; as Markdown, # lines would give one): "
                      "its chunks carry no section path"],
    }


def test_an_encoding_guessed_with_low_confidence_is_reported(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    greek = "Καλημέρα σας. Αυτό είναι ένα δοκιμαστικό κείμενο στα ελληνικά για τον έλεγχο της κωδικοποίησης. "
    german = ("Die Größe des Gerätes ist für Fußgänger überraschend. Übermäßige Hitze schadet dem Akku. "
              "Bitte prüfen Sie regelmäßig die Batterien, bevor Sie das Gehäuse öffnen. ")
    # Both wrong guesses of charset-normalizer, and said to be uncertain; the German text is read right.
    (docs / "greek.txt").write_bytes((greek * 40).encode("cp1253"))  # taken for cp1251
    (docs / "french.txt").write_bytes(("Le café était très agréable, à côté de la gare. " * 40).encode("cp1252"))
    (docs / "german.txt").write_bytes((german * 20).encode("latin-1"))

    report = _ingestor(_store(tmp_path), tokenizer).ingest([docs])
    warnings = {f.source: f.warnings for f in report.files}
    assert warnings == {
        "french.txt": ["encoding guessed as mac-latin2 with low confidence (8% of the text looks garbled so "
                       "decoded); if it reads wrong, save the file as UTF-8"],
        "german.txt": ["encoding detected as cp1252"],
        "greek.txt": ["encoding guessed as cp1251 with low confidence (9% of the text looks garbled so decoded); "
                      "if it reads wrong, save the file as UTF-8"],
    }


def test_table_rows_cut_across_chunks_are_reported(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    long_row = "| wide | " + "a very long cell that goes on " * 12 + "|"
    table = "\n".join(["| part | note |", "| --- | --- |", "| valve | check yearly |", long_row, "| pump | oil |"])
    (docs / "parts.md").write_text(f"# Parts\n\n## Spares\n\n{table}\n", encoding="utf-8")
    (docs / "short.md").write_text(f"# Parts\n\n{chr(10).join(table.splitlines()[:3])}\n", encoding="utf-8")

    report = _ingestor(_store(tmp_path), tokenizer).ingest([docs])
    warnings = {f.source: f.warnings for f in report.files}
    assert warnings == {
        "parts.md": ["truncated tables: 1 table row(s) longer than a chunk (40 tokens) cut across chunks, the first "
                     "under 'Parts > Spares'; a larger chunk_size keeps them whole"],
        "short.md": [],
    }


def test_file_report_needs_attention() -> None:
    assert not FileReport("a.md", "ingested").needs_attention
    assert not FileReport("a.md", "unchanged").needs_attention
    assert FileReport("a.md", "ingested", warnings=["w"]).needs_attention
    assert all(FileReport("a.md", status).needs_attention for status in ("failed", "kept_previous", "pruned"))

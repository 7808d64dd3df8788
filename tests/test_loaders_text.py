"""Plain text and Markdown loading, type detection, encodings, bounded memory, and file-level errors."""

from __future__ import annotations

import io
import os
import random
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from ingest.loaders import detect as detect_module
from ingest.loaders import detect_type, iter_blocks, load_file, open_file
from ingest.loaders.clean import MAX_BLOCK_CHARS
from ingest.loaders.detect import SNIFF_BYTES
from ingest.types import LoadError, TextBlock


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------ plain text
def test_text_paragraphs_split_on_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "notes" / "shed.txt",
        "  First   line of\tthe first paragraph.\r\nIts second line.\r\n\r\n \t \r\nSecond paragraph.\rOld Mac end.\n\n\n",
    )
    loaded = load_file(path, tmp_path)
    assert loaded.source == "notes/shed.txt"
    assert loaded.file_type == "text"
    assert loaded.title is None and loaded.pages is None
    assert loaded.warnings == []
    assert loaded.blocks == [
        TextBlock("First line of the first paragraph.\nIts second line."),
        TextBlock("Second paragraph.\nOld Mac end."),
    ]
    assert (
        loaded.text
        == "First line of the first paragraph.\nIts second line.\n\nSecond paragraph.\nOld Mac end."
    )


def test_text_without_root_uses_the_file_name(tmp_path: Path) -> None:
    assert load_file(write(tmp_path / "a.txt", "x\n")).source == "a.txt"


@pytest.mark.parametrize(
    ("encoding", "text", "warning"),
    [
        ("cp1252", "Le café coûte 2 €. Très bon thé, crème brûlée et élèves naïfs.\n" * 4, "cp1252"),
        ("latin-1", "Grüße aus Köln: schöne Straße, Äpfel und Öl für alle.\n" * 4, "cp1252"),
        ("cp1250", "Příliš žluťoučký kůň úpěl ďábelské ódy. Čeština je krásná.\n" * 4, "cp1250"),
        ("utf-16", "Unicode with a BOM: naïve café, 東京, Ελλάδα.\n" * 4, "utf-16"),
        ("utf-16-le", "No BOM here, plain words in UTF-16 little endian.\n" * 4, "utf-16-le"),
    ],
)
def test_text_encodings_detected(tmp_path: Path, encoding: str, text: str, warning: str) -> None:
    path = write(tmp_path / "legacy.txt", text.encode(encoding))
    loaded = load_file(path, tmp_path)
    assert loaded.text == "\n".join([text.strip().split("\n")[0]] * 4)
    assert loaded.warnings == [f"encoding detected as {warning}"]


def test_utf8_bom_is_utf8(tmp_path: Path) -> None:
    loaded = load_file(write(tmp_path / "bom.txt", "\ufeffHello world.\n".encode()), tmp_path)
    assert loaded.blocks == [TextBlock("Hello world.")]
    assert loaded.warnings == []


def test_undecodable_bytes_past_the_sniffed_start_are_replaced_and_reported(tmp_path: Path) -> None:
    data = b"plain ascii line\n" * (SNIFF_BYTES // 17 + 10) + b"caf\xe9\n"
    loaded = load_file(write(tmp_path / "mixed.txt", data), tmp_path)
    assert loaded.blocks[-1].text.endswith("plain ascii line\ncaf\ufffd")
    assert loaded.warnings == ["1 undecodable byte sequence(s) replaced with U+FFFD (read as utf-8)",
                               "headings not found (plain text has no heading syntax; as Markdown, # lines would give "
                               "one): its chunks carry no section path"]  # 85 KB of text, no heading


def test_random_junk_named_txt_is_binary(tmp_path: Path) -> None:
    rng = random.Random(7)
    junk = b"\n".join(bytes(rng.randrange(256) for _ in range(80)) for _ in range(200))
    with pytest.raises(LoadError) as e:
        load_file(write(tmp_path / "junk.txt", junk), tmp_path)
    assert e.value.source == "junk.txt"
    assert e.value.reason.startswith("binary content, not text")


def test_control_characters_without_nul_are_binary(tmp_path: Path) -> None:
    data = bytes([0x01, 0x02, 0x03, 0x41, 0x42, 0x0A]) * 500
    with pytest.raises(LoadError, match="binary content, not text \\(control characters\\)"):
        load_file(write(tmp_path / "ctl.txt", data), tmp_path)


def test_binary_content_after_the_sniffed_start_raises_while_streaming(tmp_path: Path) -> None:
    data = b"a line of text\n" * (2 * SNIFF_BYTES // 15) + bytes(range(256)) * 16 + b"binary tail"
    path = write(tmp_path / "tail.txt", data)
    opened = open_file(path, tmp_path)  # the start looks fine
    with pytest.raises(LoadError, match=r"binary content, not text \(control characters at offset \d+\)"):
        list(opened.blocks)


def test_bytes_of_every_value_named_txt_are_binary(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"binary content, not text"):
        load_file(write(tmp_path / "junk.txt", bytes(range(256)) * 40), tmp_path)


@pytest.mark.parametrize("at", ["start", "past the sniffed start"])
def test_a_stray_nul_is_text_and_is_dropped(tmp_path: Path, at: str) -> None:
    # One NUL in a page of text (a manual quoting the character it documents) is not binary content.
    filler = b"" if at == "start" else b"filler line of plain text\n" * (2 * SNIFF_BYTES // 26)
    data = filler + b"\n" + b"The terminator is \x00 the NUL character.\n\nNext paragraph.\n"
    loaded = load_file(write(tmp_path / "nul.txt", data), tmp_path)
    assert [b.text for b in loaded.blocks][-2:] == ["The terminator is the NUL character.", "Next paragraph."]
    assert "\x00" not in loaded.text


def test_a_stray_nul_in_an_html_page_is_dropped(tmp_path: Path) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Chars</title></head><body><h1>Character constants</h1>"
        b"<p><code>\x00</code> is the null control character, abbreviated NUL.</p></body></html>"
    )
    loaded = load_file(write(tmp_path / "chars.html", page), tmp_path)
    assert [b.text for b in loaded.blocks] == ["is the null control character, abbreviated NUL."]
    page_with_junk = page.replace(b"</body>", b"<p>" + bytes(range(1, 32)) * 200 + b"</p></body>")
    with pytest.raises(LoadError, match="binary content, not text"):
        load_file(write(tmp_path / "junk.html", page_with_junk), tmp_path)


def test_empty_and_blank_files(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as e:
        load_file(write(tmp_path / "empty.txt", b""), tmp_path)
    assert e.value.reason == "empty file"
    with pytest.raises(LoadError) as e:
        load_file(write(tmp_path / "blank.md", b"  \n\n\t\n"), tmp_path)
    assert e.value.reason == "empty file (only whitespace)"


def test_markup_without_text_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as e:
        load_file(write(tmp_path / "rule.md", "---\n\n***\n"), tmp_path)
    assert e.value.reason == "no text content (only whitespace or markup)"


def test_long_lines_and_paragraphs_are_cut_into_bounded_blocks(tmp_path: Path) -> None:
    line = "word " * 10_000  # 50,000 characters, no newline
    loaded = load_file(write(tmp_path / "long.txt", line + "\n" + line), tmp_path)
    assert all(len(b.text) <= MAX_BLOCK_CHARS for b in loaded.blocks)
    assert loaded.text.split() == ["word"] * 20_000


def _write_big_text(path: Path, size: int) -> int:
    rng = random.Random(0)
    vocab = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
    ]
    paragraph = (
        " ".join(rng.choice(vocab) for _ in range(80)) + "\n" + " ".join(rng.choice(vocab) for _ in range(30))
    )
    chunk = (paragraph + "\n\n") * 1000
    with open(path, "w") as f:
        written = 0
        while written < size:
            f.write(chunk)
            written += len(chunk)
    return path.stat().st_size


def test_large_text_memory_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    size = _write_big_text(path, 20_000_000)

    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_blocks(path, tmp_path))
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        loaded = load_file(path, tmp_path)
        _, loaded_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded.blocks) == count > 10_000
    assert streamed_peak < 16_000_000  # one 1 MiB read, its decoded text and lines, one block
    assert loaded_peak < 3 * size  # the blocks' text (~the file) plus their objects; no second copy


# ---------------------------------------------------------------------------------------------- Markdown
MARKDOWN = """---
title: "Seed Library"
tags: [garden]
---

Intro paragraph   before any heading.

# Seeds
Borrow seeds in spring.
Return twice as many in autumn.

## Storing #

Keep them dry:

```python
# not a heading
def store(seed):
    return seed  # in a jar
```

Old style heading
-----------------

- paper bags
- glass jars

Top level again
===============

### Deep
Text under deep.

***

#hashtag is not a heading
"""


def test_markdown_headings_code_and_front_matter(tmp_path: Path) -> None:
    loaded = load_file(write(tmp_path / "seeds.md", MARKDOWN), tmp_path)
    assert loaded.file_type == "markdown"
    assert loaded.title == "Seed Library"
    assert loaded.blocks == [
        TextBlock("Intro paragraph before any heading."),
        TextBlock("Borrow seeds in spring.\nReturn twice as many in autumn.", ("Seeds",)),
        TextBlock("Keep them dry:", ("Seeds", "Storing")),
        TextBlock(
            "```python\n# not a heading\ndef store(seed):\n    return seed  # in a jar\n```",
            ("Seeds", "Storing"),
        ),
        TextBlock("- paper bags\n- glass jars", ("Seeds", "Old style heading")),
        TextBlock("Text under deep.", ("Top level again", "Deep")),
        TextBlock("#hashtag is not a heading", ("Top level again", "Deep")),
    ]


def test_markdown_title_from_first_h1_and_unclosed_fence(tmp_path: Path) -> None:
    text = "Some text.\n\n# Compost Notes\n\n~~~~\ncode line\n  indented\n~~~\nstill code\n"
    loaded = load_file(write(tmp_path / "notes.markdown", text), tmp_path)
    assert loaded.title == "Compost Notes"
    assert loaded.blocks == [
        TextBlock("Some text."),
        TextBlock("~~~~\ncode line\n  indented\n~~~\nstill code", ("Compost Notes",)),
    ]


# ----------------------------------------------------------------------------------------------- detection
def test_detect_type_by_content_and_extension(tmp_path: Path) -> None:
    assert detect_type(write(tmp_path / "a.md", "plain words\n")) == "markdown"
    assert detect_type(write(tmp_path / "a.txt", "# looks like markdown\n\n# twice\n")) == "text"
    assert detect_type(write(tmp_path / "README", "# Title\n\ntext\n\n## Part\n")) == "markdown"
    assert (
        detect_type(write(tmp_path / "page.txt", "<!DOCTYPE html><html><body><p>x</p></body></html>"))
        == "html"
    )
    assert detect_type(write(tmp_path / "page.htm", "no tags at all")) == "html"
    assert detect_type(write(tmp_path / "doc.txt", b"%PDF-1.4\n...")) == "pdf"
    tags = "<div><p>a</p><p>b</p></div>" * 5
    assert detect_type(write(tmp_path / "frag.dat", tags)) == "html"
    assert detect_type(write(tmp_path / "data.csv", "a,b\n1,2\n")) == "csv"
    assert detect_type(write(tmp_path / "data.csv.txt", "a,b\n1,2\n")) == "text"


def test_docx_detected_inside_zip_and_other_zips_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    assert detect_type(write(tmp_path / "renamed.bin", buf.getvalue())) == "docx"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    assert detect_type(write(tmp_path / "sheet.bin", buf.getvalue())) == "xlsx"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes/a.txt", "hello")
    with pytest.raises(LoadError) as e:
        detect_type(write(tmp_path / "notes.docx", buf.getvalue()))
    assert e.value.reason == (
        "unsupported file type: a zip archive that is not a .docx, .pptx, .xlsx or .epub; unpack it first"
    )
    assert e.value.source == (tmp_path / "notes.docx").as_posix()
    with pytest.raises(LoadError, match="legacy Office file"):
        detect_type(write(tmp_path / "old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100))


# -------------------------------------------------------------------------------------------- file errors
def test_directory_fifo_missing_and_unreadable_files_are_load_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "folder.txt", tmp_path)
    assert (e.value.source, e.value.reason) == (
        "folder.txt", "is a folder, not a file (replaced by one while ingesting?); ingest again to read the files in it"
    )

    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "pipe.txt", tmp_path)
    assert e.value.reason == "not a regular file (a FIFO, socket or device); skip it"

    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "gone.txt", tmp_path)
    assert e.value.reason == "file not found (moved or deleted while ingesting?); ingest again (--prune removes what is gone)"

    path = write(tmp_path / "locked.txt", "secret\n")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(detect_module, "open", denied, raising=False)  # tests run as root: chmod won't do
    with pytest.raises(LoadError) as e:
        load_file(path, tmp_path)
    assert e.value.reason == "permission denied: make the file readable for this user"


@pytest.mark.parametrize("read_bytes", [1, 2, 3, 7, 64])
def test_lines_survive_any_read_boundary(tmp_path: Path, read_bytes: int) -> None:
    from ingest.loaders.text import iter_lines

    text = "é first\r\nsecond ünïcödé\rthird 東京\n\r\nlast without end"
    path = write(tmp_path / "lines.txt", text)
    warnings: list[str] = []
    got = list(iter_lines(path, "lines.txt", "utf-8", warnings, read_bytes=read_bytes))
    assert got == ["é first", "second ünïcödé", "third 東京", "", "last without end"]
    assert warnings == []


def test_source_given_by_the_caller_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "deep" / "x.txt", "")
    with pytest.raises(LoadError) as e:
        load_file(path, source="docs/x.txt")
    assert (e.value.source, e.value.reason) == ("docs/x.txt", "empty file")
    write(path, "Hello.\n")
    assert load_file(path, tmp_path, source="docs/x.txt").source == "docs/x.txt"

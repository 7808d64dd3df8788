"""HTML (main text of a Sphinx-like page, fallbacks, encodings) and DOCX loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import load_file
from ingest.types import LoadError, TextBlock
from tests.fixtures_docs import SPHINX_PAGE, build_docx

BIN = ("Composting FAQ", "What goes in the bin?")


def test_sphinx_page_keeps_main_text_only(tmp_path: Path) -> None:
    (tmp_path / "faq").mkdir()
    path = tmp_path / "faq" / "compost.html"
    path.write_text(SPHINX_PAGE, encoding="utf-8")
    loaded = load_file(path, tmp_path)
    assert loaded.source == "faq/compost.html"
    assert loaded.file_type == "html"
    assert loaded.title == "Composting FAQ — Garden Docs 1.0"
    assert loaded.warnings == []
    assert loaded.blocks == [
        TextBlock("Vegetable scraps, coffee grounds and shredded cardboard. Avoid meat.", BIN),
        TextBlock("- Greens: grass clippings\n- Browns: dry leaves\n  - Oak leaves break down slowly", BIN),
        TextBlock("def ratio(greens, browns):\n    return greens / browns", BIN),
        TextBlock(
            "Stage | Temperature\nActive | 55 – 65 °C\nCuring | below 40 °C", (*BIN, "How hot does it get?")
        ),
        TextBlock(
            "When it smells like forest soil.\nUsually after six months.",
            ("Composting FAQ", "When is it ready?"),
        ),
    ]
    for furniture in (
        "Navigation",
        "index",
        "Table of Contents",
        "Show Source",
        "Copyright",
        "¶",
        "Contents",
        "Go",
    ):
        assert furniture not in loaded.text


def test_page_without_main_falls_back_to_body_minus_furniture(tmp_path: Path) -> None:
    page = """<html><head><title>Shed</title><script>var x = 1;</script></head><body>
    <header><a href="/">Home</a> | <a href="/about">About</a></header>
    <div class="sidebar-left"><ul><li><a href="/one">Link one</a></li><li><a href="/two">Link two</a></li></ul></div>
    <h1>Tool shed</h1>
    <p>Open on <b>Saturdays</b>.</p>
    <ol><li>Sign in</li><li>Take a tool</li></ol>
    <div hidden>secret</div><noscript>Enable JS</noscript>
    <footer>© Garden Club</footer>
    </body></html>"""
    (tmp_path / "shed.html").write_text(page)
    loaded = load_file(tmp_path / "shed.html", tmp_path)
    assert loaded.title == "Shed"
    assert loaded.blocks == [
        TextBlock("Open on Saturdays.", ("Tool shed",)),
        TextBlock("1. Sign in\n2. Take a tool", ("Tool shed",)),
    ]


def test_html_title_from_h1_and_declared_legacy_encoding(tmp_path: Path) -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><main><h1>Café</h1><p>Crème brûlée</p></main></body></html>'
    (tmp_path / "menu.html").write_bytes(page.encode("cp1252"))
    loaded = load_file(tmp_path / "menu.html", tmp_path)
    assert loaded.title == "Café"
    assert loaded.blocks == [TextBlock("Crème brûlée", ("Café",))]
    assert loaded.warnings == ["encoding detected as windows-1252"]


def test_html_with_only_navigation_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "nav.html").write_text(
        "<html><body><nav><a href='/'>Home</a></nav><script>x()</script></body></html>"
    )
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "nav.html", tmp_path)
    assert e.value.reason == "no main text in this page (rendered by JavaScript, or only navigation?)"


def test_docx_paragraphs_headings_lists_tables(tmp_path: Path) -> None:
    loaded = load_file(build_docx(tmp_path / "rules.docx"), tmp_path)
    assert loaded.file_type == "docx"
    assert loaded.title == "Tool Shed Rules"
    assert loaded.blocks == [
        TextBlock("Shared tools are a privilege."),
        TextBlock("Sign the book when you take a tool.", ("Borrowing",)),
        TextBlock("- Spades\n- Rakes", ("Borrowing",)),
        TextBlock("Clean the blades before hanging them up.", ("Borrowing", "Returning")),
        TextBlock("Opening hours\nWeekdays\t8-18\nWeekends\t9-13", ("Borrowing", "Returning")),
        TextBlock("A lost tool is replaced by the borrower.", ("Fines",)),
    ]


def test_damaged_docx_is_a_load_error(tmp_path: Path) -> None:
    data = build_docx(tmp_path / "ok.docx").read_bytes()
    (tmp_path / "bad.docx").write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "bad.docx", tmp_path)
    assert e.value.reason.startswith("damaged zip/DOCX file")


def test_docx_with_broken_parts_is_a_load_error(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "fake.docx", "w") as z:
        z.writestr("word/document.xml", "<not really xml")
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "fake.docx", tmp_path)
    assert e.value.reason.startswith("damaged or unreadable DOCX (")
    assert e.value.reason.endswith("); re-save it from its application")


def test_a_page_over_the_tree_limit_is_streamed_with_the_tag_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.loaders import html

    page = ('<html><head><title>Shed</title><style>p {}</style></head><body><nav><a href="/">Home</a></nav>'
            '<div class="menu"><a href="/a">Beds</a> <a href="/b">Paths</a></div><main><h1>Tool shed</h1>'
            "<p>Open on <b>Saturdays</b>.</p><div hidden>draft</div><ol><li>Sign in</li><li>Take a tool<ul><li>one"
            "</li></ul></li></ol><table><tr><th>Tool</th><th>Count</th></tr><tr><td>spade <p>steel</p></td><td>4</td>"
            "</tr></table><h2>Rules</h2><pre>keep  it\n  tidy</pre><p>Fines: 2 \u20ac</p></main></body></html>")  # fmt: skip
    (tmp_path / "shed.html").write_bytes(page.encode("cp1252"))  # no charset declared: guessed
    tree = load_file(tmp_path / "shed.html", tmp_path)
    monkeypatch.setattr(html, "HTML_TREE_MAX_BYTES", 100)
    streamed = load_file(tmp_path / "shed.html", tmp_path)
    # The same blocks, but for the link bar the structural rules drop and only the tree finds.
    assert streamed.blocks == [TextBlock("Beds Paths"), *tree.blocks]
    assert [b.kind for b in streamed.blocks] == ["text", "text", "list", "table", "code", "text"]
    assert streamed.blocks[3].text == "Tool | Count\nspade steel | 4" and streamed.blocks[4].text == "keep  it\n  tidy"
    assert streamed.title == tree.title == "Shed"
    # One € byte cannot tell cp1252 from the other codepages that read 0x80 as €: any of them is right.
    guessed, large = streamed.warnings
    assert guessed.startswith("encoding detected as ") and b"\x80".decode(guessed.rsplit(" ", 1)[1]) == "€"
    assert streamed.blocks[-1].text == "Fines: 2 €"
    assert large == ("large page (0 KiB, over 0 KiB): read as a stream, without the rules that find the main text, "
                     "so menus and link lists may be indexed too; split the page to have them left out")

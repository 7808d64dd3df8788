"""Extraction keeps what a reader sees and drops only furniture (issue 12).

HTML: notes, sidebars, asides, tables, definition lists, code and captions are kept; navigation is dropped
by structure (link bars, link lists, blocks outside the main text), not by class names. PDF: running
headers that change with the chapter, contents/list-of-tables/index pages and "Chapter N" fragments go;
header removal never empties a page. Chunking: table rows and definition entries stay whole, CJK sentence
ends are sentence ends. Every fixture is built in ``tests/fixtures_extraction.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fpdf import FPDF
from transformers import AutoTokenizer

from ingest.chunking import Chunker
from ingest.loaders import load_file
from ingest.loaders.clean import (
    contents_lines,
    is_contents_line,
    is_index_line,
    repeated_edge_lines,
)
from ingest.loaders.html import parse_html
from ingest.loaders.pdf import MIN_FRAGMENT_CHARS, _merge_fragments
from ingest.types import LoadedFile, LoadError, TextBlock
from retrievers.model_names import resolve_model
from tests.fixtures_extraction import (
    ASIDE_PAGE,
    BOILER_PARAGRAPH,
    DOCBOOK_PAGE,
    DOXYGEN_PAGE,
    FIGURE_CAPTIONS,
    GROHTML_PAGE,
    JAVADOC_LOWER,
    JAVADOC_PAGE,
    MANUAL,
    MANUAL_CONTENTS,
    MANUAL_INDEX,
    MANUAL_TABLES,
    NAV_SIDEBAR_PAGE,
    NUMBERED_SECTIONS,
    SIDEBAR_ANSWER,
    SPHINX_OLD_PAGE,
    TEXINFO_PAGE,
    build_boiler_pdf,
    build_manual_pdf,
    build_numbered_pdf,
    manual_body_lines,
)


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm").path)
    return Chunker(tokenizer, chunk_size=200, chunk_overlap=40, max_tokens=256)


def html_file(tmp_path: Path, name: str, page: str) -> LoadedFile:
    (tmp_path / name).write_text(page, encoding="utf-8")
    return load_file(tmp_path / name, tmp_path)


def blocks_of(page: str) -> list[tuple[str, tuple[str, ...], str]]:
    return [(b.text, b.heading, b.kind) for b in parse_html(page)[0]]


# ---------------------------------------------------------------------------------------------- HTML
CHAPTER = "Chapter 2. Keys and locks"
WHERE = (CHAPTER, "2.1. Where the keys are kept")
LOCKS = (CHAPTER, "2.2. Lock codes")


def test_docbook_sidebar_note_is_indexed(tmp_path: Path, chunker: Chunker) -> None:
    loaded = html_file(tmp_path, "ch02.html", DOCBOOK_PAGE)
    assert SIDEBAR_ANSWER in loaded.text
    chunks = chunker.chunk(loaded)
    assert any(SIDEBAR_ANSWER in c.page_content for c in chunks)


def test_docbook_page_keeps_notes_entries_tables_code_captions(tmp_path: Path) -> None:
    assert blocks_of(DOCBOOK_PAGE) == [
        ("Every key is labelled with the room it opens. The key cabinet is in the caretaker's office.", WHERE, "text"),
        ("Spare keys", WHERE, "text"),  # the sidebar's title
        (SIDEBAR_ANSWER, WHERE, "text"),
        ("Note", WHERE, "table"),  # the admonition's label; its "[Note]" icon repeats it and is left out
        ("Return every key before six in the evening.", WHERE, "text"),  # a layout row, read as blocks
        ("$ keylog --return 42", WHERE, "code"),
        ("Red tag\nOpens the plant rooms. Only the caretaker may borrow it.", WHERE, "entry"),
        ("Blue tag\nGreen tag\nOpen the meeting rooms on the first floor.", WHERE, "entry"),
        ("Table 2.1. Door codes", LOCKS, "text"),
        ("Door | Code | Changed\nBike shed | 4711 | March\nRoof hatch | 0815 | May", LOCKS, "table"),
        ("Floor plan of the ground floor", LOCKS, "text"),  # an image's alt, the only text of its block
        ("Figure 2.1. The key cabinet is left of the door", LOCKS, "text"),
        ("$ lockctl --show roof-hatch\ncode: 0815", LOCKS, "code"),
    ]  # fmt: skip


def test_docbook_navigation_is_dropped(tmp_path: Path) -> None:
    text = html_file(tmp_path, "ch02.html", DOCBOOK_PAGE).text
    # header and footer link bars (Prev/Next/Home and the neighbouring chapters' titles), contents list
    for furniture in ("Prev", "Next", "Home", "Chapter 1. Arrival", "Chapter 3. Heating", "Table of Contents",
                      "2.1. Where the keys are kept", "[Note]"):  # fmt: skip
        assert furniture not in text


def test_navigation_sidebar_is_not_indexed(tmp_path: Path) -> None:
    loaded = html_file(tmp_path, "hours.html", NAV_SIDEBAR_PAGE)
    assert [(b.text, b.heading) for b in loaded.blocks] == [
        ("The building opens at seven and closes at ten on weekdays. On Sundays it stays closed.", ("Opening hours",)),
        ("During the summer holidays the opening hours are shortened by two hours.", ("Opening hours",)),
    ]  # fmt: skip
    for furniture in ("Pages", "Welcome", "Contact the caretaker", "House rules"):
        assert furniture not in loaded.text


def test_sphinx_page_without_roles_keeps_asides_and_drops_sidebars(tmp_path: Path) -> None:
    boilers = ("Boilers",)
    assert blocks_of(SPHINX_OLD_PAGE) == [
        ("The building has two gas boilers in the basement plant room, serviced every autumn.", boilers, "text"),
        ("Pressure", boilers, "text"),  # the sidebar directive (an <aside>)
        ("A cold boiler should show between one and one and a half bar on its gauge.", boilers, "text"),
        ("Warning", boilers, "text"),
        ("Never bleed a radiator while the pump is running.", boilers, "text"),
        ("restart(boiler, force=False)\nRestart one boiler after a lockout.\nWith force the flame check is skipped.",
         boilers, "entry"),
    ]  # fmt: skip
    text = html_file(tmp_path, "boilers.html", SPHINX_OLD_PAGE).text
    # the related bar, the toctree, the sphinxsidebar (previous/next topic, source link, search), the footer
    for furniture in ("Navigation", "index", "previous", "Facilities 2.0 documentation", "Pumps", "Valves",
                      "Introduction", "Show Source", "Quick search", "Copyright", "¶"):  # fmt: skip
        assert furniture not in text


def test_aside_warning_inside_main_is_kept(tmp_path: Path) -> None:
    assert blocks_of(ASIDE_PAGE) == [
        ("Ladders are stored flat on the wall hooks in the workshop.", ("Ladders",), "text"),
        ("Warning", ("Ladders",), "text"),  # the aside's heading is a label, not a section of the page
        ("Never climb a ladder alone after dark; call the night porter first.", ("Ladders",), "text"),
        ("Check the feet and the rungs before each use.", ("Ladders", "Inspection"), "text"),
    ]
    text = html_file(tmp_path, "ladders.html", ASIDE_PAGE).text
    for furniture in (
        "Skip to content",
        "Caretaker's handbook",
        "Search",
        "Related",
        "Step stools",
        "Last changed",
    ):
        assert furniture not in text


def test_texinfo_node_panels_and_grohtml_contents_are_dropped() -> None:
    assert blocks_of(TEXINFO_PAGE) == [
        ("The fuse box for the ground floor is behind the reception desk.", ("3.2 Fuses",), "text")
    ]
    # grohtml: a contents list of bare links (dropped), the text after </html> (kept)
    assert blocks_of(GROHTML_PAGE) == [
        (
            "Signs are printed on the office printer and laminated before they go up.",
            ("Making Signs",),
            "text",
        )
    ]


def test_links_in_text_are_text() -> None:
    page = """<html><body><main><h1>Stages</h1>
    <p>The heating starts in three stages, each described in its own section:</p>
    <ul><li><a href="#s1">Stage 1: the pump</a></li><li><a href="#s2">Stage 2: the burner</a></li>
        <li><a href="#s3">Stage 3: the radiators</a></li></ul>
    <p>See <a href="pumps.html">pumps</a> and <a href="burners.html">burners</a>.</p>
    <ul><li><a href="https://example.org/a">An external reference</a></li><li><a href="https://example.org/b">Another one</a></li></ul>
    </main></body></html>"""
    assert [t for t, _, _ in blocks_of(page)] == [
        "The heating starts in three stages, each described in its own section:",
        "- Stage 1: the pump\n- Stage 2: the burner\n- Stage 3: the radiators",  # introduced by the text
        "See pumps and burners.",
        "- An external reference\n- Another one",  # links out of the site: references, not navigation
    ]


def test_long_definition_keeps_its_term_with_the_first_paragraph() -> None:
    para = "The valve is opened by a quarter turn to the left. " * 25  # 1,275 characters
    page = (
        f"<html><body><main><dl><dt>Valve</dt><dd><p>{para}</p><p>{para}</p></dd></dl></main></body></html>"
    )
    blocks = parse_html(page)[0]
    assert [(b.text, b.kind) for b in blocks] == [(f"Valve\n{para.strip()}", "entry"), (para.strip(), "text")]


def test_javadoc_page_keeps_its_title_description_and_sections() -> None:
    cls = ("Class Thermostat",)
    summary, details = (*cls, "Method Summary"), (*cls, "Method Details", "lower")
    assert blocks_of(JAVADOC_PAGE) == [
        # <main> says where the text is: the description beside the long details is text, its signature's
        # links out of the site are references; the page title (under a "header" class) heads everything
        ("public final class Thermostat extends Object", cls, "text"),
        ("Holds the set point of one room and switches its radiator valve.", cls, "text"),
        ("All Methods | Instance Methods", summary, "text"),  # the tabs a reader sees above the table
        ("Method", summary, "text"),
        ("Description", summary, "text"),
        ("Lowers the set point by half a degree.", summary, "text"),  # its "lower" cell, a jump, is gone
        ("public void lower()", details, "text"),  # lists of sections are read as sections
        (JAVADOC_LOWER, details, "text"),
        ("See Also:", details, "entry"),  # its list was one jump within the page
    ]
    text = "\n".join(b.text for b in parse_html(JAVADOC_PAGE)[0])
    for furniture in ("Package", "org.example.caretaker", "raise()", "Tree", "Copyright"):
        assert furniture not in text


def test_doxygen_page_keeps_group_headers_and_drops_link_rows_and_footer() -> None:
    low, high = ("Macro Definition Documentation", "◆ BURNER_LOW"), ("◆ BURNER_HIGH",)
    assert blocks_of(DOXYGEN_PAGE) == [
        ("Boiler API", (), "text"),  # the project name in the title area (left: one short line)
        ("Modules", (), "table"),  # a table's heading row is its first line; its rows of bare links go
        ("Macros\n#define | BURNER_LOW 0x01\n#define | BURNER_HIGH 0x02", (), "table"),
        # a heading with nothing under it stays in the path of the heading right after it
        ("#define BURNER_LOW 0x01", low, "table"),
        ("Runs the burner on its low stage, for mild days.", low, "text"),
        ("#define BURNER_HIGH 0x02", high, "table"),
        ("Runs the burner on both stages, for frost.", high, "text"),
    ]
    text = "\n".join(b.text for b in parse_html(DOXYGEN_PAGE)[0])
    for furniture in ("Pilot Flags", "Fan Flags", "Generated by", "1.8.16"):
        assert furniture not in text


def test_empty_headings_and_local_contents_lists() -> None:
    page = """<html><body><main><h1>Pumps</h1><h2>Reference</h2><h2>Circulator</h2><p>Runs all winter.</p>
    <h2>Spares</h2><h3>Seals</h3><h2>Valves</h2><p>Turn left to open.</p>
    <ul><li><a href="#a">Circulator</a></li><li><a href="#b">Valves</a></li></ul>
    <p>The pumps are described in two sections, each with its own page of figures:</p>
    <ul><li><a href="#a">Circulator</a></li><li><a href="#b">Valves</a></li></ul></main></body></html>"""
    assert blocks_of(page) == [
        ("Runs all winter.", ("Pumps", "Reference", "Circulator"), "text"),
        ("Turn left to open.", ("Pumps", "Spares", "Seals", "Valves"), "text"),
        # a list of jumps within the page is its contents, unless the text introduces it
        (
            "The pumps are described in two sections, each with its own page of figures:",
            ("Pumps", "Spares", "Seals", "Valves"),
            "text",
        ),
        ("- Circulator\n- Valves", ("Pumps", "Spares", "Seals", "Valves"), "list"),
    ]


# ----------------------------------------------------------------------------------------------- PDF
def test_outline_headings_keep_their_printed_numbers_and_caption_pages_are_kept(tmp_path: Path) -> None:
    loaded = load_file(build_numbered_pdf(tmp_path / "book.pdf"), tmp_path)
    assert [b.heading for b in loaded.blocks[:2]] == [
        ("1 Radiators", f"{n} {t}") for n, t, _ in NUMBERED_SECTIONS
    ]
    for caption in FIGURE_CAPTIONS:  # pages holding one caption each: merged, never lost
        assert sum(caption in b.text for b in loaded.blocks) == 1, caption
    assert {b.heading for b in loaded.blocks[2:]} == {("2 Flowcharts",)}


def test_fragments_merged_on_are_never_lost() -> None:
    h = ("Flowcharts",)
    captions = [TextBlock(f"Fig. {n}: step {n}", h, n) for n in range(1, 6)]
    merged = _merge_fragments([*captions, TextBlock("Pumps", ("Pumps",), 6)])
    assert "\n\n".join(b.text for b in merged if b.heading == h) == "\n\n".join(c.text for c in captions)


def test_pages_that_start_alike_are_not_taken_for_headers(tmp_path: Path) -> None:
    path = build_boiler_pdf(tmp_path / "guide.pdf")
    for extractor in ("auto", "pypdf", "pypdf-layout"):
        loaded = load_file(path, tmp_path, pdf_extractor=extractor)
        assert [b.page for b in loaded.blocks] == [1, 2, 3], extractor
        for n, block in enumerate(loaded.blocks, start=1):
            assert " ".join(block.text.split()) == " ".join(BOILER_PARAGRAPH).format(n=n), extractor


def test_pdf_of_page_numbers_only_says_so(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for _ in range(3):
        pdf.add_page()
        pdf.set_font("helvetica", size=9)
        pdf.set_y(-15)
        pdf.cell(0, 5, str(pdf.page_no()), align="C")
    pdf.output(str(tmp_path / "numbers.pdf"))
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "numbers.pdf", tmp_path)
    assert e.value.reason == "only running headers, footers and page numbers on every page; no body text"


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_manual_pdf(tmp_path_factory.mktemp("manual") / "manual.pdf")


@pytest.mark.parametrize("extractor", ["auto", "pypdf", "pypdf-layout"])
def test_manual_pdf_has_body_text_only(manual: Path, chunker: Chunker, extractor: str) -> None:
    loaded = load_file(manual, manual.parent, pdf_extractor=extractor)
    chunks = chunker.chunk(loaded)
    flat = [" ".join(c.page_content.split()) for c in chunks]
    # all the body text, nothing else
    for line in manual_body_lines():
        assert any(line in text for text in flat), line
    assert sum(len(line) + 1 for line in manual_body_lines()) >= sum(len(t) for t in flat) - 10 * len(flat)
    for text in flat:
        assert not re.search(r"(?:\. ){3,}", text)  # no contents line
        assert not re.search(r"CHAPTER|RADIATORS|HOT WATER|MAINS|BOILERS", text)  # no running header
        assert not re.fullmatch(r"(?:Chapter \d+|\d+)", text)  # no "Chapter 1" or page-number chunk
    everything = "\n".join(flat)
    for title, _ in MANUAL_CONTENTS + MANUAL_TABLES:
        assert title not in everything
    for entry in MANUAL_INDEX:
        assert entry not in everything
    assert "List of Tables" not in everything


def test_manual_pdf_headings(manual: Path) -> None:
    loaded = load_file(manual, manual.parent)
    expected = [
        (chapter, section) for chapter, sections in MANUAL for section, pages in sections for _ in pages
    ]
    assert [b.heading for b in loaded.blocks] == expected
    assert [b.page for b in loaded.blocks] == list(range(3, 11))


def test_running_headers_that_change_with_the_chapter() -> None:
    body = [f"Body line {k} of this page, set in the text block." for k in range(4)]
    pages = [["Contents", "3 Pumps . . . . 1"], ["Chapter 3", "Pumps", *body, "1"]]
    pages += [
        [f"{p}    CHAPTER 3. PUMPS", *body] if p % 2 == 0 else [f"3.{p}. VALVES    {p}", *body]
        for p in range(2, 9)
    ]
    drop = repeated_edge_lines(pages)
    assert drop[0] == set()
    assert drop[1] == {6}  # the page number at the foot of the chapter's first page
    assert all(d == {0} for d in drop[2:])  # "4    CHAPTER 3. PUMPS", "3.5. VALVES    5"...


def test_header_removal_needs_a_paragraph_break_and_never_empties_pages() -> None:
    pages = [
        [f"Page {n} of the guide. The key hangs behind", "the door of the office, on the left."]
        for n in (1, 2, 3)
    ]
    assert repeated_edge_lines(pages) == [set(), set(), set()]  # removing them would empty every page
    headed = [
        ["Guide to the building", f"The {n} text starts here", "and goes on here."]
        for n in ("first", "next", "last")
    ]
    assert repeated_edge_lines(headed, breaks=[{0, 1}] * 3) == [{0}, {0}, {0}]
    assert repeated_edge_lines(headed, breaks=[{0}] * 3) == [set(), set(), set()]  # no break: one paragraph


def test_contents_and_index_lines() -> None:
    assert is_contents_line("1.2.3 The shell prompt . . . . . . . . . 12")
    assert is_contents_line("Index........ 231")
    assert is_contents_line("2 Debian package management 37")
    assert is_contents_line("A.2 Copyright history 231")
    assert not is_contents_line("A radiator that stays cold needs 2")
    assert not is_contents_line("The stopcock takes 11 full turns.")
    assert is_index_line("boiler pressure, 12-14, 31")
    assert not is_index_line("Turn it clockwise, then wait 5")  # ends in a number, but one after words
    pages = [
        [
            "Contents",
            "1 Heating . . . . . 1",
            "1.1 Boilers and their",
            "pressure . . . . . 2",
            "2 Water . . . . 5",
        ],
        ["Index", "A", "boiler, 1, 2", "bleeding, 3", "B", "cylinder, 7"],
        ["A cold boiler shows 1 bar.", "Top it up at the loop 2", "Bleed radiators in October."],
    ]
    assert contents_lines(pages) == [{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5}, set()]


def test_small_fragments_and_split_paragraphs_merge_with_their_page_neighbours() -> None:
    h = ("Heating",)
    blocks = [
        TextBlock("Bleed the radiators from the top floor", h, 4),
        TextBlock("down, one valve at a time.", h, 5),  # the paragraph carries on over the page break
        TextBlock("Keep a cloth under every valve while you bleed the radiator.", h, 5),
        TextBlock("Done.", h, 6),  # a page whose text under "Heating" is a fragment
        TextBlock("Water", ("Water",), 6),  # alone under its heading: stays
    ]
    assert len("Done.") < MIN_FRAGMENT_CHARS
    assert _merge_fragments(blocks) == [
        TextBlock("Bleed the radiators from the top floor\ndown, one valve at a time.", h, 4),
        TextBlock("Keep a cloth under every valve while you bleed the radiator.\n\nDone.", h, 5),
        TextBlock("Water", ("Water",), 6),
    ]


# ------------------------------------------------------------------------------------------ chunking
def _spans(loaded: LoadedFile, docs) -> list[tuple[int, int]]:
    for d in docs:
        assert loaded.text[d.metadata["start_index"] : d.metadata["end_index"]] == d.page_content
    return [(d.metadata["start_index"], d.metadata["end_index"]) for d in docs]


def test_table_rows_are_never_cut(chunker: Chunker) -> None:
    # rows of about 25 tokens whose cells hold sentence ends, which the chunker prefers to line breaks
    rows = [
        f"Valve {k} | Open it slowly. Then wait for the hiss to stop. | Check the gauge {k} again."
        for k in range(30)
    ]
    loaded = LoadedFile("valves.html", "html", [TextBlock("\n".join(rows), ("Valves",), kind="table")])
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm").path)
    docs = Chunker(tokenizer, chunk_size=64, chunk_overlap=12, max_tokens=128).chunk(loaded)
    assert len(docs) > 5
    ends = {loaded.text.index(row) + len(row) for row in rows}
    assert all(end in ends for _, end in _spans(loaded, docs))  # every chunk ends at the end of a row...
    for row in rows:
        assert any(row in d.page_content for d in docs)  # ...and every row is whole in some chunk


def test_definition_entries_are_never_cut() -> None:
    entries = [
        f"Term {k}\nThe definition of term {k} says what it is. It also says why it matters here."
        for k in range(12)
    ]
    blocks = [TextBlock(e, ("Glossary",), kind="entry") for e in entries]
    loaded = LoadedFile("glossary.html", "html", blocks)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm").path)
    docs = Chunker(tokenizer, chunk_size=60, chunk_overlap=0, max_tokens=128).chunk(loaded)
    assert len(docs) > 3
    for d in docs:  # each chunk is a run of whole entries
        assert d.page_content.split("\n\n") == [e for e in entries if e in d.page_content]
    assert sum(len(d.page_content.split("\n\n")) for d in docs) == len(entries)


def test_a_row_longer_than_a_chunk_is_cut() -> None:
    long_row = " | ".join(f"cell {k} holds a few words" for k in range(40))
    loaded = LoadedFile("t.html", "html", [TextBlock(f"short | row\n{long_row}\nlast | row", kind="table")])
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm").path)
    docs = Chunker(tokenizer, chunk_size=50, chunk_overlap=0, max_tokens=64).chunk(loaded)
    assert len(docs) > 3
    assert "".join(d.page_content for d in docs).replace("\n", "").replace(" ", "") == loaded.text.replace(
        "\n", ""
    ).replace(" ", "")
    assert docs[0].page_content.startswith("short | row\ncell 0")
    assert docs[-1].page_content.endswith("\nlast | row")


ZH = [
    "星河保温杯充满电需要大约三个小时。",
    "充电时指示灯会一直闪烁；",
    "充满以后指示灯变成绿色！",
    "可以一边充电一边使用吗？",
    "可以，但是充电时间会变长。",
]
JA = [
    "このポンプは毎朝八時に自動で動き始めます。",
    "止めたいときは赤いボタンを三秒間押してください；",
    "ランプが消えたら止まっています！",
    "再び動かすには青いボタンを押しますか？",
    "はい、青いボタンを一回押すだけです。",
]


@pytest.mark.parametrize("sentences", [ZH, JA], ids=["chinese", "japanese"])
@pytest.mark.parametrize("overlap", [0, 8])
def test_cjk_chunks_end_at_sentence_ends(sentences: list[str], overlap: int) -> None:
    text = "".join(sentences * 6)  # no spaces and no line breaks: only sentence ends can be cut at
    loaded = LoadedFile("faq.txt", "text", [TextBlock(text)])
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm").path)
    docs = Chunker(tokenizer, chunk_size=40, chunk_overlap=overlap, max_tokens=64).chunk(loaded)
    assert len(docs) > 4
    spans = _spans(loaded, docs)
    for d in docs[:-1]:
        assert d.page_content[-1] in "。！？；", d.page_content
    if overlap == 0:
        assert all(text[start - 1] in "。！？；" for start, _ in spans[1:])  # chunks start at sentence starts


def test_cjk_full_width_semicolon_ends_a_sentence() -> None:
    clauses = [
        "一号泵每天早上八点自动启动",
        "二号泵只在一号泵检修时使用",
        "三号泵负责楼顶的水箱",
        "四号泵已经停用",
    ]
    text = "；".join(clauses * 5) + "。"
    loaded = LoadedFile("pumps.txt", "text", [TextBlock(text)])
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm").path)
    docs = Chunker(tokenizer, chunk_size=30, chunk_overlap=0, max_tokens=64).chunk(loaded)
    assert len(docs) > 3
    assert all(d.page_content.endswith("；") for d in docs[:-1])
    assert "".join(d.page_content for d in docs) == text

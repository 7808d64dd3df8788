"""Tests for the pure parts of benchmarks/extraction_recall.py (normalisation, n-gram alignment, the
furniture rules and both scores) on small hand-written strings; the benchmark itself is not a test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "extraction_recall.py"


def _load():
    spec = importlib.util.spec_from_file_location("extraction_recall", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("extraction_recall", module)
    spec.loader.exec_module(module)
    return module


er = _load()
L, R, NO, NC = er.LINK_OPEN, er.LINK_CLOSE, er.NAV_OPEN, er.NAV_CLOSE


def body_of(*lines: str):
    return er.Body.from_lines([er.RefLine(t, er.normalize(t)) for t in lines])


# ---- normalisation and n-grams ----------------------------------------------------------------------


def test_normalize_keeps_letters_and_digits_only():
    assert er.normalize("Extrac-\ntion, ﬁnal! ＡＢＣ 12 Straße") == "extractionfinalabc12strasse"
    assert er.normalize(" • ┃ -- ") == ""


def test_grams_do_not_cross_pieces():
    assert er.grams("abcd", 3) == {"abc", "bcd"}
    assert er.grams("ab", 3) == set()
    assert er.gram_set(["abc", "def"], 3) == {"abc", "def"}  # no "bcd" nor "cde"


def test_fields_split_on_wide_gaps_only():
    assert er.fields("  Chapter 2: Keeping Free    17 ") == ["Chapter 2: Keeping Free", "17"]
    assert er.fields("one  two") == ["one  two"]


# ---- content recall ---------------------------------------------------------------------------------


def test_recall_counts_exactly_the_lost_line():
    kept1 = "The quick brown fox jumps over the lazy dog."
    lost = "This sentence never reaches any chunk at all."
    kept2 = "A third line that is in the index as well."
    body = body_of(kept1, lost, kept2)
    result = er.content_recall(body, [f"{kept1}\n\n{kept2}"])
    n1, n2, n3 = (len(er.normalize(t)) for t in (kept1, lost, kept2))
    assert result.body_chars == n1 + n2 + n3
    assert result.recall == pytest.approx((n1 + n3) / (n1 + n2 + n3))
    assert er.lost_lines(body, result) == [{"missed_chars": n2, "text": lost}]


def test_recall_ignores_case_spacing_hyphenation_and_chunk_overlap():
    body = body_of("Installation of files to their destination", "is done by dh_install in the binary target.")
    chunks = ["INSTALLATION of files to their desti-", "destination is done by dh_in stall in the binary target."]
    assert er.content_recall(body, chunks).recall == 1.0


def test_an_extra_reference_character_costs_only_itself():
    line = "the boiler room key hangs behind the door 7 of the facilities guide in building B"
    body = body_of(line)
    result = er.content_recall(body, [line.replace(" 7 ", " ")])
    size = len(er.normalize(line))
    assert result.recall == pytest.approx((size - 1) / size)


def test_short_segments_count_when_found_whole():
    # "Note" and "42" are shorter than an n-gram; their grams all cross into the neighbouring lines,
    # which the index holds in another order.
    body = body_of("First paragraph of the manual text here.", "Note", "Second paragraph of the manual text.",
                   "Absent", "Third paragraph closes this small page.")
    index = ["Second paragraph of the manual text.", "First paragraph of the manual text here.",
             "Third paragraph closes this small page.", "Note"]
    result = er.content_recall(body, index)
    missing = len(er.normalize("Absent"))
    assert result.body_chars - int(result.covered.sum()) == missing


def test_recall_of_an_empty_body_is_one():
    assert er.content_recall(body_of(), ["anything"]).recall == 1.0


# ---- HTML furniture rules ---------------------------------------------------------------------------


def test_parse_marked_and_link_only_lines():
    text = (f"{L}Next{R} | {L}Previous{R} | {L}Up{R}\n"
            f"See {L}the tutorial{R} for details on this.\n"
            f"{NO}Navigation\n{L}index{R}{NC}\n"
            f"Next: {L}Conventions{R}, Previous: {L}Preface{R} [{L}Contents{R}]\n")
    lines = er.parse_marked(text)
    assert [line.text for line in lines] == ["Next | Previous | Up", "See the tutorial for details on this.",
                                             "Navigation", "index", "Next: Conventions, Previous: Preface [Contents]"]
    er.classify_html({"page": lines})
    assert [line.reason for line in lines] == ["links", None, "nav", "nav", "links"]


def test_repeated_lines_are_furniture_only_at_the_page_edges():
    def page(i: int) -> list:
        return er.parse_marked(f"Site header of the manual\n\nBody text unique to page {i}.\n"
                               f"Traceback (most recent call last):\nMore body text of page {i}.\n"
                               "Copyright 2024 the authors\n")

    pages = {f"p{i}": page(i) for i in range(3)}
    er.classify_html(pages)
    reasons = {line.text: line.reason for line in pages["p1"] if line.norm}
    assert reasons == {"Site header of the manual": "repeated", "Body text unique to page 1.": None,
                       "Traceback (most recent call last):": None, "More body text of page 1.": None,
                       "Copyright 2024 the authors": "repeated"}
    two = {f"p{i}": page(i) for i in range(2)}  # too few pages to call anything repeated
    er.classify_html(two)
    assert all(line.reason is None for line in two["p0"])


def test_contents_title_and_dot_leaders():
    lines = er.parse_marked("Table of Contents\n1.1 Social dynamics . . . . . . . . 3\nBody text.\n")
    er.classify_html({"page": lines})
    assert [line.reason for line in lines] == ["contents", "contents", None]


# ---- PDF furniture rules ----------------------------------------------------------------------------


def _pdf(pages: list[str]) -> str:
    return "\f".join(pages) + "\f"


def test_pdf_running_headers_page_numbers_and_contents_page():
    contents = ("Facilities Guide                    i\n\nContents\n"
                + "".join(f"{k}  Section number {k} . . . . . . . . .   {k + 1}\n" for k in range(1, 7)))
    titles = ["Heating", "Keys and locks", "Water supply", "Fire doors"]
    body_pages = [f"Facilities Guide                    {n}\n\nChapter {n}: {titles[n - 1]}   \n"
                  f"Unique body line {n} about the boiler room.\nAnother line {n} on keys.\n\n            {n}\n"
                  for n in range(1, 5)]
    lines = er.parse_pdf_reference(_pdf([contents, *body_pages]))
    by_text = {line.text.strip(): line.reason for line in lines if line.norm}
    assert by_text["Contents"] == "contents"
    assert by_text["3  Section number 3 . . . . . . . . .   4"] == "contents"
    assert by_text["Facilities Guide                    2"] == "header"
    assert by_text["2"] == "header"
    assert by_text["Unique body line 2 about the boiler room."] is None
    assert by_text["Chapter 2: Keys and locks"] is None


def test_pdf_header_removal_never_empties_a_page():
    # issue 12: three pages, each one paragraph starting alike; no line of it is a running header.
    pages = [f"Page {n} of the facilities guide. The boiler room key hangs behind the door.\n" for n in (1, 2, 3)]
    lines = er.parse_pdf_reference(_pdf(pages))
    assert [line.reason for line in lines if line.norm] == [None, None, None]


def test_pdf_tex_running_head_with_page_number():
    pages = [f"{n}                    Chapter {n}. Section title that changes\n\nBody of page {n} in the manual.\n"
             for n in (10, 11)]
    lines = er.parse_pdf_reference(_pdf(pages))
    assert [line.reason for line in lines if line.norm] == ["header", None, "header", None]


# ---- furniture share --------------------------------------------------------------------------------


def test_furniture_share_counts_furniture_where_it_is_not_body():
    ref = er.parse_marked(f"{L}Data Structures{R} | {L}Next topic{R}\n"
                          "Data Structures\nLists are the most versatile of the compound types.\n")
    er.classify_html({"page": ref})
    assert [line.reason for line in ref] == ["links", None, None]
    body = er.Body.from_lines(ref)
    furniture = er.furniture_strings(ref)
    assert furniture == {"datastructuresnexttopic": "links"}
    clean = "Data Structures\n\nLists are the most versatile of the compound types."
    assert er.furniture_share([clean], furniture, body).furniture_chars == 0  # the heading stands as body
    noisy = "Data Structures | Next topic\n\n" + clean
    result = er.furniture_share([noisy], furniture, body)
    assert result.furniture_chars == len("datastructuresnexttopic")
    assert result.share == pytest.approx(result.furniture_chars / len(er.normalize(noisy)))
    assert result.by_reason == {"links": result.furniture_chars}


def test_furniture_share_spliced_running_head_and_contents_lines():
    ref = er.parse_pdf_reference(_pdf([
        f"Chapter 4: Program Behavior                 {n}\n\nThe body text of page {n} goes on here "
        f"and ends on this line.\n" for n in (16, 17, 18)]))
    body = er.Body.from_lines(ref)
    furniture = er.furniture_strings(ref)
    spliced = ("The body text of page 16 goes on here and ends on this line. Chapter 4: Program Behavior 17 "
               "The body text of page 17 goes on here and ends on this line.\n4.1 Options . . . . . . . 12")
    result = er.furniture_share([spliced], furniture, body)
    assert result.by_reason == {"header": len("chapter4programbehavior17"), "contents": len("41options12")}


def test_furniture_share_of_nothing():
    assert er.furniture_share([], {}, body_of("x")).share == 0.0

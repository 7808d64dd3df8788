"""The clean-up rules on their own: hyphenation, running headers/footers, spacing check, splitting."""

from __future__ import annotations

import pytest

from ingest.loaders.clean import (
    HyphenationVocabulary,
    dehyphenate,
    glued_ratio,
    looks_glued,
    normalize_line,
    repeated_edge_lines,
    split_long,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("an exam-\nple of text", "an example\nof text"),  # the rest of the line stays on its line
        ("an exam-\nple.\nNext line", "an example.\nNext line"),
        ("Python-\nBased tools", "Python-Based\ntools"),  # capitalised second part: a real compound
        ("a --\nb", "a --\nb"),  # a dash, not a hyphen
        ("version 2-\n3", "version 2-\n3"),  # numbers are not words
        ("ends with a hyphen-", "ends with a hyphen-"),
        ("soft\u00ad\nhyphen", "softhyphen"),
        ("Third\ufffeparty modules", "Thirdparty\nmodules"),  # PDFium's line-end hyphen marker
        ("Ends\ufffe", "Ends-"),
        ("Modula\ufffe3 and", "Modula-3 and"),
        ("one-\ntwo\n\nnext paragraph", "onetwo\n\nnext paragraph"),
    ],
)
def test_dehyphenate_without_evidence(text: str, expected: str) -> None:
    assert dehyphenate(text) == expected


def test_dehyphenate_keeps_compounds_the_document_uses() -> None:
    vocabulary = HyphenationVocabulary(["We like third-party tools.", "a broken exam-\nple is no evidence"])
    assert vocabulary.compounds == {"third-party"}
    assert dehyphenate("Third-\nparty code", vocabulary) == "Third-party\ncode"
    assert dehyphenate("Third\ufffeparty code", vocabulary) == "Third-party\ncode"
    assert dehyphenate("an exam-\nple", vocabulary) == "an example"


def test_repeated_edge_lines_normalise_digits_and_need_most_pages() -> None:
    pages = [
        ["Club Newsletter 2024", "Spring issue", "body one", "Page 1 of 4"],
        ["Club Newsletter 2024", "body two", "more", "Page 2 of 4"],
        ["Club Newsletter 2024", "Spring issue", "body three", "x", "y", "z", "Page 3 of 4"],
        ["body four only", "Page 4 of 4"],
    ]
    # header on 3/4 pages (>= 60 %), footer on 4/4; "Spring issue" on 2/4 stays
    assert repeated_edge_lines(pages) == [{0, 3}, {0, 3}, {0, 6}, {1}]
    assert repeated_edge_lines([["only page", "Page 1"]]) == [set()]
    # a repeated line in the middle of a long page is not a header
    middle = ["a", "b", "c", "Club Newsletter", "d", "e", "f"]
    assert repeated_edge_lines([middle, middle]) == [{0, 1, 2, 4, 5, 6}, {0, 1, 2, 4, 5, 6}]


def test_glued_ratio_spots_text_without_spaces() -> None:
    assert glued_ratio(
        "TheofficialdocumentgivinginstallationinstructionsistheDebian manual"
    ) == pytest.approx(60 / 66)
    assert glued_ratio("PyErr_SetInterruptEx https://www.python.org/downloads/ 1234567890123456789012") == 0.0
    assert glued_ratio("") == 0.0
    assert looks_glued("TheofficialdocumentgivinginstallationinstructionsistheDebian manual")
    assert not looks_glued("Die Donaudampfschifffahrt.")  # one long word is not glued text


def test_normalize_line_and_split_long() -> None:
    assert normalize_line(" a\u00a0\u00a0b\t c\x00\u200bd  ") == "a b cd"
    assert list(split_long("aaa bbb\nccc ddd", 8)) == ["aaa bbb", "ccc ddd"]
    assert list(split_long("aaaa bbbb cccc", 9)) == ["aaaa bbbb", "cccc"]
    assert list(split_long("x" * 10, 4)) == ["xxxx", "xxxx", "xx"]


def test_split_long_is_linear_in_a_huge_paragraph() -> None:
    # It used to slice off the rest after each piece: a 50 MB one-paragraph page took 95 s to split.
    import time

    text = "  " + "word " * 4_000_000 + "\n\t end  "  # 20 MB, leading and trailing white space
    start = time.perf_counter()
    pieces = list(split_long(text, 16_000))
    assert time.perf_counter() - start < 2  # 0.01 s here; 6.8 s when it was quadratic
    assert all(len(p) <= 16_000 for p in pieces) and all(p == p.strip() for p in pieces[1:-1])
    assert pieces[-1].endswith("\n\t end  ") and " ".join(pieces).split() == text.split()

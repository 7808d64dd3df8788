"""Post-hoc citation checks: model markers are read and validated, uncited sentences are matched to the
passage that holds their words, and nothing is attributed without enough support."""

from __future__ import annotations

from rag_app.citations import MIN_SUPPORT, citations_line, cite

SOURCES = [
    {"id": 1, "text": "The outdoor sensor runs on two AA lithium batteries that last about eighteen months."},
    {"id": 2, "text": "Readings are uploaded to the cloud every ten minutes over Wi-Fi."},
]


def test_uncited_sentences_are_matched_to_the_passage_holding_their_words():
    answer = "The sensor uses two AA lithium batteries. Readings are uploaded every ten minutes."
    report = cite(answer, SOURCES)
    assert [(c["ids"], c["origin"]) for c in report["citations"]] == [([1], "matched"), ([2], "matched")]
    assert all(c["support"] >= MIN_SUPPORT for c in report["citations"])
    assert report["unknown"] == []


def test_a_sentence_without_support_gets_no_citation():
    report = cite("Penguins enjoy cold weather in Antarctica.", SOURCES)
    (citation,) = report["citations"]
    assert citation["ids"] == [] and citation["origin"] == "unsupported"
    assert citation["support"] == 0.0


def test_model_markers_win_and_unknown_numbers_are_reported():
    answer = "Batteries last eighteen months [1, 3]. Upload happens often [2]."
    report = cite(answer, SOURCES)
    assert [(c["ids"], c["origin"]) for c in report["citations"]] == [([1], "model"), ([2], "model")]
    assert report["unknown"] == [3]


def test_offsets_point_into_the_answer():
    answer = "  Readings go to the cloud every ten minutes.\n\nBatteries: two AA lithium ones."
    for c in cite(answer, SOURCES)["citations"]:
        assert answer[c["start"]:c["end"]] == c["sentence"]


def test_partial_overlap_below_the_threshold_is_not_attributed():
    # Two of five content words ("sensor", "batteries") occur in passage 1: 0.4 < MIN_SUPPORT.
    report = cite("The sensor batteries explode violently underwater.", SOURCES)
    assert report["citations"][0]["origin"] == "unsupported"
    assert report["citations"][0]["support"] == 0.4


def test_citations_line_names_each_sentence_and_bogus_numbers():
    report = cite("Batteries last eighteen months [1]. Readings are uploaded every ten minutes. Penguins swim.", SOURCES)
    line = citations_line(report["citations"], [7])
    assert line == ("citations by sentence: 1 → [1] · 2 → [2] (matched, 100 % of its words) · 3 → no support"
                    " · cited but never given to the model: [7]")
    assert citations_line([]) == ""

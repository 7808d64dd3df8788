"""Post-hoc citation checks: every answer sentence is checked against the passages (model markers are read but
not trusted), uncited sentences are attributed to the passages that support them, unknown numbers are
reported, fragments are left out, and nothing counts as supported without a passage that says it. The rules of
the check itself (numbers, names, negation, CJK) are tested in test_support_check.py."""

from __future__ import annotations

import time

from rag_app.citations import MIN_SUPPORT, citations_line, cite

SOURCES = [
    {"id": 1, "text": "The outdoor sensor runs on two AA lithium batteries that last about eighteen months."},
    {"id": 2, "text": "Readings are uploaded to the cloud every ten minutes over Wi-Fi."},
]
ACCOUNTS = [
    {"id": 1, "text": "UIDs 61184…65519 are reserved for dynamically allocated system users. They are never "
                      "given to people."},
    {"id": 2, "text": "UIDs 1000…59999 are for normal user accounts created by the administrator."},
]


def test_uncited_sentences_are_matched_to_the_passage_that_supports_them():
    answer = "The sensor runs on two AA lithium batteries. Readings are uploaded every ten minutes."
    report = cite(answer, SOURCES)
    assert [(c["ids"], c["origin"], c["supported"]) for c in report["citations"]] == [
        ([1], "matched", True), ([2], "matched", True)]
    assert all(c["support"] >= MIN_SUPPORT and c["cited"] == [] and c["reason"] is None for c in report["citations"])
    assert report["unknown"] == []
    assert set(report["citations"][0]) == {"sentence", "start", "end", "ids", "origin", "support", "supported", "cited",
                                           "reason"}


def test_a_sentence_without_support_gets_no_citation_and_says_why():
    report = cite("Penguins enjoy cold weather in Antarctica.", SOURCES)
    (citation,) = report["citations"]
    assert citation["ids"] == [] and citation["origin"] == "unsupported" and citation["supported"] is False
    assert citation["support"] == 0.0
    assert citation["reason"] == "none of its words in any passage"


def test_model_markers_are_read_and_checked_and_unknown_numbers_are_reported():
    answer = "Batteries last eighteen months [1, 3]. Readings are uploaded every ten minutes [2]."
    report = cite(answer, SOURCES)
    assert [(c["ids"], c["cited"], c["origin"], c["supported"]) for c in report["citations"]] == [
        ([1], [1], "model", True), ([2], [2], "model", True)]
    assert report["unknown"] == [3]


def test_a_cited_sentence_whose_content_is_invented_is_not_supported():
    # Cites [1] and shares "sensor" and "batteries" with it; passage 1 says nothing of a solar panel or a roof.
    report = cite("The sensor batteries are recharged by a solar panel on the roof [1].", SOURCES)
    (citation,) = report["citations"]
    assert citation["origin"] == "model" and citation["cited"] == [1]
    assert citation["supported"] is False and citation["ids"] == []
    assert citation["reason"] == "only 33 % of its words in passage [1]"  # 2 of 6


def test_a_cited_sentence_that_negates_its_passage_is_not_supported():
    (citation,) = cite("Readings are not uploaded to the cloud [2].", SOURCES)["citations"]
    assert citation["supported"] is False and citation["ids"] == [] and citation["cited"] == [2]
    assert citation["reason"] == "negation differs from passage [2]"


def test_a_wrong_marker_gives_way_to_the_passage_that_says_it():
    report = cite("Readings are uploaded every ten minutes [1].", SOURCES)
    (citation,) = report["citations"]
    assert citation["origin"] == "model" and citation["cited"] == [1]
    assert citation["supported"] is True and citation["ids"] == [2]
    assert citations_line(report["citations"]) == "citations by sentence: 1 → [2] (cited [1])"


def test_a_sentence_only_citing_unknown_passages_is_checked_against_all():
    report = cite("Readings are uploaded every ten minutes [5].", SOURCES)
    (citation,) = report["citations"]
    assert (citation["cited"], citation["ids"], citation["supported"]) == ([], [2], True)
    assert report["unknown"] == [5]


def test_a_number_no_passage_holds_is_not_supported_even_with_the_same_words():
    answer = "UIDs 1000…65533 are for normal user accounts [2]. UIDs 1000…59999 are for normal user accounts."
    first, second = cite(answer, ACCOUNTS)["citations"]
    assert first["supported"] is False and first["ids"] == []
    assert first["reason"] == "number 65533 not in any passage"
    assert second["supported"] is True and second["ids"] == [2] and second["origin"] == "matched"


def test_every_passage_that_supports_a_sentence_is_listed():
    sources = [*SOURCES, {"id": 3, "text": "Every ten minutes, readings are uploaded to the cloud."}]
    (citation,) = cite("Readings are uploaded to the cloud every ten minutes.", sources)["citations"]
    assert citation["ids"] == [2, 3] and citation["origin"] == "matched"


def test_list_markers_labels_and_fragments_are_not_reported_as_sentences():
    answer = "Answer:\n1.\n- Readings are uploaded every ten minutes.\n2.\nSee [3].\n•\nAnswer: Batteries last eighteen months."
    report = cite(answer, SOURCES)
    assert [(c["sentence"], c["ids"], c["supported"]) for c in report["citations"]] == [
        ("- Readings are uploaded every ten minutes.", [2], True),
        ("Answer: Batteries last eighteen months.", [1], True),
    ]
    assert report["unknown"] == [3]  # the fragment's marker still counts


def test_a_lone_list_number_is_never_a_supported_sentence():
    report = cite("1.", SOURCES)
    assert report["citations"] == []


def test_offsets_point_into_the_answer():
    answer = ("  Readings go to the cloud every ten minutes.\n\nBatteries: two AA lithium ones. [1]\n"
              "- The sensor runs on lithium batteries\n  that last eighteen months.")
    citations = cite(answer, SOURCES)["citations"]
    assert len(citations) == 3
    for c in citations:
        assert answer[c["start"]:c["end"]] == c["sentence"]
    assert citations[1]["sentence"].endswith("[1]") and citations[1]["cited"] == [1]  # a marker after the stop


def test_partial_overlap_below_the_threshold_is_not_attributed():
    # Two of five content words ("sensor", "batteries") occur in passage 1: 0.4 < MIN_SUPPORT.
    report = cite("The sensor batteries explode violently underwater.", SOURCES)
    assert report["citations"][0]["origin"] == "unsupported"
    assert report["citations"][0]["support"] == 0.4
    assert report["citations"][0]["reason"] == "only 40 % of its words in any passage"


def test_without_passages_nothing_is_supported():
    (citation,) = cite("Readings are uploaded every ten minutes [1].", [])["citations"]
    assert citation["supported"] is False and citation["ids"] == [] and citation["reason"] == "no passages were given"


def test_citations_line_names_each_sentence_its_support_and_bogus_numbers():
    report = cite("Batteries last eighteen months [1]. Readings are uploaded every ten minutes. Penguins swim. "
                  "Batteries last nineteen months [1].", SOURCES)
    line = citations_line(report["citations"], [7])
    assert line == ("citations by sentence: 1 → [1] · 2 → [2] (matched, 100 % of its words)"
                    " · 3 → not supported: none of its words in any passage"
                    " · 4 → not supported: number 19 not in any passage"
                    " · cited but never given to the model: [7]")
    assert citations_line([]) == ""


def test_citations_line_reads_citations_made_before_the_support_check():
    old = [{"sentence": "A [1].", "start": 0, "end": 6, "ids": [1], "origin": "model", "support": None},
           {"sentence": "B.", "start": 7, "end": 9, "ids": [], "origin": "unsupported", "support": 0.1}]
    assert citations_line(old) == "citations by sentence: 1 → [1] · 2 → not supported"


def test_ten_sentences_against_four_passages_take_milliseconds():
    def passages(run: int) -> list[dict[str, object]]:  # new texts each run: nothing cached
        return [{"id": i, "text": " ".join(
            f"The station {i} uploads reading number {n} to the cloud every {n + i} minutes over Wi-Fi {run}, "
            f"unless the battery of sensor {n} is below {10 + n} percent." for n in range(8))} for i in range(1, 5)]

    answer = " ".join(f"Station {n % 4 + 1} uploads reading {n} every {n + 2} minutes [{n % 4 + 1}]."
                      for n in range(10))
    timings = []
    for run in range(3):
        sources = passages(run)
        started = time.perf_counter()
        report = cite(answer, sources)
        timings.append(time.perf_counter() - started)
    assert len(report["citations"]) == 10 and any(c["supported"] for c in report["citations"])
    assert min(timings) < 0.05  # measured about 5 ms on two busy cores

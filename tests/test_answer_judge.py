"""Tests for benchmarks/answer_judge.py (the rules benchmarks/answer_quality.py judges answers by) on hand-written
answers, spans and citation lists, and for the shipped sample-docs question set; the benchmark itself is not a
test. Every text here was written for these tests."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "answer_judge.py"


def _load():
    spec = importlib.util.spec_from_file_location("answer_judge", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("answer_judge", module)
    spec.loader.exec_module(module)
    return module


aj = _load()

# A small stand-in for the MiniLM word list: "frobctl", "reindex" and "zorbd" are not in it.
_WORDS = ("rebuild search index upgrade run root read take minute stale result fix daemon that indexes file directory "
          "parent process kill child field identify drop queue message mail remove stuck entry fire resistant safe "
          "paper store backup tape heat tolerate media meant")
VOCAB = frozenset(_WORDS.split())


# ---- key facts ----------------------------------------------------------------------------------------


def test_fact_tokens_read_number_words_percent_decimals_and_drop_markers():
    assert aj.fact_tokens("Eighteen months [1], 1.5 m, 1,000 km, 10%, twenty-five, Wi-Fi") == [
        "18", "months", "1.5", "m", "1000", "km", "10", "percent", "25", "wi", "fi"]


@pytest.mark.parametrize(
    ("answer", "facts", "correct"),
    [
        ("It needs two aa Lithium batteries [1].", ["AA", "lithium"], True),  # case
        ("It needs two AAA batteries.", ["AA"], False),  # AA is not inside AAA
        ("Uploads happen every 15 minutes.", ["5 minutes"], False),  # 5 is not inside 15
        ("They last about eighteen months.", [["18 months", "1.5 years"]], True),  # number words
        ("They last about a year and a half.", [["18 months", "a year and a half"]], True),  # second alternative
        ("Plug in the USB-C cable.", ["USB C"], True),  # punctuation
        ("Use the two screws.", ["screw"], True),  # plural either way
        ("Hold MODE for 3 seconds.", ["MODE", "3 seconds", "PAIR"], False),  # one of three missing
        ("It adds 10 % to each reading.", ["ten percent"], True),
    ],
)
def test_key_facts(answer, facts, correct):
    assert aj.judge_key_facts(answer, facts).correct is correct


def test_key_fact_evidence_names_what_was_found_and_missing():
    judged = aj.judge_key_facts("Hold PAIR for ten seconds.", ["PAIR", ["MODE", "mode button"], "10 seconds"])
    assert judged.evidence["found"] == {"PAIR": "PAIR", "10 seconds": "10 seconds"}
    assert judged.evidence["missing"] == [["MODE", "mode button"]]
    assert judged.as_dict()["correct"] is False


def test_a_refusal_is_never_correct_even_with_the_fact_in_it():
    judged = aj.judge_key_facts("The documents do not say whether it uses AA cells.", ["AA"])
    assert judged.evidence["found"] == {"AA": "AA"}
    assert judged.correct is False and judged.evidence["refusal"] is True


def test_an_answerable_question_needs_key_facts():
    with pytest.raises(ValueError, match="key fact"):
        aj.judge_key_facts("anything", [])


# ---- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "The documents do not say. No relevant passage was found for this question.",
        "The documents don't say.",
        "I'm sorry, but the passages do not mention Zigbee support [1].",
        "There is no information about the price in the documents.",
        "Zigbee is not mentioned in the passages.",
        "I don't know.",
        "I cannot find that in the documents. Maybe ask support.",
    ],
)
def test_refusals(answer):
    assert aj.is_refusal(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "The sensor runs on two AA lithium batteries [1].",
        "The warranty does not cover lightning or flooding [2].",  # "does not cover" is an answer here
        "If you cannot find the serial number, look under the display stand.",  # advice, not a refusal
        "It keeps the time for 48 hours. The documents do not say what happens after that.",  # second sentence
    ],
)
def test_not_refusals(answer):
    assert not aj.is_refusal(answer)


# ---- gold spans ---------------------------------------------------------------------------------------

GOLD = ('To rebuild the search index after an upgrade, run "frobctl reindex --all" as root. It reads '
        '/etc/frob/frob.conf and takes about 10 minutes.')
QUESTION = "My searches return stale results after upgrading. How do I fix that?"


def test_span_tokens_drop_man_sections_quotes_and_table_furniture():
    assert [t for _, t in aj.span_tokens('Run "frobctl(8) --all" now.')] == ["run", "frobctl", "--all", "now"]
    row = "zorbd | V:12, I:340 | 512 | daemon that indexes"
    assert [t for _, t in aj.span_tokens(row)] == ["zorbd", "daemon", "that", "indexes"]


def test_span_key_sorts_distinctive_tokens_from_content_words_and_drops_the_question():
    key = aj.span_key(GOLD, QUESTION, VOCAB)
    assert key.distinctive == ("frobctl", "--all", "/etc/frob/frob.conf", "10")
    # "reindex" is "re" + a common word; "search" and "upgrade" are in the question (as "searches",
    # "upgrading"): they prove nothing
    assert set(key.content.values()) == {"rebuild", "index", "run", "reindex", "root", "reads", "takes", "minutes"}
    assert key.needed_distinctive == 2  # half of 4, at most 2
    assert key.needed_terms == 3  # a third of 12, at most 3


def test_a_correct_paraphrase_with_the_command_passes():
    answer = "Run frobctl reindex --all as the root user to rebuild the index [1]."
    judged = aj.judge_span(answer, GOLD, QUESTION, vocabulary=VOCAB)
    assert judged.correct
    assert judged.evidence["distinctive_found"] == ["frobctl", "--all"]
    assert judged.evidence["distinctive_missing"] == ["/etc/frob/frob.conf", "10"]
    assert {"run", "reindex", "root", "rebuild", "index"} <= set(judged.evidence["content_found"])


def test_an_answer_without_the_command_fails_even_with_the_right_words():
    answer = "Rebuild the search index as root after the upgrade; it takes about ten minutes."
    judged = aj.judge_span(answer, GOLD, QUESTION, vocabulary=VOCAB)
    assert not judged.correct
    assert judged.evidence["distinctive_found"] == []
    assert judged.evidence["terms_found"] >= judged.evidence["terms_needed"]  # it failed on the command alone


def test_repeating_the_question_or_a_refusal_fails():
    assert not aj.judge_span(QUESTION, GOLD, QUESTION, vocabulary=VOCAB).correct
    refusal = "The documents do not say; frobctl reindex --all might rebuild the index."
    judged = aj.judge_span(refusal, GOLD, QUESTION, vocabulary=VOCAB)
    assert not judged.correct and judged.evidence["refusal"] is True


def test_a_long_option_matches_spelt_apart_but_a_short_one_only_whole():
    gold = "Use zorbd-ctl purge -f to remove a stuck entry from the mail queue."
    question = "How do I drop one stuck message?"
    judged = aj.judge_span("Run zorbd ctl purge to remove the entry from the queue.", gold, question, vocabulary=VOCAB)
    assert judged.evidence["distinctive_found"] == ["zorbd-ctl", "purge"]
    assert judged.correct
    # "-f" is not found in "f" (an option must be written as one)
    assert "-f" in aj.judge_span("purge f", gold, question, vocabulary=VOCAB).evidence["distinctive_missing"]


def test_hyphenated_common_words_are_content_words_and_inflections_match():
    gold = "A fire-resistant safe is meant for paper; backup tapes tolerate less heat."
    key = aj.span_key(gold, "Where do I store backups?", VOCAB)
    assert "fire-resistant" not in key.distinctive and {"fire", "resistant"} <= set(key.content.values())
    answer = "Fire resistant safes are meant for paper, and tape media tolerates less heat than paper."
    assert aj.judge_span(answer, gold, "Where do I store backups?", vocabulary=VOCAB).correct


def test_stem_and_common_words_with_affixes():
    assert aj.stem("removing") == aj.stem("remove") == aj.stem("removed")
    assert aj.stem("processes") == aj.stem("process")
    assert aj.stem("identified") == aj.stem("identify")
    assert aj.span_key("directories and files", "", VOCAB).distinctive == ()  # "directory" in the vocabulary


def test_a_long_gold_is_judged_on_one_window():
    parts = ["Zorbd keeps a queue of outgoing mail.", "Old entries expire after a week.",
             "To drop one stuck message, run zorbd-ctl purge -f with its queue id."]
    gold = " ".join(parts)
    assert aj.span_windows(gold, max_chars=80) == [" ".join(parts[:2]), parts[2]]
    answer = "Run zorbd-ctl purge -f with the message's queue id."
    judged = aj.judge_span(answer, gold, "How do I remove a stuck message?", vocabulary=VOCAB, max_chars=80)
    assert judged.correct and judged.evidence["window"] == parts[2] and judged.evidence["windows"] == 2


def test_the_default_vocabulary_tells_commands_from_english():
    words = aj.common_words()
    assert {"parent", "kill", "zip"} <= words
    assert not {"dpkg", "journalctl", "rsync"} & words


# ---- faithfulness and citation precision --------------------------------------------------------------


def test_faithful_share_prefers_supported_and_falls_back_to_ids():
    assert aj.faithful_share([{"supported": True, "ids": []}, {"supported": False, "ids": [1]},
                              {"supported": True, "ids": [2]}]) == pytest.approx(2 / 3)
    assert aj.faithful_share([{"ids": [1]}, {"ids": []}, {"supported": None, "ids": [3]}, {"ids": []}]) == 0.5
    assert aj.faithful_share([]) is None


def _all_words_in(sentence, passage):
    assert "[" not in sentence and " ." not in sentence  # markers are removed before the support rule runs
    words = {w.strip(".,").lower() for w in sentence.split()}
    return words <= {w.strip(".,").lower() for w in passage.split()}


SOURCES = [{"id": 1, "text": "The sensor runs on two AA lithium batteries."},
           {"id": 2, "text": "Uploads happen every 5 minutes."}]


def test_citation_precision_counts_model_cited_sentences_only():
    citations = [
        {"sentence": "The sensor runs on AA batteries [1].", "ids": [1], "origin": "model"},  # supported by 1
        {"sentence": "Uploads happen hourly [2].", "ids": [2], "origin": "model"},  # passage 2 says otherwise
        {"sentence": "It is waterproof [7].", "ids": [], "origin": "model"},  # 7 names no passage
        {"sentence": "Uploads happen every 5 minutes.", "ids": [2], "origin": "matched"},  # not cited by the model
        {"sentence": "Uploads happen [1][2].", "ids": [1, 2], "origin": "model"},  # one of two supports it
    ]
    assert aj.citation_precision(citations, SOURCES, _all_words_in) == (2, 4)


def test_citation_precision_reads_the_cited_field_when_present():
    citations = [
        {"sentence": "The sensor runs on AA batteries.", "ids": [1], "origin": "model", "cited": [2]},
        {"sentence": "Uploads happen every 5 minutes.", "ids": [2], "origin": "matched", "cited": []},
        {"sentence": "It is waterproof [7].", "ids": [], "origin": "model", "cited": []},  # 7: no such passage
    ]
    # the first was cited [2] (which does not support it; passage 1 does, so it is supported, not well cited);
    # the second carries no marker; the third cites a passage the model never saw
    assert aj.citation_precision(citations, SOURCES, _all_words_in) == (0, 2)
    assert aj.citation_precision([], SOURCES, _all_words_in) == (0, 0)


# ---- the shipped sample-docs questions ----------------------------------------------------------------


def test_sample_questions_are_well_formed():
    path = ROOT / "benchmarks" / "data" / "sample-docs" / "questions.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    answerable = [r for r in records if r["answerable"]]
    off_topic = [r for r in records if not r["answerable"]]
    assert len(answerable) >= 30 and len(off_topic) == 10
    assert len({r["id"] for r in records}) == len(records)
    docs = {p.name for p in (ROOT / "rag_app" / "sample_data").iterdir()}
    for r in answerable:
        assert r["source"] in docs, r["id"]
        assert aj.judge_key_facts(r["gold_answer"], r["key_facts"]).correct, r["id"]
        assert not aj.judge_key_facts(r["question"], r["key_facts"]).evidence["found"], r["id"]  # no echo
    assert all(r["key_facts"] == [] and r["source"] is None for r in off_topic)

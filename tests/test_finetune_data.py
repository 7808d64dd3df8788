"""Training data: the three formats load from JSONL, datasets and dicts; every bad record is reported with
its file, line and field before anything trains; JSONL is written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from finetune.data import (
    DataError,
    PairExample,
    ScoredExample,
    TrainingData,
    TripletExample,
    load_examples,
    write_jsonl,
)


def _jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def test_pairs_load_with_single_string_or_list_and_ignore_extra_keys(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "pairs.jsonl", [
        {"query": "how to install?", "positive": "Use pip.", "id": "a"},
        "",  # blank lines are skipped
        {"query": "what is pooling?", "positive": ["Averaging token vectors.", "Mean of tokens."]},
    ])
    data = load_examples(path)
    assert data.kind == "pairs" and data.source == str(path)
    assert data.examples == [
        PairExample("how to install?", ("Use pip.",)),
        PairExample("what is pooling?", ("Averaging token vectors.", "Mean of tokens.")),
    ]


def test_triplets_and_scored_are_detected_from_their_keys() -> None:
    triplets = load_examples([{"query": "q", "positive": ["p"], "negative": "n"}])
    scored = load_examples([{"query": "q", "document": "d", "label": 1}, {"query": "q", "document": "e", "label": 0.25}])
    assert triplets.kind == "triplets" and triplets.examples == [TripletExample("q", ("p",), ("n",))]
    assert scored.kind == "scored"
    assert scored.examples == [ScoredExample("q", "d", 1.0), ScoredExample("q", "e", 0.25)]
    assert isinstance(scored.examples[0].label, float)


def test_every_bad_record_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", [
        {"query": "fine", "document": "ok", "label": 1.0},          # 1
        {"document": "no query", "label": 0.0},                      # 2: missing query
        {"query": "   ", "document": "blank query", "label": 0.0},   # 3: empty text
        {"query": "q", "document": 42, "label": 0.0},                # 4: wrong type
        {"query": "q", "document": "d", "label": 1.5},               # 5: out of [0, 1]
        {"query": "q", "document": "d", "label": "high"},            # 6: not a number
        "{not json",                                                 # 7: invalid JSON
        {"query": "q", "positive": ["p"]},                           # 8: another kind
        ["a", "list"],                                               # 9: not an object
        {"query": "q", "document": "d", "label": True},              # 10: a bool is not a label
    ])
    with pytest.raises(DataError) as info:
        load_examples(path)
    message = str(info.value)
    expected = [
        (2, "field 'query': missing"),
        (3, "field 'query': empty text"),
        (4, "field 'document': must be a string, got int"),
        (5, "field 'label': 1.5 is outside [0, 1]"),
        (6, "field 'label': must be a number between 0.0 and 1.0, got 'high'"),
        (7, "not valid JSON"),
        (8, "mixed kinds: this is a pairs record"),
        (9, "must be a JSON object, got list"),
        (10, "field 'label': must be a number"),
    ]
    for line, text in expected:
        assert f"{path}:{line}: {text}" in message
    assert f"{path}:1:" not in message
    assert len(info.value.problems) == len(expected)
    assert "Fix or remove these records" in message and '"label": 0.0 to 1.0' in message


def test_list_fields_report_empty_lists_and_bad_items() -> None:
    records = [
        {"query": "q", "positive": [], "negative": ["n"]},
        {"query": "q", "positive": ["ok", "", 3], "negative": "n"},
        {"query": "q", "positive": {"a": 1}, "negative": "n"},
        {"query": "q", "positive": ["p"], "negative": []},
    ]
    with pytest.raises(DataError) as info:
        load_examples(records, kind="triplets")
    problems = [str(p) for p in info.value.problems]
    assert "<records>[0]: field 'positive': empty list; give at least one text or drop the record" in problems
    assert "<records>[1]: field 'positive[1]': empty text; remove it from the list" in problems
    assert "<records>[1]: field 'positive[2]': must be a string, got int" in problems
    assert "<records>[2]: field 'positive': must be a string or a list of strings, got dict" in problems
    assert "<records>[3]: field 'negative': empty list; give at least one text or drop the record" in problems
    assert len(problems) == 5
    with pytest.raises(DataError, match=r"<records>\[0\]: field 'negative': missing; add a list of texts"):
        load_examples([{"query": "q", "positive": "p"}, {"query": "q", "positive": "p", "negative": "n"}] * 2, kind="triplets")


def test_mixed_kinds_name_the_minority_records_and_suggest_the_fix() -> None:
    records = [{"query": "a", "positive": "p"}, {"query": "b", "positive": "p"}, {"query": "c", "document": "d", "label": 1}]
    with pytest.raises(DataError, match=r"<records>\[2\]: mixed kinds: this is a scored record .* but the data is pairs"):
        load_examples(records)


def test_explicit_kind_must_match_the_records() -> None:
    with pytest.raises(DataError, match=r"<records>\[0\]: mixed kinds: this is a triplets record"):
        load_examples([{"query": "q", "positive": "p", "negative": "n"}], kind="pairs")
    with pytest.raises(ValueError, match="kind must be one of pairs, triplets, scored"):
        load_examples([{"query": "q", "positive": "p"}], kind="pair")  # type: ignore[arg-type]


def test_datasets_dataset_is_a_source_and_rows_are_named_in_errors() -> None:
    good = datasets.Dataset.from_list([{"query": "q", "positive": ["p"]}, {"query": "r", "positive": ["s"]}])
    assert load_examples(good).examples[1] == PairExample("r", ("s",))
    bad = datasets.Dataset.from_list([{"query": "q", "positive": ["p"]}, {"query": "", "positive": ["s"]}])
    with pytest.raises(DataError, match=r"<Dataset>\[1\]: field 'query': empty text"):
        load_examples(bad)
    with pytest.raises(TypeError, match=r"pass one split, e.g. data\['train'\]"):
        load_examples(datasets.DatasetDict({"train": good}))


def test_missing_empty_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_examples(tmp_path / "nope.jsonl")
    empty = _jsonl(tmp_path / "empty.jsonl", ["", "  "])
    with pytest.raises(DataError, match="no records"):
        load_examples(empty)
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes(b'{"query": "q", "positive": "ok"}\n{"query": "caf\xe9", "positive": "p"}\n')
    with pytest.raises(DataError, match=rf"{latin}:2: not valid UTF-8 .* save the file as UTF-8"):
        load_examples(latin)


def test_non_iterable_source_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="JSONL path, a datasets.Dataset or an iterable of dicts"):
        load_examples(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable of dicts"):
        load_examples({"query": "q", "positive": "p"})  # type: ignore[arg-type]


def test_write_jsonl_round_trips_and_training_data_passes_through(tmp_path: Path) -> None:
    examples = [TripletExample("q ü", ("p",), ("n1", "n2")), TripletExample("r", ("s", "t"), ("u",))]
    path = write_jsonl(tmp_path / "sub" / "triplets.jsonl", examples)
    assert path.read_text(encoding="utf-8").splitlines()[0] == '{"query": "q ü", "positive": ["p"], "negative": ["n1", "n2"]}'
    data = load_examples(path)
    assert data.examples == examples
    assert load_examples(data) is data
    assert isinstance(data, TrainingData) and len(data) == 2 and list(data) == examples


def test_write_jsonl_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [PairExample("q", ("p",))])
    before = path.read_text(encoding="utf-8")
    with pytest.raises(TypeError):
        write_jsonl(path, [PairExample("r", ("s",)), {"query": object()}])  # the second record cannot be JSON
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.jsonl"]  # no partial file left behind

"""Training data: three record formats, loaded and validated before any training starts.

- pairs ``{"query": str, "positive": [str, ...]}``: trained with in-batch negatives;
- triplets ``{"query": str, "positive": [...], "negative": [...]}``: hard negatives plus in-batch ones;
- scored ``{"query": str, "document": str, "label": float in [0, 1]}``: CoSENT (embedders), BCE (rerankers).

``positive``/``negative`` may also be a single string. Other keys (``id``, ``source``...) are ignored. Sources
are a JSONL file, a ``datasets.Dataset`` or any iterable of dicts. Every bad record is collected and reported
at once, as ``file:line: field 'x': what is wrong; how to fix it``, so a 10-hour run cannot die on line 90,000;
this module does not tokenise or truncate (the collators do).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = [
    "DataError",
    "DataKind",
    "DataProblem",
    "Example",
    "PairExample",
    "ScoredExample",
    "TrainingData",
    "TripletExample",
    "load_examples",
    "write_jsonl",
]

DataKind = Literal["pairs", "triplets", "scored"]
DATA_KINDS: tuple[str, ...] = get_args(DataKind)
_MAX_LISTED = 100
_FIELDS = {
    "pairs": ("query", "positive"),
    "triplets": ("query", "positive", "negative"),
    "scored": ("query", "document", "label"),
}
_FORMATS = {
    "pairs": '{"query": "...", "positive": ["..."]}',
    "triplets": '{"query": "...", "positive": ["..."], "negative": ["..."]}',
    "scored": '{"query": "...", "document": "...", "label": 0.0 to 1.0}',
}


@dataclass(frozen=True)
class PairExample:
    """A query and the texts that answer it; the other queries' positives serve as negatives."""

    query: str
    positives: tuple[str, ...]

    def to_record(self) -> dict[str, Any]:
        return {"query": self.query, "positive": list(self.positives)}


@dataclass(frozen=True)
class TripletExample:
    """A query, its answers, and texts that look relevant but are not (hard negatives)."""

    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]

    def to_record(self) -> dict[str, Any]:
        return {"query": self.query, "positive": list(self.positives), "negative": list(self.negatives)}


@dataclass(frozen=True)
class ScoredExample:
    """A query-document pair with a graded relevance label in [0, 1]."""

    query: str
    document: str
    label: float

    def to_record(self) -> dict[str, Any]:
        return {"query": self.query, "document": self.document, "label": self.label}


Example = PairExample | TripletExample | ScoredExample


@dataclass(frozen=True)
class TrainingData:
    """Validated examples of one kind, with where they came from (for messages and the saved config)."""

    kind: DataKind
    examples: list[Example]
    source: str = "<records>"

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)


@dataclass(frozen=True)
class DataProblem:
    """One bad record: where it is (``file:line`` or ``<records>[i]``), which field, what is wrong."""

    location: str
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: field '{self.field}'" if self.field else self.location
        return f"{where}: {self.message}"


class DataError(ValueError):
    """Training data that cannot be used; ``problems`` lists every bad record, the message the first 100."""

    def __init__(self, source: str, problems: list[DataProblem], hint: str = "") -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{len(problems)} problem(s) in the training data {source}:"]
        lines += [f"  {p}" for p in problems[:_MAX_LISTED]]
        if len(problems) > _MAX_LISTED:
            lines.append(f"  ... and {len(problems) - _MAX_LISTED} more (see DataError.problems).")
        lines.append(hint or "Fix or remove these records and run again. Expected one JSON object per line: "
                     + "; or ".join(f"{k} {v}" for k, v in _FORMATS.items()) + ".")
        super().__init__("\n".join(lines))


# ---------------------------------------------------------------------------------------------- reading
def records_from_file(path: Path) -> Iterator[tuple[str, Any, str | None]]:
    """(location, record, parse error) per non-blank line; bad JSON or bad UTF-8 is reported, not raised."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            location = f"{path}:{number}"
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield location, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start}); save the file as UTF-8"
                continue
            if not text.strip():
                continue
            try:
                yield location, json.loads(text), None
            except json.JSONDecodeError as exc:
                yield location, None, f"not valid JSON ({exc.msg} at column {exc.colno}); write one JSON object per line"


def _records(source: Any) -> tuple[str, Iterator[tuple[str, Any, str | None]]]:
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"Training data file {path} does not exist (or is not a file); pass a JSONL file, a "
                "datasets.Dataset or a list of dicts."
            )
        return str(path), records_from_file(path)
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        datasets = None
    if datasets is not None and isinstance(source, datasets.DatasetDict):
        raise TypeError(f"Got a DatasetDict with splits {list(source)}; pass one split, e.g. data['train'].")
    name = "<Dataset>" if datasets is not None and isinstance(source, datasets.Dataset) else "<records>"
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise TypeError(
            f"Training data must be a JSONL path, a datasets.Dataset or an iterable of dicts; got {type(source).__name__}."
        )
    return name, ((f"{name}[{i}]", record, None) for i, record in enumerate(source))


# ---------------------------------------------------------------------------------------------- checking
def _detect_kind(record: Mapping[str, Any]) -> str | None:
    if "document" in record or "label" in record:
        return "scored"
    if "negative" in record:
        return "triplets"
    if "positive" in record:
        return "pairs"
    return None


def text_field(
    record: Mapping[str, Any], keys: str | Sequence[str], location: str, problems: list[DataProblem],
    *, id_like: bool = False,
) -> str | None:
    """The first of ``keys`` in ``record``, checked to be a non-empty string (with ``id_like``, an integer id
    is taken too, as a string); else ``None``, with what is wrong added to ``problems``."""
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    key = next((k for k in keys if k in record), None)
    if key is None:
        problems.append(DataProblem(location, "/".join(keys), "missing; add it"))
        return None
    value = record[key]
    if id_like and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        problems.append(DataProblem(location, key, f"must be a string, got {type(value).__name__}"))
        return None
    if not value.strip():
        problems.append(DataProblem(location, key, "empty text; give the text or drop the record"))
        return None
    return value


def _texts(record: Mapping[str, Any], key: str, location: str, problems: list[DataProblem]) -> tuple[str, ...] | None:
    if key not in record:
        problems.append(DataProblem(location, key, "missing; add a list of texts"))
        return None
    value = record[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        problems.append(DataProblem(location, key, f"must be a string or a list of strings, got {type(value).__name__}"))
        return None
    if not value:
        problems.append(DataProblem(location, key, "empty list; give at least one text or drop the record"))
        return None
    before = len(problems)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            problems.append(DataProblem(location, f"{key}[{i}]", f"must be a string, got {type(item).__name__}"))
        elif not item.strip():
            problems.append(DataProblem(location, f"{key}[{i}]", "empty text; remove it from the list"))
    return tuple(value) if len(problems) == before else None


def _label(record: Mapping[str, Any], location: str, problems: list[DataProblem]) -> float | None:
    if "label" not in record:
        problems.append(DataProblem(location, "label", "missing; add a relevance between 0.0 and 1.0"))
        return None
    value = record["label"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(DataProblem(location, "label", f"must be a number between 0.0 and 1.0, got {value!r}"))
        return None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        problems.append(DataProblem(location, "label", f"{value!r} is outside [0, 1]; rescale labels to 0.0-1.0"))
        return None
    return float(value)


def _example(kind: str, record: Mapping[str, Any], location: str, problems: list[DataProblem]) -> Example | None:
    before = len(problems)
    query = text_field(record, "query", location, problems)
    if kind == "scored":
        document = text_field(record, "document", location, problems)
        label = _label(record, location, problems)
        return ScoredExample(query, document, label) if len(problems) == before else None  # type: ignore[arg-type]
    positives = _texts(record, "positive", location, problems)
    if kind == "pairs":
        return PairExample(query, positives) if len(problems) == before else None  # type: ignore[arg-type]
    negatives = _texts(record, "negative", location, problems)
    return TripletExample(query, positives, negatives) if len(problems) == before else None  # type: ignore[arg-type]


def load_examples(
    source: str | os.PathLike[str] | Iterable[Mapping[str, Any]] | TrainingData | Any,
    kind: DataKind | None = None,
) -> TrainingData:
    """Read and validate training examples from a JSONL file, a ``datasets.Dataset`` or an iterable of dicts.

    ``kind`` is detected from the keys when None (``document``/``label``: scored, ``negative``: triplets,
    ``positive``: pairs); all records must be of one kind. Raises :class:`DataError` listing every bad
    record (file, line, field) when any is wrong, so nothing trains on half-valid data.

    Example::

        data = load_examples("pairs.train.jsonl")       # TrainingData(kind="pairs", examples=[PairExample...])
    """
    if kind is not None and kind not in DATA_KINDS:
        raise ValueError(f"kind must be one of {', '.join(DATA_KINDS)} or None; got {kind!r}.")
    if isinstance(source, TrainingData):
        if kind is not None and kind != source.kind:
            raise ValueError(f"This TrainingData holds {source.kind}, not {kind}.")
        return source
    name, records = _records(source)
    # First pass: parse and detect each record's kind (kept in order, so problems are listed line by line).
    parsed: list[tuple[str, Any, str | None]] = []
    for location, record, error in records:
        if error is not None:
            parsed.append((location, None, error))
        elif isinstance(record, PairExample | TripletExample | ScoredExample):
            parsed.append((location, record.to_record(), None))
        elif not isinstance(record, Mapping):
            parsed.append((location, None, f"must be a JSON object, got {type(record).__name__}"))
        else:
            parsed.append((location, record, None))
    if not parsed:
        raise DataError(name, [DataProblem(name, None, "no records")], "Give at least one training example.")

    detected = Counter(_detect_kind(r) for _, r, _ in parsed if r is not None)
    detected.pop(None, None)
    chosen = kind or (detected.most_common(1)[0][0] if detected else None)
    problems: list[DataProblem] = []
    examples: list[Example] = []
    for location, record, error in parsed:
        if error is not None:
            problems.append(DataProblem(location, None, error))
            continue
        record_kind = _detect_kind(record)
        if record_kind is None:
            problems.append(DataProblem(
                location, None,
                f"has none of the fields 'positive', 'negative', 'document', 'label' (keys: {sorted(record)}); "
                "use one of the formats below",
            ))
            continue
        if record_kind == "pairs" and chosen == "triplets":
            record_kind = "triplets"  # a triplet without negatives: reported as a missing field below
        if chosen is not None and record_kind != chosen:
            problems.append(DataProblem(
                location, None,
                f"mixed kinds: this is a {record_kind} record ({_FORMATS[record_kind]}) but the data is {chosen}"
                + ("" if kind else f" (most records are); split the file by kind or pass kind='{record_kind}'"),
            ))
            continue
        example = _example(record_kind, record, location, problems)
        if example is not None:
            examples.append(example)
    if problems:
        raise DataError(name, problems)
    return TrainingData(kind=chosen, examples=examples, source=name)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- writing
def write_jsonl(path: str | os.PathLike[str], examples: Iterable[Example | Mapping[str, Any]] | TrainingData) -> Path:
    """Write examples (or plain dicts) as JSONL, all at once: a crash leaves the old file, never half a file."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for item in examples:
                record = item.to_record() if hasattr(item, "to_record") else dict(item)
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


"""Shared helpers of the python-faq benchmarks: the data, relevance rules, ranking metrics, the ingested corpus.

Imported by the scripts in this folder (run as ``python benchmarks/<script>.py``, so this folder is on
``sys.path``); it is not part of the installed package.

Relevance of a passage to a gold FAQ entry (``{"id", "source", "question", "answer"}``), on whitespace-
normalised, lower-cased text, and only for a passage from the entry's own page (``source`` file name):

* :func:`relevant` (used by ``contextual_chunks.py``, ``rerankers.py`` and ``calibrate_min_score.py``): the
  passage's opening 80 characters (the whole passage when shorter) lie inside the gold answer. Fits our
  chunks, which never cross a section.
* :func:`shares_answer_text` (used by ``retrieval_quality.py`` for both pipelines): the passage and the gold
  answer share a run of at least 60 characters, or the shorter of the two (when under 60 characters) lies
  inside the other. It accepts a large chunk that holds part of the answer among other sections (the
  LangChain-docs pipeline's 1000-character chunks) as well as a small chunk inside the answer.

Corpus: the 8 HTML pages only. The two PDFs repeat two of those pages word for word; ingesting them too
would put duplicate chunks in the top 10 under another ``source`` and make "relevant" ambiguous.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "python-faq"
SAMPLE_DOCS = ROOT / "rag_app" / "sample_data"
SAMPLE_QUESTIONS = ROOT / "benchmarks" / "data" / "sample-docs" / "questions.jsonl"
"""Questions on the sample documents, worded as users would (47 answerable, 10 not)."""
DATA_ROOT = ROOT.parent / "shared" / "data"
COLLECTION = "python-faq"
T = TypeVar("T")


# ------------------------------------------------------------------ data
def data_dir(path: Path | None) -> Path:
    """The python-faq folder (``--data`` or the default), or exit with a message saying what to pass."""
    folder = path if path is not None else DEFAULT_DATA
    missing = [name for name in ("qa.test.jsonl", "corpus") if not (folder / name).exists()]
    if missing:
        hint = "" if path is not None else f" (the default {DEFAULT_DATA} is not there)"
        sys.exit(
            f"python-faq data not found in {folder}{hint}: missing {', '.join(missing)}. Pass --data DIR, a folder "
            "built by scripts/build_python_faq.py (README 'Data for examples and benchmarks')."
        )
    return folder


def load_questions(data: Path, split: str = "test") -> list[dict[str, str]]:
    """The entries of ``qa.<split>.jsonl``; a bad line is an error naming the file, line and field."""
    path = data / f"qa.{split}.jsonl"
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            sys.exit(f"{path}:{number}: not JSON ({exc.msg}).")
        for field in ("id", "source", "question", "answer"):
            if not isinstance(entry.get(field), str):
                sys.exit(f"{path}:{number}: needs a string {field!r}; rebuild the file with scripts/build_python_faq.py.")
        entries.append(entry)
    return entries


# ------------------------------------------------------------------ relevance
def normalise(text: str) -> str:
    """Whitespace collapsed to single spaces, lower case."""
    return " ".join(text.split()).lower()


def page_of(source: str | None) -> str:
    """The file name of a ``source`` (ours are relative paths, LangChain loaders' are absolute)."""
    return Path(str(source or "")).name


def relevant(chunk_text: str, chunk_source: str | None, gold: dict[str, str]) -> bool:
    """The chunk comes from the gold page and its opening 80 characters lie inside the gold answer."""
    if page_of(chunk_source) != gold["source"]:
        return False
    probe = normalise(chunk_text)[:80]
    return bool(probe) and probe in normalise(gold["answer"])


def shares_answer_text(chunk_text: str, chunk_source: str | None, gold: dict[str, str], window: int = 60) -> bool:
    """The chunk comes from the gold page and shares a ``window``-character run with the gold answer (or the
    shorter of the two, when shorter than ``window``, lies inside the other)."""
    if page_of(chunk_source) != gold["source"]:
        return False
    chunk, answer = normalise(chunk_text), normalise(gold["answer"])
    short, long = sorted((chunk, answer), key=len)
    if not short:
        return False
    if len(short) < window:
        return short in long
    pieces = {long[i:i + window] for i in range(len(long) - window + 1)}
    return any(short[i:i + window] in pieces for i in range(len(short) - window + 1))


# ------------------------------------------------------------------ metrics
def first_relevant_rank(flags: Iterable[bool]) -> int | None:
    """1-based rank of the first relevant passage, or ``None``."""
    return next((rank for rank, hit in enumerate(flags, 1) if hit), None)


def ranking_metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    """MRR@10, hit@1 and hit@5 over questions, from each question's first relevant rank."""
    n = len(ranks)
    if n == 0:
        raise ValueError("no questions to evaluate")
    return {
        "MRR@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation, as numpy's default); NaN for no values."""
    if not values:
        return math.nan
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


# ------------------------------------------------------------------ the ingested corpus
@contextmanager
def ingested_corpus(data: Path, console: Any = None, **retrieval: Any) -> Iterator[Any]:
    """Ingest the corpus's HTML pages with ``rag-app ingest``'s defaults into a temporary Chroma folder.

    Yields the :class:`rag_app.config.Settings` pointing at it, with ``retrieval`` overrides (``reranker``,
    ``mode``, ...). The folder is removed on exit.
    """
    with ingested_folder(data / "corpus", "*.html", console, **retrieval) as settings:
        yield settings


@contextmanager
def ingested_folder(folder: Path, glob: str = "*", console: Any = None, **retrieval: Any) -> Iterator[Any]:
    """Ingest the files of ``folder`` matching ``glob`` as :func:`ingested_corpus` does.

    The ingest runs through :meth:`rag_app.pipeline.Pipeline.ingest` (what ``rag-app ingest`` runs), on a
    pipeline without generator or reranker: only the embedder matters for ingesting.
    """
    from rag_app.config import load_settings
    from rag_app.pipeline import build_pipeline

    with tempfile.TemporaryDirectory(prefix="rag-app-bench-") as db:
        settings = load_settings(index={"db": Path(db), "collection": COLLECTION}, retrieval=retrieval)
        ingest = settings.ingest
        writing = settings.model_copy(update={"retrieval": settings.retrieval.model_copy(
            update={"reranker": None, "mode": "dense"})})
        with build_pipeline(writing, generator=False) as pipeline:
            report = pipeline.ingest([folder], glob=glob)
        if report.files_failed:
            sys.exit(f"ingest failed: {[(f.source, f.error) for f in report.files_failed]}")
        if console is not None:
            console.print(f"ingested {report.files_ingested} files of {folder} ({glob}), {report.chunks_total} chunks "
                          f"(chunk_size {ingest.chunk_size}, overlap {ingest.chunk_overlap}, contextual {ingest.contextual})")
        yield settings


def langchain_docs_index(data: Path, db: Path) -> tuple[Any, list[Any]]:
    """The index a LangChain user builds from the docs over the HTML pages: ``BSHTMLLoader``,
    ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``, ``HuggingFaceEmbeddings`` on the
    bundled MiniLM folder, ``Chroma.from_documents``. Returns the Chroma store and the chunks."""
    import warnings

    from langchain_chroma import Chroma
    from langchain_community.document_loaders import BSHTMLLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from retrievers import resolve_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HuggingFaceEmbeddings' deprecation notice
        from langchain_community.embeddings import HuggingFaceEmbeddings

        embeddings = HuggingFaceEmbeddings(model_name=str(resolve_model("minilm").path))
    docs = [d for page in sorted((data / "corpus").glob("*.html")) for d in BSHTMLLoader(str(page), open_encoding="utf-8").load()]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    store = Chroma.from_documents(chunks, embeddings, persist_directory=str(db), collection_name="langchain")
    return store, chunks


# ------------------------------------------------------------------ output
def progress(items: Sequence[T], description: str) -> Iterator[T]:
    """Iterate with a progress bar on stderr (rich)."""
    from rich.console import Console
    from rich.progress import track

    yield from track(items, description=description, console=Console(stderr=True), transient=True)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; a bad line exits with its file and line number."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                sys.exit(f"{path}:{number}: not JSON ({exc.msg})")
    return records


def hashing_ingestor(db: Path, collection: str) -> Any:
    """Our ``Ingestor`` with MiniLM's tokenizer and a hashing embedding (a random unit vector per text): what
    ingest costs in memory and time besides the model, for inputs too large to embed with MiniLM on a CPU."""
    import hashlib

    import numpy as np
    from langchain_core.embeddings import Embeddings
    from transformers import AutoTokenizer

    from ingest.indexing import open_store
    from ingest.pipeline import Ingestor
    from retrievers import resolve_model

    class HashingEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            out = np.empty((len(texts), 384), dtype=np.float32)
            for i, text in enumerate(texts):
                seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
                out[i] = np.random.default_rng(seed).standard_normal(384)
            out /= np.linalg.norm(out, axis=1, keepdims=True)
            return out.tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("minilm").path))
    return Ingestor(open_store(db, collection, HashingEmbeddings()), tokenizer, chunk_size=200, chunk_overlap=40,
                    max_tokens=256)


def make_console() -> Any:
    """A rich console; 160 columns when the output is not a terminal, so a log file gets whole table cells."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], console: Any = None) -> None:
    """A rich table; floats are shown with three decimals, the first column left-aligned, the rest right."""
    from rich.table import Table

    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    (console or make_console()).print(table)


def machine_note() -> str:
    """CPU count and load average: the timings depend on both (other processes share the cores)."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs; load average {one:.1f} (1 min), {five:.1f} (5 min) when measured"


def write_json(path: Path | None, payload: Any) -> None:
    """Write ``payload`` as indented JSON when ``path`` is given."""
    if path is not None:
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

"""Retrieval on manual-shaped corpora: ``rag-app``'s own pipeline against the LangChain-docs pipeline, same run.

Corpora (each found under ``--data-root``, default ``../shared/data``):

* every *manual set*: a folder with ``questions.jsonl`` (``id``, ``question``, ``file``, ``gold``), ``split.json``
  and ``corpus/`` (``debian-reference``, built from its Debian package; others built by
  ``scripts/build_manual_corpus.py``). Its HTML pages are one run, its PDF (when it ships one) another.
  Relevance is the sets' own rule (``debian-reference/README.md``): the first 2000 characters of a passage,
  normalised (NFKC, casefold, letters and digits), hold at least 60 % of the distinct character 20-grams of the
  normalised gold span. It needs no chunk ids or offsets, so both pipelines and both formats are judged alike.
* ``python-faq`` (HTML pages; ``qa.train.jsonl`` / ``qa.test.jsonl``), judged by ``faq_eval.shares_answer_text``
  (a 60-character run shared with the gold answer, from the gold page): its answers are often longer than a
  chunk, which the 20-gram rule would never count.

Pipelines:

* ``rag-app``: the files ingested with ``rag_app.pipeline.Pipeline.ingest`` (what ``rag-app ingest`` runs) into a
  temporary Chroma folder, then each question through the pipeline's retrieval runnable (what ``rag-app retrieve
  --top-n 10`` shows, without ``min_score``). ``--ingest KEY=VALUE`` and ``--retrieval KEY=VALUE`` override the
  settings (for tuning); ``--variant NAME:KEY=VALUE,...`` adds a retrieval variant evaluated on the same ingest.
* ``langchain-docs``: LangChain's loader for the format (``BSHTMLLoader``, ``PyPDFLoader``) →
  ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`` → ``HuggingFaceEmbeddings`` on the
  same bundled MiniLM → ``Chroma.from_documents`` → ``as_retriever(search_kwargs={"k": 10})``.

Ingest times exclude loading the embedding model, which both pipelines load once before their timer starts.
Tune on ``--split train``; report ``--split test`` (the default).

Run: ``python benchmarks/retrieval_suite.py [--split test] [--only NAME ...] [--no-baseline] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faq_eval import (
    first_relevant_rank,
    machine_note,
    make_console,
    print_table,
    progress,
    read_jsonl,
    shares_answer_text,
    write_json,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_ROOT = ROOT.parent / "shared" / "data"
TOP = 10
GRAM, SHARE, HEAD = 20, 0.6, 2000  # the manual sets' relevance rule


# ------------------------------------------------------------------ relevance
def normalise(text: str) -> str:
    """NFKC, casefold, letters and digits only (the manual sets' normalisation)."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())


def grams(norm: str) -> set[str]:
    if len(norm) < GRAM:
        return {norm} if norm else set()
    return {norm[i : i + GRAM] for i in range(len(norm) - GRAM + 1)}


def holds_gold(passage: str, gold_grams: set[str]) -> bool:
    """At least 60 % of the gold's 20-grams lie in the passage's first 2000 characters."""
    return bool(gold_grams) and len(gold_grams & grams(normalise(passage[:HEAD]))) >= SHARE * len(gold_grams)


# ------------------------------------------------------------------ corpora
@dataclass
class Question:
    id: str
    question: str
    judge: Callable[[str, str | None], bool]  # (passage text, passage source) -> relevant


@dataclass
class Corpus:
    name: str
    folder: Path
    glob: str
    kind: str  # "html" or "pdf": which LangChain loader the baseline uses
    questions: list[Question] = field(default_factory=list)


def manual_corpora(folder: Path, split: str) -> list[Corpus]:
    """The HTML run and, when the set ships a PDF, the PDF run of one manual set."""
    split_ids = json.loads((folder / "split.json").read_text(encoding="utf-8"))
    wanted = set(split_ids["train"]) | set(split_ids["test"]) if split == "all" else set(split_ids[split])
    questions = []
    for record in read_jsonl(folder / "questions.jsonl"):
        if record["id"] not in wanted:
            continue
        gold = grams(normalise(record["gold"]))
        questions.append(Question(record["id"], record["question"],
                                  lambda text, _source, gold=gold: holds_gold(text, gold)))
    corpus = folder / "corpus"
    runs = [Corpus(f"{folder.name} (HTML)", corpus, "*.html", "html", questions)]
    pdfs = sorted(corpus.glob("*.pdf"))
    if len(pdfs) == 1:
        runs.append(Corpus(f"{folder.name} (PDF)", corpus, pdfs[0].name, "pdf", questions))
    return runs


def faq_corpus(folder: Path, split: str) -> Corpus:
    splits = ["train", "test"] if split == "all" else [split]
    questions = [
        Question(e["id"], e["question"], lambda text, source, e=e: shares_answer_text(text, source, e))
        for s in splits for e in read_jsonl(folder / f"qa.{s}.jsonl")
    ]
    return Corpus("python-faq (HTML)", folder / "corpus", "*.html", "html", questions)


def find_corpora(root: Path, split: str, only: Sequence[str]) -> list[Corpus]:
    corpora: list[Corpus] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if (folder / "questions.jsonl").is_file() and (folder / "split.json").is_file() and (folder / "corpus").is_dir():
            corpora.extend(manual_corpora(folder, split))
        elif (folder / "qa.test.jsonl").is_file() and (folder / "corpus").is_dir():
            corpora.append(faq_corpus(folder, split))
    if only:
        corpora = [c for c in corpora if any(name in c.name for name in only)]
    if not corpora:
        sys.exit(f"no corpus found under {root} (--data-root): build one with scripts/build_python_faq.py or "
                 "scripts/build_manual_corpus.py, or see ../shared/data/debian-reference/README.md")
    return corpora


# ------------------------------------------------------------------ metrics
def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks)
    out = {f"hit@{k}": sum(r is not None and r <= k for r in ranks) / n for k in (1, 5, 10)}
    out["MRR@10"] = sum(1 / r for r in ranks if r is not None and r <= TOP) / n
    return out


def rank_of(passages: Sequence[Any], question: Question) -> int | None:
    return first_relevant_rank(
        question.judge(p.page_content, p.metadata.get("source")) for p in list(passages)[:TOP]
    )


# ------------------------------------------------------------------ the two pipelines
def parse_pairs(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as a dict, values read as JSON when they parse (numbers, booleans, null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def run_ours(corpus: Corpus, ingest: dict[str, Any], variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Ingest ``corpus`` with ``rag-app``'s pipeline once, then rank every question with each retrieval variant."""
    from rag_app.config import load_settings
    from rag_app.pipeline import build_pipeline

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rag-app-suite-") as db:
        base = load_settings(index={"db": Path(db), "collection": "suite"}, ingest=ingest,
                             retrieval={"reranker": None, "mode": "dense", "top_n": TOP})
        with build_pipeline(base, generator=False) as pipeline:
            started = time.perf_counter()
            report = pipeline.ingest([corpus.folder], glob=corpus.glob)
            seconds = time.perf_counter() - started
        if report.files_failed:
            sys.exit(f"{corpus.name}: ingest failed: {[(f.source, f.error) for f in report.files_failed]}")
        for name, overrides in variants.items():
            settings = load_settings(index={"db": Path(db), "collection": "suite"}, ingest=ingest,
                                     retrieval={"top_n": TOP, **overrides})
            with build_pipeline(settings, generator=False, require_documents=True) as pipeline:
                runnable = pipeline.passages.model_copy(update={"min_score": None})
                started = time.perf_counter()
                found = [runnable.invoke(q.question) for q in progress(corpus.questions, f"{corpus.name}: {name}")]
                query_ms = (time.perf_counter() - started) * 1000 / max(len(found), 1)
            ranks = [rank_of(p, q) for p, q in zip(found, corpus.questions, strict=True)]
            out[f"rag-app {name}"] = {**metrics(ranks), "ingest_s": seconds, "chunks": report.chunks_total,
                                      "query_ms": query_ms, "ranks": dict(zip([q.id for q in corpus.questions], ranks, strict=True))}
    return out


def langchain_embeddings() -> Any:
    import warnings

    from retrievers import resolve_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HuggingFaceEmbeddings' deprecation notice
        from langchain_community.embeddings import HuggingFaceEmbeddings

        return HuggingFaceEmbeddings(model_name=str(resolve_model("minilm").path))


def run_langchain(corpus: Corpus, embeddings: Any) -> dict[str, Any]:
    """The pipeline of LangChain's RAG tutorial over the same files."""
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import BSHTMLLoader, PyPDFLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    files = sorted(corpus.folder.glob(corpus.glob))
    with tempfile.TemporaryDirectory(prefix="rag-app-suite-lc-") as db:
        started = time.perf_counter()
        if corpus.kind == "pdf":
            docs = [d for f in files for d in PyPDFLoader(str(f)).load()]
        else:
            docs = [d for f in files for d in BSHTMLLoader(str(f), open_encoding="utf-8").load()]
        chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
        store = Chroma.from_documents(chunks, embeddings, persist_directory=db, collection_name="langchain")
        seconds = time.perf_counter() - started
        retriever = store.as_retriever(search_kwargs={"k": TOP})
        started = time.perf_counter()
        found = [retriever.invoke(q.question) for q in progress(corpus.questions, f"{corpus.name}: LangChain docs")]
        query_ms = (time.perf_counter() - started) * 1000 / max(len(found), 1)
        del retriever, store
    ranks = [rank_of(p, q) for p, q in zip(found, corpus.questions, strict=True)]
    return {**metrics(ranks), "ingest_s": seconds, "chunks": len(chunks), "query_ms": query_ms,
            "ranks": dict(zip([q.id for q in corpus.questions], ranks, strict=True))}


# ------------------------------------------------------------------ main
BASELINE = "langchain-docs"
COLUMNS = ["pipeline", "hit@1", "hit@5", "hit@10", "MRR@10", "ingest s", "chunks", "query ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="folder of the corpora")
    parser.add_argument("--split", choices=["train", "test", "all"], default="test")
    parser.add_argument("--only", nargs="*", default=[], help="corpora whose name contains one of these")
    parser.add_argument("--ingest", action="append", default=[], metavar="KEY=VALUE", help="ingest setting override")
    parser.add_argument("--retrieval", action="append", default=[], metavar="KEY=VALUE",
                        help="retrieval setting override of the main row")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="another retrieval setting evaluated on the same ingest")
    parser.add_argument("--no-baseline", action="store_true", help="skip the LangChain-docs pipeline (tuning only)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure and rank here")
    args = parser.parse_args()

    console = make_console()
    corpora = find_corpora(args.data_root, args.split, args.only)
    ingest = parse_pairs(args.ingest)
    variants = {"(defaults)" if not args.retrieval else "(" + ", ".join(args.retrieval) + ")": parse_pairs(args.retrieval)}
    for spec in args.variant:
        name, _, pairs = spec.partition(":")
        variants[name] = {**variants[next(iter(variants))], **parse_pairs([p for p in pairs.split(",") if p])}
    console.print(f"{machine_note()}; split {args.split}; ingest overrides {ingest or 'none'}")

    embeddings = None if args.no_baseline else langchain_embeddings()
    results: dict[str, dict[str, Any]] = {}
    for corpus in corpora:
        rows = run_ours(corpus, ingest, variants)
        if embeddings is not None:
            rows[BASELINE] = run_langchain(corpus, embeddings)
        results[corpus.name] = rows
        print_table(f"{corpus.name}: {len(corpus.questions)} {args.split} questions", COLUMNS,
                    [(name, r["hit@1"], r["hit@5"], r["hit@10"], r["MRR@10"], f"{r['ingest_s']:.1f}", r["chunks"],
                      f"{r['query_ms']:.0f}") for name, r in rows.items()], console)

    names = list(next(iter(results.values())))
    mean = {name: {m: sum(results[c][name][m] for c in results) / len(results)
                   for m in ("hit@1", "hit@5", "hit@10", "MRR@10", "ingest_s")} for name in names}
    print_table(f"Mean over {len(results)} corpora ({args.split})", ["pipeline", "hit@1", "hit@5", "hit@10", "MRR@10"],
                [(n, m["hit@1"], m["hit@5"], m["hit@10"], m["MRR@10"]) for n, m in mean.items()], console)
    if BASELINE in mean:
        ours = mean[names[0]]
        gap = ours["MRR@10"] - mean[BASELINE]["MRR@10"]
        below = [c for c in results if results[c][names[0]]["MRR@10"] < results[c][BASELINE]["MRR@10"]]
        speed = {c: results[c][BASELINE]["ingest_s"] / results[c][names[0]]["ingest_s"] for c in results}
        console.print(f"MRR@10 {names[0]} - {BASELINE}: {gap:+.3f} (target >= +0.15: {'met' if gap >= 0.15 else 'MISSED'}); "
                      f"hit@5 {ours['hit@5']:.3f} (target >= 0.90: {'met' if ours['hit@5'] >= 0.9 else 'MISSED'}); "
                      f"corpora below the baseline: {below or 'none'}")
        console.print("ingest speed, LangChain-docs time / ours: " + ", ".join(f"{c} {r:.2f}" for c, r in speed.items()))
    write_json(args.json, {"split": args.split, "ingest": ingest, "variants": variants, "results": results, "mean": mean})


if __name__ == "__main__":
    main()

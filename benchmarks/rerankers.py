"""Which reranker should be the default? Quality and time to rerank 20 passages, on python-faq.

The corpus's 8 HTML pages are ingested with ``rag-app ingest``'s defaults into a temporary Chroma folder
(the 2 PDFs duplicate two of them and are left out). For each of the 39 test questions, the candidate
retriever of ``rag_app.retrieval.build_candidates`` (the pipeline's ``passages.candidates``) returns ``k`` = 20
candidates, from hybrid retrieval (BM25 + dense, RRF) and from dense retrieval alone. Every reranker reorders
the *same* 20 hybrid candidates (ColBERT the dense ones too). Candidates:

* none (hybrid alone), none (dense alone): the retriever's own order;
* ColBERT MaxSim over MiniLM's token vectors (``LangchainReranker("minilm", colbert=True)``);
* LLM yes/no on SmolLM2-135M (``LangchainReranker("smollm2", causal_lm=True)``); ``--skip-llm`` leaves it out
  (about 10 s per question on a quiet 2-core CPU, so a third of the run time);
* a fine-tuned reranker folder, with ``--finetuned DIR`` (its kind read from the folder).

Metrics over the questions: MRR@10, hit@1, hit@5, with relevance from ``faq_eval.relevant`` (same page, and the
passage's opening 80 characters lie inside the gold answer). Time: each question's ``compress_documents`` over
its 20 passages, measured per question after one warm-up call, the rerankers interleaved question by question so
that load from other processes hits them alike; p50 and p95 over the questions. Model loading is not counted.

The default is the best MRR@10 among the candidates whose p50 is under ``--budget-ms`` (1000 ms), among the
bundled models (a fine-tuned folder is reported, never chosen: the defaults must run on a fresh install).

Run: ``python benchmarks/rerankers.py [--data DIR] [--finetuned DIR] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faq_eval import (
    data_dir,
    first_relevant_rank,
    ingested_corpus,
    load_questions,
    machine_note,
    make_console,
    percentile,
    print_table,
    progress,
    ranking_metrics,
    relevant,
    write_json,
)


@dataclass
class Candidate:
    """One row of the table: how passages are ordered, and the settings that select it."""

    name: str
    reranker: str | None
    kind: str | None
    options: dict[str, Any] = field(default_factory=dict)
    candidates: str = "hybrid"  # which retrieval list it starts from: the setting retrieval.mode
    bundled: bool = True
    compressor: Any = None
    ranks: list[int | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    load_s: float = 0.0


def _candidates(finetuned: Path | None, skip_llm: bool) -> list[Candidate]:
    rows = [
        Candidate("none (hybrid BM25 + dense)", None, None),
        Candidate("none (dense only)", None, None, candidates="dense"),
        Candidate("ColBERT MaxSim, MiniLM tokens", "minilm", "colbert", {"colbert": True}),
        Candidate("ColBERT MaxSim, MiniLM tokens, over dense", "minilm", "colbert", {"colbert": True}, "dense"),
    ]
    if not skip_llm:
        rows.append(Candidate("LLM yes/no, SmolLM2-135M", "smollm2", "llm", {"causal_lm": True}))
    if finetuned is not None:
        if not finetuned.is_dir():
            raise SystemExit(f"--finetuned {finetuned} is not a folder; give a reranker saved with save_pretrained.")
        rows.append(Candidate(f"fine-tuned: {finetuned.name}", str(finetuned), "auto", bundled=False))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="python-faq folder (default: ../shared/data/python-faq)")
    parser.add_argument("--finetuned", type=Path, default=None, help="a fine-tuned reranker folder to compare")
    parser.add_argument("--k", type=int, default=20, help="candidates retrieved, then reranked (default 20)")
    parser.add_argument("--budget-ms", type=float, default=1000.0, help="p50 limit for the default (default 1000)")
    parser.add_argument("--skip-llm", action="store_true", help="leave out the (slow) SmolLM2 yes/no reranker")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    data = data_dir(args.data)
    questions = load_questions(data)

    from rag_app.pipeline import build_pipeline
    from rag_app.retrieval import build_candidates
    from retrievers.langchain import LangchainReranker

    console = make_console()
    rows = _candidates(args.finetuned, args.skip_llm)
    console.print(machine_note())
    with (ingested_corpus(data, console, reranker="", k=args.k) as settings,
          build_pipeline(settings, generator=False, require_documents=True) as pipeline):
        lists = {}
        for mode in ("hybrid", "dense"):
            retriever = build_candidates(settings.retrieval.model_copy(update={"mode": mode}), pipeline.reader)
            lists[mode] = [retriever.invoke(q["question"]) for q in progress(questions, f"{mode} retrieval")]
    loaded: dict[tuple[str, str | None], tuple[Any, float]] = {}
    for row in rows:
        if row.reranker is not None:
            if (row.reranker, row.kind) not in loaded:
                start = time.perf_counter()
                compressor = LangchainReranker(model_name_or_path=row.reranker, top_n=None, **row.options)
                loaded[row.reranker, row.kind] = compressor, time.perf_counter() - start
                compressor.compress_documents(lists["hybrid"][0], questions[0]["question"])  # warm-up
            row.compressor, row.load_s = loaded[row.reranker, row.kind]
    console.print(f"{len(questions)} test questions, k = {args.k} candidates each; "
                  f"{sum(len(c) for c in lists['hybrid']) / len(questions):.1f} hybrid candidates on average")

    for i, question in enumerate(progress(questions, "reranking")):
        query = question["question"]
        for row in rows:
            passages = lists[row.candidates][i]
            if row.compressor is not None:
                start = time.perf_counter()
                passages = list(row.compressor.compress_documents(passages, query))
                row.seconds.append(time.perf_counter() - start)
            else:
                row.seconds.append(0.0)
            row.ranks.append(first_relevant_rank(relevant(p.page_content, p.metadata.get("source"), question)
                                                 for p in passages))

    results = []
    for row in rows:
        metrics = ranking_metrics(row.ranks)
        results.append({
            "name": row.name, "mode": row.candidates, "reranker": row.reranker, "reranker_kind": row.kind,
            **metrics, "p50_ms": percentile(row.seconds, 50) * 1000, "p95_ms": percentile(row.seconds, 95) * 1000,
            "load_s": row.load_s, "bundled": row.bundled, "ranks": row.ranks,
        })
    eligible = [r for r in results if r["bundled"] and r["p50_ms"] < args.budget_ms]
    best = max(eligible, key=lambda r: r["MRR@10"])  # ties: the earlier (cheaper) row
    print_table(
        f"Rerankers on python-faq ({len(questions)} test questions, {args.k} hybrid candidates)",
        ["candidate", "MRR@10", "hit@1", "hit@5", "p50 ms / 20 passages", "p95 ms", "load s"],
        [(("* " if r is best else "") + r["name"], r["MRR@10"], r["hit@1"], r["hit@5"],
          f"{r['p50_ms']:.0f}", f"{r['p95_ms']:.0f}", f"{r['load_s']:.1f}") for r in results],
        console,
    )
    setting = f'mode = "{best["mode"]}", ' + (f'reranker = "{best["reranker"]}", reranker_kind = "{best["reranker_kind"]}"'
                                              if best["reranker"] else "no reranker")
    console.print(f"default (best MRR@10 with p50 < {args.budget_ms:.0f} ms): [bold]{best['name']}[/] -> [retrieval] {setting}")
    write_json(args.json, {"questions": len(questions), "k": args.k, "budget_ms": args.budget_ms,
                           "machine": machine_note(), "default": best["name"], "results": results})


if __name__ == "__main__":
    main()

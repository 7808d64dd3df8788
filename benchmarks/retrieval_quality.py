"""Retrieval quality: what ``rag-app retrieve`` returns against the LangChain-docs pipeline, on python-faq.

* ours: the HTML pages ingested with ``rag-app ingest``'s defaults (200-token chunks, contextual embedding) and
  searched with the default settings (k = 20 candidates, the default reranker if any) keeping the 10 best:
  the pipeline's passages (``rag_app.pipeline.Pipeline.passages``) without ``min_score``, as ``rag-app retrieve
  --top-n 10`` shows them with ``retrieval.min_score = -inf``; a second row drops the passages below
  ``min_score``, as ``rag-app retrieve`` and the chain do, to show what the threshold costs on answerable
  questions.
* LangChain docs: ``BSHTMLLoader`` → ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`` →
  ``HuggingFaceEmbeddings`` (the same MiniLM) → ``Chroma`` → ``as_retriever(search_kwargs={"k": 10})``.

The 2 PDFs repeat two HTML pages and are left out of both. Relevance, the same rule for both
(``faq_eval.shares_answer_text``): the passage comes from the gold entry's page and shares a run of at least
60 characters with the gold answer (whitespace collapsed, lower case), or the shorter of the two, when under 60
characters, lies inside the other. So a 1000-character chunk that holds part of the answer among other text
counts, as does a small chunk inside the answer. Metrics over the 39 test questions: hit@1, hit@5, MRR@10.

Run: ``python benchmarks/retrieval_quality.py [--data DIR] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from faq_eval import (
    data_dir,
    first_relevant_rank,
    ingested_corpus,
    langchain_docs_index,
    load_questions,
    make_console,
    print_table,
    progress,
    ranking_metrics,
    shares_answer_text,
    write_json,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="python-faq folder (default: ../shared/data/python-faq)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    data = data_dir(args.data)
    questions = load_questions(data)

    from rag_app.pipeline import build_pipeline

    console = make_console()

    def rank(passages: list, question: dict) -> int | None:  # noqa: ANN001
        return first_relevant_rank(shares_answer_text(p.page_content, p.metadata.get("source"), question)
                                   for p in passages)

    ranks: dict[str, list[int | None]] = {}
    with (ingested_corpus(data, console, top_n=10, k=20) as settings,  # `rag-app retrieve --top-n 10`
          build_pipeline(settings, generator=False, require_documents=True) as pipeline):
        threshold = pipeline.min_score
        unfiltered = pipeline.passages.model_copy(update={"min_score": None})
        reranked = [unfiltered.invoke(q["question"]) for q in progress(questions, "rag-app retrieve")]
        kept = [pipeline.retrieve(q["question"]) for q in progress(questions, "with min_score")]
    retrieval = settings.retrieval
    name = f"{retrieval.mode}, " + (f"{retrieval.reranker} {retrieval.reranker_kind} reranker" if retrieval.reranker
                                    else "no reranker")
    ranks[f"rag-app retrieve ({name})"] = [rank(p, q) for p, q in zip(reranked, questions, strict=True)]
    ranks[f"  same, passages below min_score {threshold} dropped (as the chain does)"] = [
        rank(p, q) for p, q in zip(kept, questions, strict=True)]

    with tempfile.TemporaryDirectory(prefix="rag-app-lc-") as db:
        store, chunks = langchain_docs_index(data, Path(db))
        retriever = store.as_retriever(search_kwargs={"k": 10})
        baseline = [retriever.invoke(q["question"]) for q in progress(questions, "LangChain docs retriever")]
        del retriever, store
    ranks["LangChain docs (RecursiveCharacterTextSplitter 1000/200, Chroma, k=10)"] = [
        rank(p, q) for p, q in zip(baseline, questions, strict=True)]
    console.print(f"LangChain docs index: {len(chunks)} chunks, {sum(len(c.page_content) for c in chunks) / len(chunks):.0f} "
                  f"characters on average; questions with no passage left after min_score: "
                  f"{sum(not p for p in kept)}")

    results = {name: {**ranking_metrics(r), "ranks": r} for name, r in ranks.items()}
    print_table(
        f"Retrieval quality on python-faq ({len(questions)} test questions, relevance: 60-character overlap with the gold answer)",
        ["pipeline", "hit@1", "hit@5", "MRR@10"],
        [(name, r["hit@1"], r["hit@5"], r["MRR@10"]) for name, r in results.items()],
        console,
    )
    ours, theirs = next(iter(results.values())), results[list(results)[-1]]
    verdict = "higher" if ours["MRR@10"] > theirs["MRR@10"] else "NOT higher"
    console.print(f"MRR@10 ours {ours['MRR@10']:.3f} vs LangChain docs {theirs['MRR@10']:.3f}: ours is {verdict} "
                  f"(ratio {ours['MRR@10'] / theirs['MRR@10']:.2f})")
    write_json(args.json, {"questions": len(questions), "results": results})


if __name__ == "__main__":
    main()

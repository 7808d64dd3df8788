"""Query latency of our chain against the chain a LangChain user builds from the docs, on the same models.

Both run over the python-faq HTML pages (the 2 PDFs duplicate two of them), with the bundled MiniLM embedder
and the bundled SmolLM2-135M GGUF through llama.cpp (built by ``rag_app.pipeline.build_pipeline``; one model
instance, shared, so both chains generate with identical settings):

* ours: ``rag-app ingest`` defaults into Chroma and the chain of ``rag_app.pipeline.build_pipeline`` (the
  default retrieval: k = 20 candidates, the default reranker if any, top_n passages, ``min_score``; within the
  token budget ``rag-app ask`` uses), with a timing wrapper around its reranker;
* LangChain docs: ``BSHTMLLoader`` → ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`` →
  ``HuggingFaceEmbeddings`` (the same MiniLM folder) → ``Chroma.from_documents(...).as_retriever()`` (k = 4)
  → ``create_stuff_documents_chain`` with the tutorial's prompt inside ``create_retrieval_chain``
  (``langchain_classic``, which ``langchain-community`` installs; an LCEL equivalent built from
  ``langchain_core`` if it is missing).

Per question, streamed: retrieve (retriever callbacks; for ours the candidate retriever's, not the
retrieve-rerank-keep step that wraps it), rerank (ours only; a timing wrapper around the reranker), time to
first token (from the call to the first non-empty answer piece) and generation speed (answer tokens, counted
with the GGUF's tokenizer, after the first one, divided by the time from first to last piece). The chains alternate which goes first, question by question, after one warm-up question each; p50
and p95 over the questions. Questions our chain answers with "the documents do not say" (``min_score``)
generate nothing: they are counted, and left out of the generation columns.

Run: ``python benchmarks/query_latency.py [--data DIR] [--questions 15] [--max-new-tokens 128] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faq_eval import (
    data_dir,
    ingested_corpus,
    langchain_docs_index,
    load_questions,
    machine_note,
    make_console,
    percentile,
    print_table,
    progress,
    write_json,
)

TUTORIAL_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to answer "
    "the question. If you don't know the answer, say that you don't know. Use three sentences maximum and keep "
    "the answer concise.\n\n{context}"
)
"""The system prompt of LangChain's RAG tutorial (create_stuff_documents_chain + create_retrieval_chain)."""


def _timing_tools() -> tuple[type, type]:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.documents import BaseDocumentCompressor, Document

    class RetrieverTimer(BaseCallbackHandler):
        """Records how long each retriever call takes."""

        def __init__(self) -> None:
            self.started: dict[uuid.UUID, float] = {}
            self.outer: set[uuid.UUID] = set()
            self.seconds: list[float] = []

        def on_retriever_start(self, serialized: Any, query: str, *, run_id: uuid.UUID,
                               parent_run_id: uuid.UUID | None = None, **kwargs: Any) -> None:
            self.started[run_id] = time.perf_counter()
            if parent_run_id in self.started:  # ours: the PassageRetriever calling its candidate retriever
                self.outer.add(parent_run_id)

        def on_retriever_end(self, documents: Sequence[Document], *, run_id: uuid.UUID, **kwargs: Any) -> None:
            seconds = time.perf_counter() - self.started.pop(run_id)
            if run_id in self.outer:  # retrieve + rerank + cut: not the retrieval time
                self.outer.discard(run_id)
            else:
                self.seconds.append(seconds)

    class TimedCompressor(BaseDocumentCompressor):
        """Wraps a reranker and records how long each call takes."""

        inner: BaseDocumentCompressor
        seconds: list[float] = []

        def compress_documents(self, documents: Sequence[Document], query: str, callbacks: Any = None) -> Sequence[Document]:
            start = time.perf_counter()
            result = self.inner.compress_documents(documents, query, callbacks)
            self.seconds.append(time.perf_counter() - start)
            return result

    return RetrieverTimer, TimedCompressor


def _baseline_chain(retriever: Any, llm: Any) -> Any:
    """``create_retrieval_chain(retriever, create_stuff_documents_chain(llm, prompt))``, as in LangChain's tutorial."""
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages([("system", TUTORIAL_PROMPT), ("human", "{input}")])
    try:
        from langchain_classic.chains import create_retrieval_chain
        from langchain_classic.chains.combine_documents import create_stuff_documents_chain
    except ImportError:  # the same wiring from langchain_core pieces
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.runnables import RunnablePassthrough

        def stuff(inputs: dict[str, Any]) -> str:
            return "\n\n".join(d.page_content for d in inputs["context"])

        answer = RunnablePassthrough.assign(context=stuff) | prompt | llm | StrOutputParser()
        return RunnablePassthrough.assign(context=(lambda x: x["input"]) | retriever).assign(answer=answer)
    return create_retrieval_chain(retriever, create_stuff_documents_chain(llm, prompt))


def _run(chain: Any, inputs: dict[str, Any], timer: Any, count_tokens: Any) -> dict[str, Any]:
    """Stream one question; time to first answer piece, answer tokens and generation speed."""
    start = time.perf_counter()
    first = last = None
    answer = ""
    for chunk in chain.stream(inputs, config={"callbacks": [timer]}):
        piece = chunk.get("answer") if isinstance(chunk, dict) else None
        if piece:
            now = time.perf_counter()
            first = first if first is not None else now
            last = now
            answer += piece
    total = time.perf_counter() - start
    tokens = count_tokens(answer) if answer else 0
    speed = (tokens - 1) / (last - first) if first is not None and last > first and tokens > 1 else None
    return {"ttft": (first - start) if first is not None else None, "tokens": tokens, "tok_s": speed,
            "total": total, "answer": answer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="python-faq folder (default: ../shared/data/python-faq)")
    parser.add_argument("--questions", type=int, default=15, help="test questions to ask (default 15)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="answer length cap for both chains (default 128)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    data = data_dir(args.data)
    everything = load_questions(data)
    step = max(1, len(everything) // max(1, args.questions))
    questions = everything[::step][: args.questions]

    import tempfile

    from rag_app.chain import NO_ANSWER, build_chain
    from rag_app.config import GeneratorSettings
    from rag_app.pipeline import build_pipeline

    console = make_console()
    RetrieverTimer, TimedCompressor = _timing_tools()
    generator = GeneratorSettings(max_new_tokens=args.max_new_tokens)

    with (ingested_corpus(data, console) as settings, tempfile.TemporaryDirectory(prefix="rag-app-lc-") as lc_db,
          build_pipeline(settings.model_copy(update={"generator": generator}), require_documents=True) as pipeline):
        llm, count_tokens = pipeline.llm, pipeline.count_tokens  # the GGUF's tokenizer, without BOS
        reranker = TimedCompressor(inner=pipeline.reranker) if pipeline.reranker is not None else None
        passages = pipeline.passages.model_copy(update={"reranker": reranker})
        ours = build_chain(passages, llm, context_tokens=pipeline.budget.passage_tokens, count_tokens=count_tokens)
        store, lc_chunks = langchain_docs_index(data, Path(lc_db))
        baseline = _baseline_chain(store.as_retriever(), llm)
        r = settings.retrieval
        console.print(f"ours: {r.mode} retrieval, k {r.k}, reranker "
                      f"{f'{r.reranker} ({r.reranker_kind})' if r.reranker else 'none'}, top_n {r.top_n}, min_score "
                      f"{pipeline.min_score}, passage budget {pipeline.budget.passage_tokens} tokens; LangChain docs "
                      f"index: {len(lc_chunks)} chunks, k 4; answers capped at {args.max_new_tokens} tokens; "
                      f"{machine_note()}")
        chains = {
            "ours": (ours, lambda q: {"question": q}, RetrieverTimer()),
            "LangChain docs": (baseline, lambda q: {"input": q}, RetrieverTimer()),
        }
        for chain, make_input, _ in chains.values():  # warm-up: first calls allocate caches
            _run(chain, make_input(everything[-1]["question"]), RetrieverTimer(), count_tokens)
        if reranker is not None:
            reranker.seconds.clear()
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chains}
        for i, question in enumerate(progress(questions, "asking")):
            order = list(chains) if i % 2 == 0 else list(reversed(chains))
            for name in order:
                chain, make_input, timer = chains[name]
                runs[name].append(_run(chain, make_input(question["question"]), timer, count_tokens))
        del store

    results = {}
    rows = []
    for name, (_, _, timer) in chains.items():
        answered = [r for r in runs[name] if r["answer"] and r["answer"] != NO_ANSWER]
        rerank = reranker.seconds if name == "ours" and reranker is not None else []
        ttft = [r["ttft"] for r in answered]
        speed = [r["tok_s"] for r in answered if r["tok_s"] is not None]
        results[name] = {
            "retrieve_p50_ms": percentile(timer.seconds, 50) * 1000, "retrieve_p95_ms": percentile(timer.seconds, 95) * 1000,
            "rerank_p50_ms": percentile(rerank, 50) * 1000, "rerank_p95_ms": percentile(rerank, 95) * 1000,
            "ttft_p50_s": percentile(ttft, 50), "ttft_p95_s": percentile(ttft, 95),
            "tok_s_p50": percentile(speed, 50), "tok_s_p95": percentile(speed, 95),
            "total_p50_s": percentile([r["total"] for r in runs[name]], 50),
            "answer_tokens_mean": sum(r["tokens"] for r in answered) / max(1, len(answered)),
            "no_answer": len(runs[name]) - len(answered), "questions": len(runs[name]), "runs": runs[name],
        }
        r = results[name]
        rows.append((name, f"{r['retrieve_p50_ms']:.0f} / {r['retrieve_p95_ms']:.0f}",
                     "–" if not rerank else f"{r['rerank_p50_ms']:.0f} / {r['rerank_p95_ms']:.0f}",
                     f"{r['ttft_p50_s']:.2f} / {r['ttft_p95_s']:.2f}", f"{r['tok_s_p50']:.0f} / {r['tok_s_p95']:.0f}",
                     f"{r['total_p50_s']:.2f}", f"{r['answer_tokens_mean']:.0f}", str(r["no_answer"])))
    print_table(
        f"Query latency, {len(questions)} python-faq test questions, SmolLM2-135M (llama.cpp), p50 / p95",
        ["chain", "retrieve ms", "rerank ms", "first token s", "tokens/s", "total s (p50)", "answer tokens",
         "no answer"],
        rows, console,
    )
    ratio = results["ours"]["ttft_p50_s"] / results["LangChain docs"]["ttft_p50_s"]
    console.print(f"time to first token, p50 ours / LangChain docs: {ratio:.2f}")
    write_json(args.json, {"questions": len(questions), "max_new_tokens": args.max_new_tokens, "results": results})


if __name__ == "__main__":
    main()

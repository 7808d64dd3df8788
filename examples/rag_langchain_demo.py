"""The demo chain script: ingest a folder, build the LCEL chain, ask a question, print the cited answer.

    python examples/rag_langchain_demo.py PATH "question"

Everything runs offline on the bundled models: MiniLM embeds, ColBERT-style MaxSim over MiniLM reranks,
SmolLM2 (llama.cpp) answers. Swap any piece for another LangChain component: a hub embedder, a
cross-encoder reranker, any chat model.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from rag_app.chain import build_chain
from rag_app.config import load_settings
from rag_app.generators import llama_cpp_generator
from rag_app.pipeline import build_pipeline
from retrievers.langchain import HybridRetriever, LangchainReranker


def main(folder: Path, question: str) -> None:
    with tempfile.TemporaryDirectory() as db:
        # 1. Ingest: load, chunk by MiniLM tokens, embed with title and headings, index into Chroma.
        settings = load_settings(index={"db": Path(db), "collection": "demo"})
        pipeline = build_pipeline(settings, generator=False)
        report = pipeline.ingest([folder])
        print(f"ingested {report.files_ingested} files into {report.chunks_total} chunks")
        for failure in report.files_failed:
            print(f"  failed {failure.source}: {failure.error}")

        # 2. LangChain components over the index: retrieve (BM25 + dense, fused) and rerank.
        store = pipeline.reader.vector_store  # a langchain_chroma.Chroma
        retriever = HybridRetriever(vectorstore=store, documents=pipeline.reader.chunks(), k=12)
        reranker = LangchainReranker(model_name_or_path="minilm", colbert=True, top_n=None)

        # 3. The chain: retrieve → rerank → keep 3 → numbered passages → answer citing [n].
        chain = build_chain(retriever, llama_cpp_generator("smollm2"), reranker=reranker, top_n=3)
        print(f"\nQ: {question}\nA: ", end="", flush=True)
        sources = []
        for chunk in chain.stream({"question": question}):
            if "sources" in chunk:
                sources = chunk["sources"]
            print(chunk.get("answer", ""), end="", flush=True)
        print("\n\nSources:")
        for source in sources:
            where = f", page {source['page']}" if source["page"] else ""
            preview = " ".join(source["text"].split())[:100]
            print(f"  [{source['id']}] {source['source']}{where} (score {source['score']:.3f}): {preview}")
        pipeline.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit('usage: python examples/rag_langchain_demo.py PATH "question"')
    main(Path(sys.argv[1]), sys.argv[2])

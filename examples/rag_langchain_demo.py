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

from langchain_core.documents import Document

from rag_app.chain import build_chain
from rag_app.generators import llama_cpp_generator
from rag_app.indexes import open_index
from retrievers.langchain import HybridRetriever, LangchainReranker


def main(folder: Path, question: str) -> None:
    with tempfile.TemporaryDirectory() as db:
        # 1. Ingest: load, chunk by MiniLM tokens, embed with title and headings, index into Chroma.
        index = open_index(Path(db), "demo", "minilm")
        report = index.ingestor().ingest([folder])
        print(f"ingested {report.files_ingested} files into {report.chunks_total} chunks")
        for failure in report.files_failed:
            print(f"  failed {failure.source}: {failure.error}")

        # 2. Retrieve (BM25 + dense, fused) and rerank.
        stored = index.store.vector_store.get(include=["documents", "metadatas"])
        chunks = [Document(page_content=t, metadata=m, id=i)
                  for i, t, m in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True)]
        retriever = HybridRetriever(vectorstore=index.store.vector_store, documents=chunks, k=12)
        reranker = LangchainReranker(model_name_or_path="minilm", colbert=True, top_n=3)

        # 3. The chain: retrieve → rerank → numbered passages → answer citing [n].
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


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit('usage: python examples/rag_langchain_demo.py PATH "question"')
    main(Path(sys.argv[1]), sys.argv[2])

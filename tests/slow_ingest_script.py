"""`rag-app` with a writer that stops in the middle of a file: run by tests/test_read_while_ingesting.py.

Chroma writes go two chunks at a time, and the second embedding call of the process waits, after touching the
file named by $RAG_TEST_STARTED, until the file named by $RAG_TEST_RELEASE exists. So when STARTED appears, the
first two chunks of the file being ingested are in Chroma and the rest are not.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import ingest.chroma_store
from retrievers.langchain import LangchainEmbedding

ingest.chroma_store.BatchedChroma.max_batch_size = property(lambda self: 2)  # type: ignore[assignment]
_embed = LangchainEmbedding.embed_documents
_calls = 0


def _held_embed(self: LangchainEmbedding, texts: list[str]) -> list[list[float]]:
    global _calls
    _calls += 1
    if _calls == 2:
        Path(os.environ["RAG_TEST_STARTED"]).touch()
        deadline = time.monotonic() + 120
        while not Path(os.environ["RAG_TEST_RELEASE"]).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never released the writer")
            time.sleep(0.05)
    return _embed(self, texts)


LangchainEmbedding.embed_documents = _held_embed  # type: ignore[method-assign]

if __name__ == "__main__":
    from rag_app.cli import app

    app(sys.argv[1:], prog_name="rag-app")

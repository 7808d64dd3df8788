"""The generator's context: each passage with the chunks around it in its section.

A 200-token chunk often holds the question's words while the answer is in the sentence after it (the next
step, the exception, the value). ``generator.context_chunks = n`` gives the model, for each passage, up to ``n``
chunks before and after it from the same source and heading, joined without the overlap the chunker repeats.
Retrieval, scores and citations stay the passage's: only the text the model (and the extractive answer) reads
grows. The chain's token budget still applies, so more context can mean fewer passages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.documents import Document

__all__ = ["FetchChunks", "chroma_chunks", "join_chunks", "with_neighbours"]

FetchChunks = Callable[[str, Sequence[int]], list[Document]]
"""``(source, chunk indices) -> those chunks`` (any order, missing ones left out), with their metadata."""


def join_chunks(chunks: Sequence[Document]) -> str:
    """The text of consecutive chunks (in order) with each overlap written once.

    Chunks carry ``start_index``/``end_index`` in their file's text: a chunk starting before the previous one
    ends repeats that many characters, dropped when they match; otherwise the chunks are joined by a blank line.
    """
    text = ""
    previous: Document | None = None
    for chunk in chunks:
        piece = chunk.page_content
        if previous is not None:
            overlap = _overlap(previous, chunk)
            if overlap and text.endswith(piece[:overlap]):
                piece = piece[overlap:]
                text += piece
            else:
                text += "\n\n" + piece
        else:
            text = piece
        previous = chunk
    return text


def _overlap(previous: Document, chunk: Document) -> int:
    end, start = previous.metadata.get("end_index"), chunk.metadata.get("start_index")
    if not isinstance(end, int) or not isinstance(start, int) or start >= end:
        return 0
    return min(end - start, len(chunk.page_content))


def with_neighbours(docs: Sequence[Document], fetch: FetchChunks, n: int) -> list[Document]:
    """``docs`` with each one's text widened by up to ``n`` chunks on each side from its section (same
    ``source`` and ``heading``); a passage without ``chunk_index`` stays as it is. Metadata (score, id, page,
    heading) is the passage's; ``context_chunks`` says which chunk indices the text spans."""
    if n <= 0:
        return list(docs)
    out = []
    for doc in docs:
        source, index = doc.metadata.get("source"), doc.metadata.get("chunk_index")
        if not isinstance(source, str) or not isinstance(index, int):
            out.append(doc)
            continue
        wanted = [i for i in range(index - n, index + n + 1) if i >= 0 and i != index]
        found = {c.metadata.get("chunk_index"): c for c in fetch(source, wanted)
                 if c.metadata.get("heading") == doc.metadata.get("heading")}
        span = [doc]
        for i in range(index - 1, index - n - 1, -1):  # stop at the first gap: the section's start
            if i not in found:
                break
            span.insert(0, found[i])
        for i in range(index + 1, index + n + 1):
            if i not in found:
                break
            span.append(found[i])
        if len(span) == 1:
            out.append(doc)
            continue
        indices = [c.metadata["chunk_index"] for c in span]
        out.append(doc.model_copy(update={
            "page_content": join_chunks(span),
            "metadata": {**doc.metadata, "context_chunks": f"{indices[0]}-{indices[-1]}"},
        }))
    return out


def chroma_chunks(vector_store: Any) -> FetchChunks:
    """A :data:`FetchChunks` over a LangChain ``Chroma`` store (ids it hides, half-written ones, left out)."""

    def fetch(source: str, indices: Sequence[int]) -> list[Document]:
        if not indices:
            return []
        got = vector_store.get(where={"$and": [{"source": source}, {"chunk_index": {"$in": list(indices)}}]},
                               include=["documents", "metadatas"])
        hidden = vector_store.hidden_ids() if hasattr(vector_store, "hidden_ids") else frozenset()
        return [Document(page_content=text or "", metadata=dict(meta or {}), id=id_)
                for id_, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
                if id_ not in hidden]

    return fetch

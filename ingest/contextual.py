"""The text that is embedded for a chunk: its document title and heading path in front of the chunk.

A chunk such as "Run it with --fast." says little on its own; "Install guide > Linux\\n\\nRun it with --fast."
says where it belongs. The vector store keeps the chunk itself as the document text (what is shown and
cited); only the embedding sees the context. LangChain vector stores call ``embed_documents(texts)`` with
the stored texts and no metadata, so the indexer computes these texts, embeds them itself and passes the
vectors in (e.g. ``Chroma.add_texts``/``upsert`` with precomputed embeddings); this module is the pure part.

The context must never push the chunk out of the model's window: with a tokenizer and ``max_tokens``, the
*context* is shortened until the whole text fits (outer headings dropped first, then the title, then the
innermost heading cut word by word), and the chunk is never touched. A chunk that alone fills the window
is returned without context. The chunker's ``chunk_size`` can leave room for a context on purpose
(e.g. ``chunk_size=200`` with ``max_tokens=256``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document

from ingest.chunking import HEADING_SEPARATOR, count_tokens

__all__ = ["CONTEXT_SEPARATOR", "contextual_text", "contextual_texts"]

CONTEXT_SEPARATOR = "\n\n"  # between the context line and the chunk


def _context_parts(doc: Document) -> tuple[str | None, list[str]]:
    title = doc.metadata.get("title") or None
    heading = doc.metadata.get("heading") or ""
    return title, [h for h in heading.split(HEADING_SEPARATOR) if h.strip()]


def _join(title: str | None, headings: Sequence[str], chunk: str) -> str:
    context = HEADING_SEPARATOR.join([title, *headings] if title else headings)
    return f"{context}{CONTEXT_SEPARATOR}{chunk}" if context.strip() else chunk


def _candidates(title: str | None, headings: list[str], chunk: str) -> list[str]:
    """Ever shorter texts: the full context, then outer headings dropped one by one (the title kept), then
    the innermost heading (or the title) alone, then its words cut from the end, then the chunk alone."""
    out = [_join(title, headings[k:], chunk) for k in range(max(1, len(headings)))]
    last = headings[-1] if headings else title
    if last:
        out.append(_join(None, [last], chunk))
        words = last.split()
        out.extend(_join(None, [" ".join(words[:n])], chunk) for n in range(len(words) - 1, 0, -1))
    out.append(chunk)
    return list(dict.fromkeys(out))  # in order, without repeats


def contextual_text(doc: Document, tokenizer: Any = None, max_tokens: int | None = None) -> str:
    """``"{title} > {heading path}\\n\\n{chunk}"`` for a chunk made by :mod:`ingest.chunking`.

    Missing parts are left out: with neither a title nor a heading the chunk is returned as it is. With a
    ``tokenizer`` and ``max_tokens``, the context is shortened (never the chunk) so that
    ``len(tokenizer(text)["input_ids"]) <= max_tokens``; if even the chunk alone does not fit, the chunk is
    returned. The document is not modified.

    >>> doc = Document("Run it with --fast.", metadata={"title": "Install guide", "heading": "Setup > Linux"})
    >>> contextual_text(doc)
    'Install guide > Setup > Linux\\n\\nRun it with --fast.'
    """
    return contextual_texts([doc], tokenizer, max_tokens)[0]


def contextual_texts(docs: Sequence[Document], tokenizer: Any = None, max_tokens: int | None = None) -> list[str]:
    """:func:`contextual_text` for many chunks, counting tokens in one batch (only the chunks whose full
    text is too long are counted again, candidate by candidate)."""
    if (tokenizer is None) != (max_tokens is None):
        raise ValueError("Pass both tokenizer and max_tokens to bound the text, or neither.")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise ValueError(f"max_tokens must be an integer >= 1; got {max_tokens!r}.")
    parts = [_context_parts(doc) for doc in docs]
    full = [_join(title, headings, doc.page_content) for doc, (title, headings) in zip(docs, parts, strict=True)]
    if tokenizer is None:
        return full
    counts = count_tokens(tokenizer, full)
    for index, (doc, (title, headings), count) in enumerate(zip(docs, parts, counts, strict=True)):
        if count <= max_tokens or full[index] == doc.page_content:
            continue
        candidates = _candidates(title, headings, doc.page_content)
        fits = [c <= max_tokens for c in count_tokens(tokenizer, candidates)]
        full[index] = next((c for c, ok in zip(candidates, fits, strict=True) if ok), doc.page_content)
    return full

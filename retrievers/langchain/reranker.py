"""LangChain ``BaseDocumentCompressor`` that reranks documents with one of our rerankers and keeps the score.

Why: a retriever returns candidates by a cheap similarity; a reranker (cross-encoder, ColBERT, LLM yes/no) reads
the query and each document together and orders them better. LangChain's ``CrossEncoderReranker`` returns
bare documents and loses the score; this one returns *copies* of the documents, best first, each with
``metadata["relevance_score"]``, and leaves the caller's documents untouched, so a chain can show or threshold
the score later.

What it does not do: retrieve, drop documents below a score (filter on ``relevance_score`` afterwards), or
truncate long documents itself (the ranker scores long documents by their best window).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from retrievers.names import RELEVANCE_SCORE_KEY
from retrievers.rerankers.base import BaseRanker
from retrievers.validation import with_positional

__all__ = ["LangchainReranker", "RELEVANCE_SCORE_KEY"]


class LangchainReranker(BaseDocumentCompressor):
    """Rerank LangChain documents and keep the ``top_n`` best, each carrying its score.

    Give either a model to load (``model_name_or_path``, with options for
    ``AutoModelForRanking.from_pretrained`` as ``model_kwargs`` or as extra keyword arguments) or a ready
    ``ranker``. The model loads once, when the object is built.

    Example::

        reranker = LangchainReranker("BAAI/bge-reranker-base", top_n=3)
        llm_reranker = LangchainReranker("my-llm-reranker", causal_lm=True)   # goes to from_pretrained
        best = reranker.compress_documents(documents, "how do I pool tokens?")
        best[0].metadata["relevance_score"]                                    # float, higher is better
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model_name_or_path: str | None = None
    """A bundled alias, a local folder or a hub id of a reranker; loaded with ``AutoModelForRanking``.
    Give this or ``ranker``, not both."""

    ranker: BaseRanker | None = Field(default=None, repr=False)
    """A ready reranker (any :class:`~retrievers.rerankers.base.BaseRanker`), e.g. one the application shares."""

    top_n: int | None = Field(default=3, ge=0)
    """How many documents to return, best first. ``None`` returns all of them, reordered."""

    batch_size: int = Field(default=16, ge=1)
    """How many (query, document) pairs the model scores at once."""

    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for ``AutoModelForRanking.from_pretrained`` (``causal_lm=True``, ``device``,
    ``use_fp16``, ``max_length``, ...). Unknown keyword arguments of the constructor are added here."""

    _ranker: BaseRanker = PrivateAttr()

    def __init__(self, model_name_or_path: str | None = None, /, **data: Any) -> None:
        super().__init__(**with_positional(model_name_or_path, data))

    @model_validator(mode="before")
    @classmethod
    def _collect_model_kwargs(cls, data: Any) -> Any:
        """Move keyword arguments that are not fields into ``model_kwargs`` (they are for ``from_pretrained``)."""
        if not isinstance(data, dict):
            return data
        fields = set(cls.model_fields)
        extra = {key: value for key, value in data.items() if key not in fields}
        if not extra:
            return data
        for key in extra:
            close = difflib.get_close_matches(key, sorted(fields), n=1, cutoff=0.8)
            if close:
                raise ValueError(
                    f"Unknown argument {key!r} for LangchainReranker: did you mean {close[0]!r}? "
                    "(Other unknown arguments are passed to AutoModelForRanking.from_pretrained.)"
                )
        model_kwargs = dict(data.get("model_kwargs") or {})
        both = sorted(set(extra) & set(model_kwargs))
        if both:
            raise ValueError(f"{', '.join(both)} given both as an argument and in model_kwargs; give each once.")
        return {**{k: v for k, v in data.items() if k in fields}, "model_kwargs": {**model_kwargs, **extra}}

    @model_validator(mode="after")
    def _load(self) -> LangchainReranker:
        if self.ranker is not None:
            if self.model_name_or_path is not None:
                raise ValueError("Give model_name_or_path or ranker, not both.")
            if self.model_kwargs:
                raise ValueError(
                    f"{', '.join(sorted(self.model_kwargs))} are options for loading a model, but ranker= is already "
                    "loaded: set them when you load that ranker, or pass model_name_or_path instead of ranker."
                )
            self._ranker = self.ranker
            return self
        if self.model_name_or_path is None:
            raise ValueError(
                "LangchainReranker needs a model: pass model_name_or_path (a reranker's name or folder) "
                "or ranker (a loaded BaseRanker)."
            )
        # Imported where it is needed: a wrapper around a ready ranker only needs the BaseRanker contract.
        from retrievers.rerankers.auto import AutoModelForRanking

        self._ranker = AutoModelForRanking.from_pretrained(self.model_name_or_path, **self.model_kwargs)
        return self

    @property
    def reranker(self) -> BaseRanker:
        """The reranker in use (loaded at construction, or the one passed as ``ranker``)."""
        return self._ranker

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Return copies of the ``top_n`` best documents, best first, with ``metadata["relevance_score"]``.

        Ties keep the input order. The input documents and their metadata dictionaries are not modified;
        an existing ``relevance_score`` in a copy's metadata is replaced by the new score.
        """
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}.")
        documents = list(documents)
        for i, document in enumerate(documents):
            if not isinstance(document, Document):
                raise TypeError(f"documents[{i}] must be a langchain Document, got {type(document).__name__}.")
        if not documents:
            return []
        result = self._ranker.rerank(
            query, [d.page_content for d in documents], top_n=self.top_n, batch_size=self.batch_size
        )
        return [
            documents[index].model_copy(
                update={"metadata": {**documents[index].metadata, RELEVANCE_SCORE_KEY: float(score)}}
            )
            for index, score in zip(result.indices, result.scores, strict=True)
        ]

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """:meth:`compress_documents` in a worker thread, so the event loop is not blocked while the model runs."""
        return await run_in_executor(None, self.compress_documents, documents, query, callbacks)

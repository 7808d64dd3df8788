"""What the server's routes call: the index, the ingestor and the question-answering chain, built once.

:class:`RagService` takes ready parts (dependency injection): tests pass a fake chat model and a tiny embedder,
:meth:`RagService.from_settings` loads the configured models. Its methods are blocking (model work): the server
calls them on its :class:`~rag_app.server.worker.ModelWorker` thread, never on the event loop.

Hybrid retrieval indexes the collection's chunks for BM25 when the retriever is built, so the retriever is
rebuilt (:meth:`RagService.refresh`) after every ingest or removal made through the service: an answer never
misses a document that was just uploaded. An empty collection has no retriever; questions then get
:data:`~rag_app.chain.NO_ANSWER` without a model call, as when nothing relevant is found.

Not handled here: HTTP, queuing, conversation history (the routes keep it and pass ``chat_history``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.retrievers import BaseRetriever

from ingest.indexing import IndexStore
from ingest.pipeline import Ingestor, IngestReport
from rag_app.chain import NO_ANSWER, build_chain, estimate_tokens
from rag_app.config import Settings

__all__ = ["SOURCE_FIELDS", "RagService", "public_sources"]

SOURCE_FIELDS = ("id", "source", "page", "score", "text")
"""The keys of each source in every response: those of ``rag-app ask --json``."""

ProgressCallback = Callable[[str, str], None]


def public_sources(sources: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chain's sources as ``rag-app ask --json`` prints them."""
    return [{key: source.get(key) for key in SOURCE_FIELDS} for source in sources]


class RagService:
    """The index, the ingestor and the chain, with the retriever kept in step with the index.

    Args:
        store: the open collection (:func:`ingest.indexing.open_store` or :func:`rag_app.indexes.open_index`).
        ingestor: writes uploaded files into ``store`` (same embedder as the retriever's vector store).
        llm: the chat model that answers.
        reranker: reorders retrieved candidates; give it without its own cut-off (``top_n=None``) so that a
            request may ask for more passages than the default.
        k: candidates retrieved before reranking.
        top_n: passages given to the model when a request does not say.
        hybrid: BM25 + dense (``True``) or dense only.
        context_tokens, count_tokens: the passage budget of :func:`rag_app.chain.build_chain`.
        min_score: passages scoring below it are dropped (on the reranker's scale); ``None``: no threshold.
        max_question_tokens: longer questions are refused (:meth:`check_question`) rather than overflowing
            the model's window; ``None``: no limit.
    """

    def __init__(
        self,
        store: IndexStore,
        ingestor: Ingestor,
        llm: BaseChatModel,
        *,
        reranker: BaseDocumentCompressor | None = None,
        k: int = 20,
        top_n: int = 4,
        hybrid: bool = True,
        context_tokens: int = 1536,
        count_tokens: Callable[[str], int] | None = None,
        min_score: float | None = None,
        max_question_tokens: int | None = None,
    ) -> None:
        if top_n < 1 or k < 1:
            raise ValueError(f"k and top_n must be positive integers, got k={k}, top_n={top_n}.")
        self.store = store
        self.ingestor = ingestor
        self.llm = llm
        self.reranker = reranker
        self.k = k
        self.top_n = top_n
        self.hybrid = hybrid
        self.context_tokens = context_tokens
        self.count_tokens = count_tokens
        self.min_score = min_score
        self.max_question_tokens = max_question_tokens
        self._chunk_count = 0
        self._retriever: BaseRetriever | None = None
        self.refresh()

    # ---- building -----------------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, *, llm: BaseChatModel | None = None) -> RagService:
        """Load the embedder, reranker and generator ``settings`` name (once), over the configured collection.

        The same wiring as :func:`rag_app.assembly.build_app` (its :func:`~rag_app.assembly.plan_budget` shares
        the generator's window), except that an empty collection is fine: the server starts before the first
        upload.
        """
        from rag_app import generators
        from rag_app.assembly import plan_budget
        from rag_app.indexes import open_index
        from rag_app.retrieval import min_score_for, reranker_from_settings

        index, options = settings.index, settings.ingest
        handle = open_index(index.db, index.collection, settings.retrieval.embedder, host=index.chroma_host,
                            port=index.chroma_port if index.chroma_host else None, contextual=options.contextual)
        try:
            password = options.pdf_password.get_secret_value() if options.pdf_password else None
            ingestor = handle.ingestor(chunk_size=options.chunk_size, chunk_overlap=options.chunk_overlap,
                                       pdf_password=password)
            reranker = reranker_from_settings(settings)
            if reranker is not None and hasattr(reranker, "top_n"):
                reranker = reranker.model_copy(update={"top_n": None})  # the chain cuts at top_n, per request
            model = llm if llm is not None else generators.build_generator(settings.generator)
            count = generators.token_counter(model) or estimate_tokens
            budget = plan_budget(generators.context_window(model), settings.generator.max_new_tokens, count)
        except BaseException:
            handle.store.close()
            raise
        return cls(handle.store, ingestor, model, reranker=reranker, k=settings.retrieval.k,
                   top_n=settings.retrieval.top_n, hybrid=settings.retrieval.mode == "hybrid",
                   min_score=min_score_for(settings),
                   context_tokens=budget.passage_tokens, count_tokens=count,
                   max_question_tokens=budget.question_tokens)

    def refresh(self) -> None:
        """Rebuild the retriever over the collection as it is now (``None`` when it is empty): hybrid re-reads
        every chunk for BM25, dense only asks the vector store (as :func:`rag_app.retrieval.build_retrieval`)."""
        count = self.store.count()
        if count == 0:
            self._retriever, self._chunk_count = None, 0
            return
        if self.hybrid:
            from retrievers.langchain import HybridRetriever

            stored = self.store.vector_store.get(include=["documents", "metadatas"])
            chunks = [Document(page_content=text, metadata=meta or {}, id=id_)
                      for id_, text, meta in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True)]
            retriever: BaseRetriever = HybridRetriever(vectorstore=self.store.vector_store, documents=chunks, k=self.k)
            count = len(chunks)
        else:
            from rag_app.retrieval import DenseRetriever

            retriever = DenseRetriever(vectorstore=self.store.vector_store, k=self.k)
        self._retriever, self._chunk_count = retriever, count

    @property
    def chunk_count(self) -> int:
        """Chunks the retriever searches."""
        return self._chunk_count

    def chain(self, top_n: int | None = None) -> Any:
        """The chain over the current retriever, giving ``top_n`` passages (default: the service's) to the model;
        ``None`` when the collection is empty."""
        if self._retriever is None:
            return None
        top_n = top_n or self.top_n
        retriever = self._retriever
        if top_n > self.k and hasattr(retriever, "k"):
            retriever = retriever.model_copy(update={"k": top_n})
        return build_chain(retriever, self.llm, reranker=self.reranker, top_n=top_n, min_score=self.min_score,
                           context_tokens=self.context_tokens, count_tokens=self.count_tokens)

    def check_question(self, question: str) -> None:
        """Raise ``ValueError`` for a question longer than the room the prompt keeps for it."""
        if self.max_question_tokens is None:
            return
        tokens = (self.count_tokens or estimate_tokens)(question)
        if tokens > self.max_question_tokens:
            raise ValueError(
                f"The question is {tokens} tokens long; at most {self.max_question_tokens} fit beside the passages. "
                "Ask a shorter question."
            )

    # ---- answering ----------------------------------------------------------------------------------

    def stream(self, question: str, history: Sequence[BaseMessage] = (), *, top_n: int | None = None) -> Iterator[dict]:
        """The chain's stream: first ``{"question", "standalone_question", "sources"}``, then ``{"answer": piece}``."""
        chain = self.chain(top_n)
        if chain is None:
            yield {"question": question, "standalone_question": question, "sources": []}
            yield {"answer": NO_ANSWER}
            return
        yield from chain.stream({"question": question, "chat_history": list(history)})

    def ask(self, question: str, history: Sequence[BaseMessage] = (), *, top_n: int | None = None) -> dict[str, Any]:
        """``{"answer", "sources", "citations", "unknown_citations"}``: the JSON of ``rag-app ask --json``."""
        chain = self.chain(top_n)
        if chain is None:
            return {"answer": NO_ANSWER, "sources": [], "citations": [], "unknown_citations": []}
        result = chain.invoke({"question": question, "chat_history": list(history)})
        return {"answer": result["answer"], "sources": public_sources(result["sources"]),
                "citations": result["citations"], "unknown_citations": result["unknown_citations"]}

    # ---- the index ----------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[Path], *, on_file: ProgressCallback | None = None) -> IngestReport:
        """Ingest files (the same pipeline as ``rag-app ingest``), then rebuild the retriever if chunks changed."""
        try:
            report = self.ingestor.ingest(list(paths), on_file=on_file)
        except BaseException:
            self.refresh()  # files done before the error are in the index
            raise
        if report.chunks_added or report.chunks_deleted:
            self.refresh()
        return report

    def sources(self) -> list[tuple[str, int]]:
        """Every indexed source with its chunk count, sorted by source."""
        return self.store.sources()

    def remove(self, source: str) -> int:
        """Remove one source's chunks (0 when it is not indexed), then rebuild the retriever."""
        removed = self.store.remove_source(source)
        if removed:
            self.refresh()
        return removed

    def close(self) -> None:
        """Release the generator (llama.cpp frees it noisily at interpreter exit otherwise) and the collection."""
        client = getattr(self.llm, "client", None)
        if callable(getattr(client, "close", None)):
            client.close()
        self.store.close()

"""The application, built from :class:`~rag_app.config.Settings` in one place: :func:`build_pipeline`.

Every front end (``rag-app ingest``, ``retrieve``, ``ask``, ``chat``, ``demo`` and the server) gets its
:class:`Pipeline` here, so they cannot drift apart. A pipeline owns:

- the **index reader** (:func:`ingest.reader.open_reader`: no writer lock, no recovery, the last committed
  state), and a **writer** opened only when something is ingested or removed;
- the **embedder** (loaded once, shared by the reader's queries and the writer's chunks), the **reranker**;
- the **passage retriever** (:class:`rag_app.retrieval.PassageRetriever`: retrieve → rerank → keep ``top_n`` →
  ``min_score``), the one step both ``rag-app retrieve`` and the chain run;
- the **generator**, the **token budget** (:mod:`rag_app.budget`) and the **chain** (:mod:`rag_app.chain`).

An index that does not exist yet, or an empty collection, is a state (:attr:`Pipeline.state`), not a crash:
questions then get :data:`~rag_app.chain.NO_ANSWER` without a model call. :meth:`Pipeline.refresh` rebuilds
the retriever over the index as it is now (hybrid re-reads the chunks for BM25) without reloading any model;
:meth:`Pipeline.ingest` and :meth:`Pipeline.remove` call it. Commands that need documents ask
``build_pipeline(..., require_documents=True)``, which checks the index before loading a model and says
"no index at PATH: run `rag-app ingest`" at once.

Not here: the chain's steps (:mod:`rag_app.chain`), HTTP (:mod:`rag_app.server`), choosing settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from ingest.chroma_store import IndexNotFoundError
from ingest.reader import IndexReader, open_reader
from rag_app.budget import Budget, plan_budget
from rag_app.chain import NO_ANSWER, build_chain, estimate_tokens
from rag_app.config import GeneratorSettings, Settings
from rag_app.retrieval import PassageRetriever, build_candidates, build_reranker, min_score_for

if TYPE_CHECKING:
    from ingest.indexing import IndexStore
    from ingest.pipeline import Ingestor, IngestReport, ProgressCallback
    from retrievers import AutoModelForEmbedding

__all__ = ["IndexState", "Pipeline", "build_pipeline", "embedding_tag", "open_reader_for", "open_writer_for"]

IndexState = Literal["missing", "empty", "ready"]
"""``missing``: nothing ingested into this collection yet; ``empty``: it exists without chunks; ``ready``."""


def _server(settings: Settings) -> dict[str, Any]:
    index = settings.index
    return {"host": index.chroma_host, "port": index.chroma_port if index.chroma_host else None}


def open_reader_for(settings: Settings) -> IndexReader:
    """The configured collection, for reading (no model loaded: searches need :meth:`IndexReader.use_embedding`).

    Raises :class:`~ingest.chroma_store.IndexNotFoundError` (a ``LookupError``) when there is no index yet.
    """
    return open_reader(settings.index.db, settings.index.collection, **_server(settings))


def open_writer_for(settings: Settings, embedder: AutoModelForEmbedding | None = None) -> IndexStore:
    """The configured collection, for writing (creating it if needed; takes the writer lock to recover).

    With ``embedder``, chunks are embedded by it (with the title and heading path in front when
    ``ingest.contextual``); without, the store can list and remove only.
    """
    from ingest.contextual import contextual_text
    from ingest.indexing import open_store
    from retrievers.langchain import LangchainEmbedding

    embedding = LangchainEmbedding(model=embedder) if embedder is not None else None
    embed_text = None
    if embedder is not None and settings.ingest.contextual:
        def embed_text(text: str, metadata: dict) -> str:
            return contextual_text(Document(page_content=text, metadata=metadata), embedder.tokenizer,
                                   embedder.max_length)

    return open_store(settings.index.db, settings.index.collection, embedding, embed_text=embed_text,
                      **_server(settings))


def embedding_tag(embedder: AutoModelForEmbedding, contextual: bool) -> str:
    """Names what made a chunk's vector; stored on every chunk so that a change re-embeds it.

    ``contextual`` embeds each chunk with its document title and heading path in front (the stored text
    stays the chunk): on the python-faq test questions it lifts MRR@10 from 0.872 to 0.970
    (``benchmarks/contextual_chunks.py``).
    """
    return f"{embedder.base_model}{'+context' if contextual else ''}"


@dataclass
class Pipeline:
    """Everything a front end needs; see the module docstring. Build it with :func:`build_pipeline`; use it
    as a context manager (or call :meth:`close`) so the models and the database are released."""

    settings: Settings
    embedder: AutoModelForEmbedding
    reranker: BaseDocumentCompressor | None
    llm: BaseChatModel | None
    """The generator; ``None`` for a pipeline built without one (``rag-app ingest``, ``retrieve``)."""
    budget: Budget | None
    count_tokens: Callable[[str], int] = estimate_tokens
    """Counts tokens as the generator does (or the chain's estimate when its tokenizer is not local)."""
    reader: IndexReader | None = None
    owns_llm: bool = True
    """Whether :meth:`close` frees the generator (not when the caller passed its own)."""
    passages: PassageRetriever | None = field(default=None, init=False)
    """The retrieval runnable over the index as of the last :meth:`refresh`; ``None`` while it has no chunks."""
    _chunk_count: int = field(default=0, init=False)
    _writer: IndexStore | None = field(default=None, init=False, repr=False)
    _ingestor: Ingestor | None = field(default=None, init=False, repr=False)

    # ---- state --------------------------------------------------------------------------------------

    @property
    def min_score(self) -> float | None:
        """The score threshold in use: ``retrieval.min_score``, or the value calibrated for the scorer."""
        return min_score_for(self.settings)

    @property
    def chunk_count(self) -> int:
        """Chunks the retriever searches (as of the last :meth:`refresh`)."""
        return self._chunk_count

    @property
    def state(self) -> IndexState:
        if self.reader is None:
            return "missing"
        return "ready" if self._chunk_count else "empty"

    @property
    def location(self) -> str:
        """Where the chunks live, for messages."""
        if self.reader is not None:
            return self.reader.location
        index = self.settings.index
        where = f"Chroma server {index.chroma_host}:{index.chroma_port}" if index.chroma_host else f"Chroma db {index.db}"
        return f"collection {index.collection!r} in {where}"

    def refresh(self) -> None:
        """Rebuild the retriever over the index as it is now; opens the reader once the index exists."""
        if self.reader is None:
            try:
                self.reader = open_reader_for(self.settings)
            except IndexNotFoundError:
                self.passages, self._chunk_count = None, 0
                return
            self.reader.use_embedding(_langchain_embedding(self.embedder))
        count = self.reader.count()
        if count == 0:
            self.passages, self._chunk_count = None, 0
            return
        self.passages = PassageRetriever(
            candidates=build_candidates(self.settings, self.reader), reranker=self.reranker,
            top_n=self.settings.retrieval.top_n, min_score=self.min_score,
            fusion_weight=self.settings.retrieval.fusion_weight, max_per_section=self.settings.retrieval.max_per_section,
        )
        self._chunk_count = count

    # ---- reading ------------------------------------------------------------------------------------

    def retrieve(self, question: str, *, top_n: int | None = None) -> list[Document]:
        """The passages the model would be given for ``question``, best first, each with its score."""
        if self.passages is None:
            return []
        return self.passages.with_top_n(top_n).invoke(question)

    def chain(self, top_n: int | None = None) -> Runnable[dict[str, Any], dict[str, Any]] | None:
        """The question-answering chain giving ``top_n`` passages (default ``retrieval.top_n``) to the model;
        ``None`` while the index has no chunks."""
        if self.passages is None:
            return None
        if self.llm is None or self.budget is None:
            raise RuntimeError("This pipeline was built without a generator (build_pipeline(generator=False)).")
        return build_chain(self.passages.with_top_n(top_n), self.llm, context_tokens=self.budget.passage_tokens,
                           count_tokens=self.count_tokens, answer_mode=self.answer_mode,
                           embeddings=_langchain_embedding(self.embedder))

    @property
    def answer_mode(self) -> str:
        """``generator.answer_mode``, with ``auto`` resolved (:func:`resolve_answer_mode`)."""
        return resolve_answer_mode(self.settings.generator)

    def check_question(self, question: str) -> None:
        """Raise ``ValueError`` for a question longer than the room the prompt keeps for it."""
        if self.budget is not None:
            self.budget.check_question(question, self.count_tokens)

    def stream(self, question: str, history: Sequence[BaseMessage] = (), *, top_n: int | None = None) -> Iterator[dict]:
        """The chain's stream (see :mod:`rag_app.chain`); over an index without chunks: no sources, then
        :data:`~rag_app.chain.NO_ANSWER`, without a model call."""
        chain = self.chain(top_n)
        if chain is None:
            yield {"question": question, "standalone_question": question, "sources": [],
                   "answer_mode": self.answer_mode}
            yield {"answer": NO_ANSWER}
            yield {"citations": [], "unknown_citations": [], "fallback": None}
            return
        yield from chain.stream({"question": question, "chat_history": list(history)})

    def ask(self, question: str, history: Sequence[BaseMessage] = (), *, top_n: int | None = None) -> dict[str, Any]:
        """The chain's whole output: ``question``, ``standalone_question``, ``sources``, ``answer_mode``,
        ``answer``, ``citations``, ``unknown_citations``, ``fallback`` (and ``draft`` in ``verified`` mode)."""
        chain = self.chain(top_n)
        if chain is None:
            return {"question": question, "standalone_question": question, "sources": [],
                    "answer_mode": self.answer_mode, "answer": NO_ANSWER, "citations": [], "unknown_citations": [],
                    "fallback": None}
        return chain.invoke({"question": question, "chat_history": list(history)})

    def sources(self) -> list[tuple[str, int]]:
        """Every committed source with its chunk count, sorted by source."""
        return self.reader.sources() if self.reader is not None else []

    # ---- writing ------------------------------------------------------------------------------------

    def ingestor(self) -> Ingestor:
        """The ingest pipeline into this collection (the writer is opened, and recovers, on first use)."""
        if self._ingestor is None:
            from ingest.pipeline import Ingestor

            options = self.settings.ingest
            self._writer = open_writer_for(self.settings, self.embedder)
            password = options.pdf_password.get_secret_value() if options.pdf_password else None
            self._ingestor = Ingestor(
                self._writer, self.embedder.tokenizer, chunk_size=options.chunk_size,
                chunk_overlap=options.chunk_overlap, max_tokens=self.embedder.max_length, pdf_password=password,
                chunk_metadata={"embedding": embedding_tag(self.embedder, options.contextual)},
            )
        return self._ingestor

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        glob: str | tuple[str, ...] = "*",
        prune: bool = False,
        on_file: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest files and folders (the db folder itself is never walked), then :meth:`refresh`."""
        try:
            return self.ingestor().ingest(list(paths), glob=glob, prune=prune, exclude=(Path(self.settings.index.db),),
                                          on_file=on_file)
        finally:
            self.refresh()  # files done before an error are in the index too

    def remove(self, source: str) -> int:
        """Remove one source's chunks (0 when it is not indexed), then :meth:`refresh`."""
        removed = self.ingestor().store.remove_source(source)
        if removed:
            self.refresh()
        return removed

    def close(self) -> None:
        """Free the generator (llama.cpp otherwise frees it noisily at interpreter exit) and the index."""
        client = getattr(self.llm, "client", None)
        if self.owns_llm and callable(getattr(client, "close", None)):
            client.close()
        if self._writer is not None:
            self._writer.close()
        if self.reader is not None:
            self.reader.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


BUNDLED_GENERATOR_MODE = "verified"
"""``answer_mode = "auto"`` for the bundled SmolLM2-135M (README, "Answers": measured by
``benchmarks/answer_quality.py``)."""


def resolve_answer_mode(generator: GeneratorSettings) -> str:
    """The answer mode ``generator`` settings ask for; ``auto`` is :data:`BUNDLED_GENERATOR_MODE` for the
    bundled generator and ``generate`` (every sentence checked and marked) for any other model, which we could
    not measure here."""
    if generator.answer_mode != "auto":
        return generator.answer_mode
    if generator.backend == "llama-cpp" and generator.model == "smollm2":
        return BUNDLED_GENERATOR_MODE
    return "generate"


def _langchain_embedding(embedder: AutoModelForEmbedding) -> Any:
    from retrievers.langchain import LangchainEmbedding

    return LangchainEmbedding(model=embedder)


def build_pipeline(
    settings: Settings,
    *,
    llm: BaseChatModel | None = None,
    generator: bool = True,
    require_documents: bool = False,
) -> Pipeline:
    """Open the index and load the models of ``settings``; see the module docstring.

    Args:
        settings: the loaded settings (:func:`rag_app.config.load_settings`).
        llm: a ready chat model to use instead of building ``settings.generator`` (tests, or a model the
            caller already holds).
        generator: load the generator and plan the token budget (``False`` for ingesting or retrieving only).
        require_documents: fail, before any model loads, when the collection does not exist or has no chunks.

    Raises:
        IndexNotFoundError: ``require_documents`` and nothing was ingested into the collection yet.
        LookupError: ``require_documents`` and the collection is empty.
        ValueError: the generator's window is too small for the settings (see :func:`rag_app.budget.plan_budget`).
    """
    from rag_app import generators  # looked up at call time, so a test can replace build_generator
    from retrievers import AutoModelForEmbedding

    reader: IndexReader | None = None
    try:
        reader = open_reader_for(settings)
    except IndexNotFoundError:
        if require_documents:
            raise
    built = None
    try:
        if require_documents and reader is not None and reader.count() == 0:
            raise LookupError(f"The {reader.location} is empty: run `rag-app ingest PATH` first.")
        embedder = AutoModelForEmbedding.from_pretrained(settings.retrieval.embedder)
        if reader is not None:
            reader.use_embedding(_langchain_embedding(embedder))
        reranker = build_reranker(settings)
        budget, count = None, estimate_tokens
        owns_llm = llm is None
        if generator:
            if llm is None:
                llm = built = generators.build_generator(settings.generator)
            count = generators.token_counter(llm) or estimate_tokens
            budget = plan_budget(generators.context_window(llm), settings.generator.max_new_tokens, count)
        pipeline = Pipeline(settings, embedder, reranker, llm, budget, count, reader, owns_llm)
        pipeline.refresh()
        return pipeline
    except BaseException:
        if reader is not None:
            reader.close()
        client = getattr(built, "client", None)
        if callable(getattr(client, "close", None)):
            client.close()
        raise

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
:meth:`Pipeline.ingest` and :meth:`Pipeline.remove` call it, and :meth:`Pipeline.refresh_if_changed` calls it
when another writer committed (the server polls it, so it follows an ingest run by another process into a
Chroma server). Dense searches always read the committed state as it is; what a refresh renews is BM25 and
the chunk count. A long-lived process may run the embedder of its ingests through :attr:`Pipeline.run_model`
(the server's model thread), in small batches, so its questions never queue behind a whole ingest. Commands
that need documents ask ``build_pipeline(..., require_documents=True)``, which checks the index before loading
a model and says "no index at PATH: run `rag-app ingest`" at once.

Not here: the chain's steps (:mod:`rag_app.chain`), HTTP (:mod:`rag_app.server`), choosing settings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from ingest.chroma_store import IndexNotFoundError
from ingest.reader import IndexReader, open_reader
from rag_app.budget import Budget, plan_budget
from rag_app.chain import MESSAGE_OVERHEAD, NO_ANSWER, build_chain, estimate_tokens, model_prompts
from rag_app.config import GeneratorSettings, Settings
from rag_app.context import chroma_chunks, with_neighbours
from rag_app.retrieval import PassageRetriever, build_candidates, build_reranker, min_score_for

if TYPE_CHECKING:
    from ingest.indexing import IndexStore
    from ingest.pipeline import Ingestor, IngestReport, ProgressCallback
    from retrievers import AutoModelForEmbedding

__all__ = ["IndexState", "Pipeline", "build_pipeline", "embedding_tag", "open_reader_for", "open_writer_for",
           "upload_folder"]

T = TypeVar("T")
ModelRunner = Callable[[Callable[[], T]], T]
"""Runs a piece of model work and returns its result (the server's: on its model thread)."""

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


def upload_folder(settings: Settings) -> Path:
    """Where the server keeps uploads: ``server.upload_dir``, else ``<index.db>/uploads``."""
    return Path(settings.server.upload_dir or Path(settings.index.db) / "uploads")


class EmbedOn(Embeddings):
    """``inner``'s embeddings computed through ``run`` (see :data:`ModelRunner`), documents ``batch`` at a
    time: on the server's model thread, a question asked during an ingest waits for one batch at most. With
    MiniLM on 2 busy CPU cores, 8 chunks of ~190 tokens took 1.7 s (218 ms each; 207 ms each in batches of 16)."""

    def __init__(self, inner: Embeddings, run: ModelRunner, batch: int = 8) -> None:
        self.inner, self.run, self.batch = inner, run, batch

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch):
            part = texts[start : start + self.batch]
            out += self.run(lambda part=part: self.inner.embed_documents(part))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.run(lambda: self.inner.embed_query(text))


def open_writer_for(
    settings: Settings, embedder: AutoModelForEmbedding | None = None, *, run_model: ModelRunner | None = None,
) -> IndexStore:
    """The configured collection, for writing (creating it if needed; takes the writer lock to recover).

    With ``embedder``, chunks are embedded by it (with the title and heading path in front when
    ``ingest.contextual``), through ``run_model`` when given (:class:`EmbedOn`); without, the store can list and
    remove only.

    Raises:
        StoreError: as :func:`ingest.indexing.open_store`; :class:`~ingest.claim.DbInUseError` when a server in
            another process serves this embedded db.
    """
    from ingest.contextual import contextual_text
    from ingest.indexing import open_store
    from retrievers.langchain import LangchainEmbedding

    embedding: Embeddings | None = LangchainEmbedding(model=embedder) if embedder is not None else None
    if embedding is not None and run_model is not None:
        embedding = EmbedOn(embedding, run_model)
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
    run_model: ModelRunner | None = field(default=None, init=False)
    """How ingests run the embedder (``None``: in the calling thread); set before the first ingest."""
    _chunk_count: int = field(default=0, init=False)
    _refresh_lock: Any = field(default_factory=threading.Lock, init=False, repr=False)
    _writer_lock: Any = field(default_factory=threading.Lock, init=False, repr=False)
    _seen_version: Any = field(default=None, init=False, repr=False)
    _next_check: float = field(default=0.0, init=False, repr=False)
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
        """Rebuild the retriever over the index as it is now; opens the reader once the index exists. One
        refresh runs at a time; questions keep the previous retriever until the new one is ready."""
        with self._refresh_lock:
            self._refresh()

    def refresh_if_changed(self, min_interval: float = 0.0) -> bool:
        """:meth:`refresh` if a writer (of this process or another sharing the ``--db`` folder) committed since
        the last one, or the index has appeared; returns whether it did. It does nothing while another refresh
        runs, nor sooner than ``min_interval`` seconds, or four times the last refresh's duration, after the
        last one ended (so rebuilding BM25 during a long ingest takes a bounded share of the CPU)."""
        if time.monotonic() < self._next_check or not self._refresh_lock.acquire(blocking=False):
            return False
        try:
            if self.reader is not None and self.reader.journal.data_version() == self._seen_version:
                return False
            started = time.monotonic()
            self._refresh()
            ended = time.monotonic()
            self._next_check = ended + max(min_interval, 4 * (ended - started))
            return True
        finally:
            self._refresh_lock.release()

    def _refresh(self) -> None:
        if self.reader is None:
            try:
                self.reader = open_reader_for(self.settings)
            except IndexNotFoundError:
                self.passages, self._chunk_count = None, 0
                return
            self.reader.use_embedding(_langchain_embedding(self.embedder))
        self._seen_version = self.reader.journal.data_version()  # before reading: a later commit is news
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
                           embeddings=_langchain_embedding(self.embedder), context=self._context())

    def _context(self) -> Callable[[list[Document]], list[Document]] | None:
        """``generator.context_chunks`` as the chain's ``context`` step (None when 0)."""
        n = self.settings.generator.context_chunks
        if n == 0 or self.reader is None:
            return None
        fetch = chroma_chunks(self.reader.vector_store)
        return lambda docs: with_neighbours(docs, fetch, n)

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

    def usage(self, result: dict[str, Any], history: Sequence[BaseMessage] = ()) -> dict[str, int]:
        """Token usage of one answer (OpenAI's ``usage``), counted with :attr:`count_tokens`.

        ``prompt_tokens``: every message the generator was sent for ``result`` (:func:`~rag_app.chain.model_prompts`:
        the condense prompt when there was ``history``, then the answer prompt with the passages), plus
        :data:`MESSAGE_OVERHEAD` per message for the chat template's role markers; 0 when no model was called
        (``extract`` mode, no passage). ``completion_tokens``: the answer returned (``result["answer"]``).
        """
        mode = result.get("answer_mode") or self.answer_mode
        prompts = model_prompts(result, history, answer_mode=mode)
        prompt = sum(self.count_tokens(str(m.content)) + MESSAGE_OVERHEAD for messages in prompts for m in messages)
        completion = self.count_tokens(result.get("answer") or "")
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def sources(self) -> list[tuple[str, int]]:
        """Every committed source with its chunk count, sorted by source."""
        return self.reader.sources() if self.reader is not None else []

    # ---- writing ------------------------------------------------------------------------------------

    def ingestor(self) -> Ingestor:
        """The ingest pipeline into this collection (the writer is opened, and recovers, on first use)."""
        with self._writer_lock:  # a server's upload and its watch may ask at once
            return self._open_ingestor()

    def _open_ingestor(self) -> Ingestor:
        if self._ingestor is None:
            from ingest.loaders import OcrOptions
            from ingest.pipeline import Ingestor

            options = self.settings.ingest
            self._writer = open_writer_for(self.settings, self.embedder, run_model=self._run_model)
            password = options.pdf_password.get_secret_value() if options.pdf_password else None
            self._ingestor = Ingestor(
                self._writer, self.embedder.tokenizer, chunk_size=options.chunk_size,
                chunk_overlap=options.chunk_overlap, max_tokens=self.embedder.max_length, pdf_password=password,
                chunk_metadata={"embedding": embedding_tag(self.embedder, options.contextual)},
                ocr=OcrOptions(options.ocr, options.ocr_language, options.tesseract_cmd),
            )
        return self._ingestor

    def _run_model(self, work: Callable[[], T]) -> T:
        return work() if self.run_model is None else self.run_model(work)

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

    def ingest_files(self, files: Sequence[tuple[Path, str]], *, on_file: ProgressCallback | None = None) -> IngestReport:
        """Ingest each ``(path, source)`` under the source given (server uploads, named by their file name:
        see :mod:`ingest.sources`), then :meth:`refresh`."""
        try:
            return self.ingestor().ingest_files(list(files), on_file=on_file)
        finally:
            self.refresh()

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

"""LangChain ``Embeddings`` backed by :class:`~retrievers.embedder.AutoModelForEmbedding`.

Why: vector stores (Chroma, the in-memory store), LangChain's indexing API and any LangChain chain take an
``Embeddings``; this class lets them use our embedders (bundled ``minilm``, a fine-tuned folder, a decoder LLM)
with the same pooling, instructions and normalisation the model was saved with.

What it does: loads the model once, when the object is built (or takes one already loaded, so an application
can share a model between its embedder and other users), embeds documents with the document instruction and
queries with the query instruction, returns plain Python floats, and runs the async variants in a worker
thread so the event loop keeps serving other requests.

What it does not do: download anything when ``HF_HUB_OFFLINE=1`` (the resolver decides), cache vectors, or
train. Settings are pydantic fields with ``extra="forbid"``: a misspelt argument fails at construction instead
of being ignored.
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from retrievers.embedder import AutoModelForEmbedding
from retrievers.validation import check_texts, with_positional

__all__ = ["LangchainEmbedding"]

DEFAULT_EMBEDDING_MODEL = "minilm"

# Settings that exist only when the model is loaded: with a ready model they would be silently ignored.
_LOAD_TIME_FIELDS = ("query_instruction", "document_instruction", "pooling_method", "device", "model_kwargs")
# Fields that must not be given a second time through model_kwargs.
_FIELDS_NOT_IN_MODEL_KWARGS = (
    "model_name_or_path", "query_instruction", "document_instruction", "pooling_method", "device",
    "max_length", "normalize_embeddings",
)


class LangchainEmbedding(BaseModel, Embeddings):
    """Embed documents and queries for LangChain with an :class:`AutoModelForEmbedding`.

    ``None`` for a model setting means "what the checkpoint was saved with, else the default for its kind",
    exactly as in :meth:`AutoModelForEmbedding.from_pretrained`; an empty string for an instruction means
    "no instruction".

    Example::

        embeddings = LangchainEmbedding("minilm")               # or model_name_or_path="minilm"
        vectors = embeddings.embed_documents(["Mean pooling averages token vectors."])
        query = embeddings.embed_query("what is mean pooling?")   # uses the query instruction

        shared = AutoModelForEmbedding.from_pretrained("minilm")
        embeddings = LangchainEmbedding(model=shared)           # no second copy of the weights
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model_name_or_path: str = DEFAULT_EMBEDDING_MODEL
    """A bundled alias (``minilm``), a local folder, a ``.gguf`` file or a hub id. Ignored when ``model`` is given
    (and then it must not be set)."""

    model: AutoModelForEmbedding | None = Field(default=None, repr=False)
    """An already loaded embedder to use instead of loading ``model_name_or_path``; lets several wrappers (or the
    wrapper and the application) share one copy of the weights. Its own instructions, pooling and device apply."""

    batch_size: int = Field(default=32, ge=1)
    """How many texts go through the model at once."""

    normalize_embeddings: bool | None = None
    """Scale every vector to unit length (cosine similarity becomes a dot product). ``None``: the model's setting."""

    query_instruction: str | None = None
    """Put in front of every query (or around it, with a ``{}`` placeholder). ``None``: the model's setting;
    ``""``: none."""

    document_instruction: str | None = None
    """Put in front of every document (or around it, with a ``{}`` placeholder). ``None``: the model's setting;
    ``""``: none."""

    max_length: int | None = Field(default=None, ge=2)
    """Longest input in tokens; longer texts are truncated. ``None``: the model's setting."""

    pooling_method: str | None = None
    """How token vectors become one vector: ``cls``, ``mean`` or ``last``. ``None``: the model's setting."""

    device: str | None = None
    """Where the model runs (``cpu``, ``cuda``, ``cuda:1``, ``mps``). ``None``: the best device available."""

    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Further keyword arguments for :meth:`AutoModelForEmbedding.from_pretrained`, e.g. ``use_fp16``,
    ``revision``, ``lora_path`` or ``dtype``."""

    show_progress_bar: bool = False
    """Show a progress bar while embedding."""

    _embedder: AutoModelForEmbedding = PrivateAttr()

    def __init__(self, model_name_or_path: str | None = None, /, **data: Any) -> None:
        super().__init__(**with_positional(model_name_or_path, data))

    @model_validator(mode="after")
    def _load(self) -> LangchainEmbedding:
        clashes = sorted(set(self.model_kwargs) & set(_FIELDS_NOT_IN_MODEL_KWARGS))
        if clashes:
            raise ValueError(
                f"model_kwargs must not hold {', '.join(clashes)}: "
                "give each as the LangchainEmbedding argument of the same name."
            )
        if self.model is not None:
            given = [name for name in ("model_name_or_path", *_LOAD_TIME_FIELDS) if name in self.model_fields_set]
            given = [name for name in given if name != "model_kwargs" or self.model_kwargs]
            if given:
                raise ValueError(
                    f"{', '.join(given)} only apply when LangchainEmbedding loads the model, but model= was given: "
                    "set them when loading the AutoModelForEmbedding you pass, or pass model_name_or_path "
                    "instead of model."
                )
            self._embedder = self.model
            return self
        self._embedder = AutoModelForEmbedding.from_pretrained(
            self.model_name_or_path,
            pooling_method=self.pooling_method,
            query_instruction=self.query_instruction,
            document_instruction=self.document_instruction,
            max_length=self.max_length,
            normalize_embeddings=self.normalize_embeddings,
            device=self.device,
            **self.model_kwargs,
        )
        return self

    @property
    def embedder(self) -> AutoModelForEmbedding:
        """The model in use (loaded at construction, or the one passed as ``model``)."""
        return self._embedder

    def _encode_options(self) -> dict[str, Any]:
        # max_length and normalisation are also encode-time options, so they apply to a shared model too.
        return {
            "batch_size": self.batch_size,
            "show_progress_bar": self.show_progress_bar,
            "normalize_embeddings": self.normalize_embeddings,
            "max_length": self.max_length,
            "convert_to_numpy": True,
        }

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (with the document instruction); one list of floats per text, in input order."""
        texts = check_texts(texts, "texts", one_string="refuse")
        if not texts:
            return []
        vectors = self._embedder.encode_documents(texts, **self._encode_options())  # (N, H)
        return vectors.tolist()  # float32 -> Python floats

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (with the query instruction)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}.")
        vector = self._embedder.encode_queries([text], **self._encode_options())[0]  # (H,)
        return vector.tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """:meth:`embed_documents` in a worker thread, so the event loop is not blocked while the model runs."""
        return await run_in_executor(None, self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """:meth:`embed_query` in a worker thread, so the event loop is not blocked while the model runs."""
        return await run_in_executor(None, self.embed_query, text)


"""Configuration: one ``rag-app.toml`` file plus ``RAG_APP_*`` environment variables, validated.

Precedence, highest first: values passed in code (command-line options), environment variables
(``RAG_APP_RETRIEVAL__K=8``: sections joined by a double underscore), the TOML file (``./rag-app.toml``, or
the path given with ``--config``), then the defaults. Every default runs offline on the bundled models.
Errors name the key (``retrieval.mode``), the value and what is allowed; unknown keys are errors, so a
misspelt setting never passes silently.

Example ``rag-app.toml``::

    [index]
    db = ".rag-app"
    collection = "documents"

    [retrieval]
    embedder = "minilm"            # bundled alias, local folder or hub id (e.g. "BAAI/bge-small-en-v1.5")
    mode = "hybrid"                # or "dense"
    k = 20

    [generator]
    backend = "llama-cpp"          # or "transformers", "openai"
    model = "smollm2"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from retrievers.names import RerankerKindName

__all__ = ["CONFIG_FILE", "ConfigError", "Settings", "load_settings"]

CONFIG_FILE = "rag-app.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IndexSettings(_Section):
    db: Path = Field(Path(".rag-app"), description="Folder of the embedded Chroma data and the ingest records.")
    collection: str = Field("documents", min_length=3, max_length=512, description="Chroma collection name.")
    chroma_host: str | None = Field(None, description="A Chroma server's host; unset: embedded Chroma under `db`.")
    chroma_port: int = Field(8000, ge=1, le=65535)


class IngestSettings(_Section):
    chunk_size: int = Field(200, ge=16, description="Chunk size in embedder tokens.")
    chunk_overlap: int = Field(40, ge=0, description="Tokens shared by consecutive chunks.")
    contextual: bool = Field(True, description="Embed the title and heading path in front of each chunk.")
    pdf_password: SecretStr | None = None
    ocr: Literal["auto", "on", "off"] = Field(
        "auto", description="PDF pages without a text layer (scans): auto, OCR them with Tesseract when it is "
        "installed, else a warning naming them; on, the same but a missing Tesseract fails the file; off, never.",
    )
    ocr_language: str = Field(
        "eng", pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$",
        description="Tesseract's language codes joined by '+' (e.g. 'deu+eng'); each needs its data installed "
        "(Debian: tesseract-ocr-deu).",
    )
    tesseract_cmd: str = Field("tesseract", min_length=1, description="The Tesseract program: a name on PATH or a path.")
    watch_debounce: float = Field(
        1.0, ge=0.0, le=3600.0, description="With --watch: seconds a changed file must keep its size and time "
        "before it is read, so a file being written is read once, complete.",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})")
        return self


class RetrievalSettings(_Section):
    embedder: str = Field("minilm", min_length=1, description="Embedding model: bundled alias, local folder or hub id.")
    # Defaults chosen on manuals (README "Retrieval on manuals" and "Answers"): dense candidates reranked by
    # ColBERT MaxSim over MiniLM's token vectors, z-fused with the dense score (weight 0.3), ranked best on the
    # manuals' train questions, and its score separates answerable from off-topic questions far better.
    mode: Literal["dense", "hybrid"] = Field("dense", description="dense (Chroma), or hybrid (BM25 + dense, RRF).")
    k: int = Field(20, ge=1, le=1000, description="Candidates retrieved before reranking.")
    reranker: str | None = Field("minilm", description="Reranker model (\"minilm\" with kind colbert: MaxSim over MiniLM's token vectors); empty: none.")
    reranker_kind: RerankerKindName = Field("colbert", description="How the reranker scores: cross-encoder, colbert or llm.")
    reranker_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="The reranker's weights and activations; auto: bfloat16 on a CPU that computes it natively "
        "(AVX512-BF16 or AMX: about 1.7x faster for ColBERT, scores within 0.003), else float32.",
    )
    top_n: int = Field(4, ge=1, le=100, description="Passages given to the generator after reranking.")
    fusion_weight: float = Field(
        0.3, ge=0.0, le=1.0,
        description="With a reranker: its share when its z-scored score is combined with the first stage's "
        "(dense or hybrid) over the candidates; 1: the reranker's order alone, 0: the first stage's.",
    )
    max_per_section: int | None = Field(
        None, ge=1, description="At most this many passages of one section (source and heading) before passages "
        "of other sections; the rest move down, none is dropped. Unset: no cap.",
    )
    min_score: float | None = Field(
        None,
        description="Passages scoring below it are dropped; none left: the answer is 'the documents do not say'. "
        "On the scorer's scale: the reranker's score, or without one the dense cosine similarity. Unset: the value "
        "calibrated for that scorer (rag_app.retrieval.CALIBRATED_MIN_SCORES), or no threshold when uncalibrated; "
        "-inf: no threshold.",
    )

    @field_validator("min_score")
    @classmethod
    def _min_score_is_a_number(cls, value: float | None) -> float | None:
        if value is not None and value != value:  # NaN compares unequal to itself
            raise ValueError("min_score must be a number, -inf (no threshold) or unset (the calibrated value)")
        return value

    @model_validator(mode="after")
    def _top_n_within_k(self) -> RetrievalSettings:
        if self.top_n > self.k:
            raise ValueError(f"top_n ({self.top_n}) cannot exceed k ({self.k})")
        return self


class GeneratorSettings(_Section):
    backend: Literal["llama-cpp", "transformers", "openai"] = "llama-cpp"
    model: str = Field("smollm2", min_length=1, description="GGUF alias/file, transformers model, or the endpoint's model name.")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the endpoint's API key.")
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    max_new_tokens: int = Field(384, ge=1, le=8192)
    context_chunks: int = Field(
        0, ge=0, le=8,
        description="Chunks before and after each passage, from its section, added to the text the model reads.",
    )
    answer_mode: Literal["auto", "generate", "extract", "verified"] = Field(
        "auto",
        description="generate: the model's answer, each sentence marked supported or not; extract: the passages' "
        "own sentences that answer, cited, no model call; verified: generate, and when a sentence is not supported "
        "show the extractive answer instead, labelled; auto: the mode measured best for the generator.",
    )

    @model_validator(mode="after")
    def _openai_needs_url(self) -> GeneratorSettings:
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend 'openai' needs base_url (e.g. http://127.0.0.1:8080/v1)")
        return self


UPLOAD_TYPES = [
    ".pdf", ".html", ".htm", ".md", ".markdown", ".txt", ".docx", ".pptx", ".xlsx", ".csv", ".epub", ".eml",
]


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_token: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=list)
    upload_dir: Path | None = Field(None, description="Where uploads are kept before ingest; unset: <index.db>/uploads.")
    max_upload_mb: float = Field(50.0, gt=0, le=10_000, description="Largest file accepted by POST /api/ingest, in MiB.")
    max_upload_files: int = Field(20, ge=1, le=1000, description="Most files in one upload request.")
    upload_types: list[str] = Field(default_factory=lambda: list(UPLOAD_TYPES), min_length=1,
                                    description="File name extensions accepted for upload.")
    max_queue: int = Field(64, ge=1, le=10_000, description="Model requests waiting at most; more get HTTP 503.")

    @field_validator("upload_types")
    @classmethod
    def _dotted_lowercase_types(cls, types: list[str]) -> list[str]:
        normalised = [t.strip().lower() if t.strip().startswith(".") else f".{t.strip().lower()}" for t in types]
        if any(len(t) < 2 for t in normalised):
            raise ValueError("must be file name extensions such as '.pdf'")
        return normalised


class Settings(BaseSettings):
    """All settings. Build with :func:`load_settings`, which turns validation errors into :class:`ConfigError`."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_APP_", env_nested_delimiter="__", extra="forbid", toml_file=None, validate_default=True,
    )

    index: IndexSettings = Field(default_factory=IndexSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Code, then the environment, then the TOML file named by the subclass :func:`load_settings` makes."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)

    _toml_file: ClassVar[Path | None] = None


class ConfigError(ValueError):
    """Invalid configuration; the message has one line per problem, naming the key and the source file."""


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown setting (check the spelling; the README lists every setting)"
    if error["type"] == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        return f"{key}: must be one of {allowed}; got {value!r}"
    message = error["msg"].removeprefix("Value error, ")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{key}: {message}{shown}"


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from ``config`` (default: ``./rag-app.toml`` when present), the environment and ``overrides``.

    ``overrides`` are sections as dicts, e.g. ``load_settings(retrieval={"k": 8})``; ``None`` values are
    dropped so unset command-line options do not mask the file.
    """
    path = Path(config) if config is not None else Path(CONFIG_FILE)
    if config is not None and not path.is_file():
        raise ConfigError(f"Config file {path} does not exist.")
    clean = {section: {k: v for k, v in values.items() if v is not None} for section, values in overrides.items()}
    toml_file = path if path.is_file() else None
    from_file = type("Settings", (Settings,), {"_toml_file": toml_file, "__module__": __name__})
    try:
        return from_file(**{k: v for k, v in clean.items() if v})
    except ValidationError as exc:
        where = f" in {path}" if toml_file else ""
        lines = "\n".join(f"  {_describe(e)}" for e in exc.errors())
        raise ConfigError(f"Invalid configuration{where} or RAG_APP_* environment:\n{lines}") from None
    except ValueError as exc:  # TOML syntax errors
        raise ConfigError(f"Cannot read {path}: {exc}") from None

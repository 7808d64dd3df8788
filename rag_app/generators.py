"""Generators: the chat models that write answers, built from ``[generator]`` settings.

Three backends, each a LangChain ``BaseChatModel`` that streams token by token:

* ``llama-cpp`` (the default): a GGUF file through llama-cpp-python, e.g. the bundled SmolLM2-135M-Instruct
  (alias ``smollm2``) or any ``.gguf`` path (:func:`llama_cpp_generator`).
* ``transformers``: a causal LM by alias, local folder or hub id, run in process with the tokenizer's chat
  template (:class:`TransformersChatModel`, :func:`transformers_generator`). GGUF files load too (dequantised).
* ``openai``: any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp's server) by ``base_url``
  (:func:`openai_generator`).

:func:`token_counter` and :func:`context_window` tell the chain how the chosen model counts tokens and how many
it can attend to, whatever the backend, so callers never reach into a backend's internals.

What this module does not do: tool calling or structured output for the local backends, and it never
downloads a model when ``HF_HUB_OFFLINE=1`` (the resolver's rule).
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ChatMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from rag_app.config import GeneratorSettings
from retrievers import resolve_model

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "LOOPBACK_API_KEY",
    "MAX_TRANSFORMERS_CONTEXT",
    "EndpointUnreachableError",
    "TransformersChatModel",
    "build_generator",
    "context_window",
    "llama_cpp_generator",
    "openai_generator",
    "token_counter",
    "transformers_generator",
]

DEFAULT_CONTEXT_WINDOW = 4096
"""The llama.cpp context size we load GGUF models with, and the window assumed for an endpoint."""

MAX_TRANSFORMERS_CONTEXT = 8192
"""Cap on a transformers model's advertised window: models claiming 128k positions would otherwise get prompts
far too long to run at a usable speed on a local CPU or small GPU."""

LOOPBACK_API_KEY = "not-needed"
"""The key sent to an endpoint on this machine when ``api_key_env`` is unset (local servers ignore it)."""


# --------------------------------------------------------------------------------------------------- llama.cpp


def llama_cpp_generator(
    model: str = "smollm2", *, temperature: float = 0.1, max_new_tokens: int = 384,
    context_window: int = DEFAULT_CONTEXT_WINDOW, seed: int = 0,
) -> BaseChatModel:
    """A llama.cpp chat model for a GGUF alias or file, using the model's own chat template."""
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ImportError("The llama-cpp backend needs llama-cpp-python: pip install llama-cpp-python") from exc
    resolved = resolve_model(model)
    if not resolved.is_gguf:
        raise ValueError(
            f"generator.model {model!r} is not a GGUF file; the llama-cpp backend runs .gguf models "
            "(e.g. 'smollm2' or a path to model.Q4_K_M.gguf)."
        )
    return ChatLlamaCpp(
        model_path=str(resolved.path / resolved.gguf_file), n_ctx=context_window, max_tokens=max_new_tokens,
        temperature=temperature, seed=seed, n_threads=os.cpu_count() or 1, n_batch=256, verbose=False,
        streaming=True,
    )


# ------------------------------------------------------------------------------------------------ transformers

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def _chat_turns(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as the ``[{"role", "content"}]`` list chat templates expect."""
    turns = []
    for message in messages:
        role = message.role if isinstance(message, ChatMessage) else _ROLES.get(message.type)
        if role is None:
            raise ValueError(
                f"The transformers backend takes system, human and AI messages; got a {message.type!r} message "
                "(tool calling is not supported by this backend)."
            )
        turns.append({"role": role, "content": message.text})
    return turns


class _StopText:
    """Cuts streamed text before the first stop string, holding back a tail that may start one, so no part of a
    stop string is ever emitted (the same text :meth:`TransformersChatModel._generate` returns)."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        self.pending += piece
        hits = [index for stop in self.stops if (index := self.pending.find(stop)) >= 0]
        if hits:
            self.stopped = True
            out, self.pending = self.pending[: min(hits)], ""
            return out
        hold = max((n for stop in self.stops for n in range(1, len(stop)) if self.pending.endswith(stop[:n])),
                   default=0)
        cut = len(self.pending) - hold
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def _cut_at_stop(text: str, stops: Sequence[str]) -> str:
    hits = [index for stop in stops if stop and (index := text.find(stop)) >= 0]
    return text[: min(hits)] if hits else text


class TransformersChatModel(BaseChatModel):
    """A chat model over an in-process transformers causal LM, streaming token by token.

    Why our own small class rather than langchain-huggingface's ``ChatHuggingFace`` + ``HuggingFacePipeline``:
    that package (1.2.x) pins ``huggingface-hub<2`` while this project runs transformers 5 on hub 2.x, so
    installing it would downgrade a dependency every other module shares. What we need is small and written
    here on public transformers APIs: the tokenizer's chat template, ``generate`` (greedy at temperature 0),
    ``TextIteratorStreamer`` in a thread for streaming, stop strings, and usage metadata.

    Build it with :func:`transformers_generator` (or ``build_generator`` with ``backend = "transformers"``).
    ``invoke`` and the concatenated ``stream`` give the same text at temperature 0. Generation stops at the
    model's end-of-sequence token(s), at ``max_new_tokens``, or before the first ``stop`` string.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model: Any = Field(description="The transformers causal LM (a ``PreTrainedModel``), already on its device.")
    tokenizer: Any = Field(description="Its tokenizer, with a chat template.")
    model_id: str = Field("", description="The name the model was loaded from, for tracing.")
    temperature: float = Field(0.1, ge=0.0, le=2.0, description="0: greedy decoding; above 0: sampling.")
    max_new_tokens: int = Field(384, ge=1, description="Most tokens generated per answer.")

    @property
    def _llm_type(self) -> str:
        return "transformers-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "temperature": self.temperature, "max_new_tokens": self.max_new_tokens}

    def _inputs(self, messages: Sequence[BaseMessage]) -> dict[str, Any]:
        """Token ids of the chat-formatted prompt, on the model's device."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(
                f"The tokenizer of {self.model_id or 'this model'} has no chat template; the transformers backend "
                "needs an instruct/chat model (or set tokenizer.chat_template)."
            )
        prompt = self.tokenizer.apply_chat_template(_chat_turns(messages), tokenize=False, add_generation_prompt=True)
        # The template writes the special tokens (BOS, role markers) itself: do not add them twice.
        encoded = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        return {name: tensor.to(self.model.device) for name, tensor in encoded.items()}

    def _eos_ids(self) -> list[int]:
        """The model's end-of-sequence ids plus the tokenizer's (chat models often end turns with their own)."""
        eos = self.model.generation_config.eos_token_id
        return sorted({*(eos if isinstance(eos, list) else [eos]), self.tokenizer.eos_token_id} - {None})

    def _generation_kwargs(self, stop: Sequence[str] | None) -> dict[str, Any]:
        from transformers import GenerationConfig

        sampling = {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
        config = GenerationConfig(
            max_new_tokens=self.max_new_tokens, eos_token_id=self._eos_ids(),
            pad_token_id=self.tokenizer.pad_token_id, stop_strings=list(stop) if stop else None, **sampling,
        )
        # The tokenizer lets generate() stop early on stop strings; the text is cut before them afterwards.
        return {"generation_config": config, "tokenizer": self.tokenizer}

    def _metadata(self, prompt_tokens: int, new_tokens: list[int], stopped: bool) -> dict[str, Any]:
        """Usage and finish reason: ``length`` when ``max_new_tokens`` ran out before EOS or a stop string."""
        cut_short = len(new_tokens) >= self.max_new_tokens and not stopped and new_tokens[-1] not in self._eos_ids()
        return {
            "usage_metadata": {"input_tokens": prompt_tokens, "output_tokens": len(new_tokens),
                               "total_tokens": prompt_tokens + len(new_tokens)},
            "response_metadata": {"model_name": self.model_id, "finish_reason": "length" if cut_short else "stop"},
        }

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        import torch

        inputs = self._inputs(messages)
        prompt_tokens = inputs["input_ids"].shape[1]
        with torch.inference_mode():
            output = self.model.generate(**inputs, **self._generation_kwargs(stop))  # (1, prompt + new)
        new_tokens = output[0, prompt_tokens:].tolist()
        eos = self._eos_ids()
        # The EOS id is dropped by id: not every model marks its end-of-turn token as special.
        shown = new_tokens[:-1] if new_tokens and new_tokens[-1] in eos else new_tokens
        generated = self.tokenizer.decode(shown, skip_special_tokens=True)
        text = _cut_at_stop(generated, stop or [])
        message = AIMessage(text, **self._metadata(prompt_tokens, new_tokens, stopped=text != generated))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self._inputs(messages)
        new_tokens: list[int] = []
        eos = self._eos_ids()

        class _Streamer(TextIteratorStreamer):  # records the generated ids (usage) and keeps EOS out of the text
            def put(self, value: torch.Tensor) -> None:
                if not (self.skip_prompt and self.next_tokens_are_prompt):
                    ids = value.reshape(-1).tolist()
                    new_tokens.extend(ids)
                    if ids and ids[-1] in eos:
                        return
                super().put(value)

        streamer = _Streamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancelled = threading.Event()  # set when the reader stops early, so the thread stops generating
        failure: list[BaseException] = []

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **_: Any) -> torch.Tensor:
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool, device=input_ids.device)

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, **self._generation_kwargs(stop), streamer=streamer,
                                        stopping_criteria=StoppingCriteriaList([_Cancel()]))
            except BaseException as exc:  # re-raised in the reader's thread below
                failure.append(exc)
                streamer.end()  # unblock the reader

        def emit(text: str, **metadata: Any) -> ChatGenerationChunk:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text, **metadata))
            if run_manager and text:
                run_manager.on_llm_new_token(text, chunk=chunk)
            return chunk

        thread = threading.Thread(target=run, name="transformers-generate", daemon=True)
        thread.start()
        cut = _StopText(stop or [])
        try:
            for piece in streamer:
                if text := cut.feed(piece):
                    yield emit(text)
                if cut.stopped:
                    break
            cancelled.set()
            thread.join()
            if failure:
                raise failure[0]
            yield emit(cut.flush(), **self._metadata(inputs["input_ids"].shape[1], new_tokens, stopped=cut.stopped))
        finally:
            cancelled.set()
            thread.join()


def transformers_generator(
    model: str = "smollm2", *, temperature: float = 0.1, max_new_tokens: int = 384,
    device: str | None = None, dtype: Any = None,
) -> TransformersChatModel:
    """A :class:`TransformersChatModel` for a bundled alias, local folder, GGUF file or hub id.

    ``device``: ``"cpu"``, ``"cuda"``, …; ``None`` picks CUDA when available. ``dtype``: a ``torch.dtype`` or
    ``"auto"`` (the checkpoint's); ``None`` gives float32 on CPU (half precision is slow there) and ``"auto"``
    elsewhere.
    """
    from transformers import AutoModelForCausalLM

    from retrievers.loading import is_decoder_config, load_config, load_tokenizer, pick_device

    resolved = resolve_model(model)
    config = load_config(resolved)
    if not is_decoder_config(config):
        raise ValueError(
            f"generator.model {model!r} is a {config.model_type!r} model, not a causal language model; the "
            "transformers backend needs a decoder LLM (e.g. 'smollm2' or an instruct model's folder)."
        )
    target = pick_device(device)
    gguf = {"gguf_file": resolved.gguf_file} if resolved.is_gguf else {}
    chosen = dtype if dtype is not None else ("auto" if target.type != "cpu" else None)
    loaded = AutoModelForCausalLM.from_pretrained(str(resolved.path), **gguf, **({"dtype": chosen} if chosen else {}))
    loaded.to(target).eval()
    return TransformersChatModel(
        model=loaded, tokenizer=load_tokenizer(resolved), model_id=resolved.name, temperature=temperature,
        max_new_tokens=max_new_tokens,
    )


# ------------------------------------------------------------------------------------- OpenAI-compatible servers


class EndpointUnreachableError(ConnectionError):
    """The OpenAI-compatible endpoint did not answer (not running, wrong ``base_url``, or timed out)."""


def _is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _endpoint_chat_class() -> type[BaseChatModel]:
    """``ChatOpenAI`` with two changes for self-hosted servers (built lazily: importing openai takes a while)."""
    import openai
    from langchain_openai import ChatOpenAI

    class EndpointChatOpenAI(ChatOpenAI):
        """``ChatOpenAI`` that names ``base_url`` when the endpoint cannot be reached, and sends the answer
        length as ``max_tokens`` to servers other than api.openai.com: ChatOpenAI renames it
        ``max_completion_tokens``, which llama-cpp-python's server and older vLLM/Ollama ignore, so answers
        would run on to the context limit."""

        @contextmanager
        def _naming_endpoint(self) -> Iterator[None]:
            try:
                yield
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                raise EndpointUnreachableError(
                    f"Cannot reach the OpenAI-compatible endpoint at {self.openai_api_base} (generator.base_url): "
                    f"{str(exc).rstrip('.')}. Is the server running, and is the URL right (it usually ends in /v1)?"
                ) from exc

        def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
            payload = super()._get_request_payload(input_, stop=stop, **kwargs)
            if "max_completion_tokens" in payload and urlsplit(self.openai_api_base or "").hostname != "api.openai.com":
                payload["max_tokens"] = payload.pop("max_completion_tokens")
            return payload

        def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
            with self._naming_endpoint():
                return super()._generate(*args, **kwargs)

        async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
            with self._naming_endpoint():
                return await super()._agenerate(*args, **kwargs)

        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            with self._naming_endpoint():
                yield from super()._stream(*args, **kwargs)

        async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
            with self._naming_endpoint():
                async for chunk in super()._astream(*args, **kwargs):
                    yield chunk

    return EndpointChatOpenAI


def openai_generator(
    model: str, *, base_url: str, api_key_env: str = "OPENAI_API_KEY", temperature: float = 0.1,
    max_new_tokens: int = 384, timeout: float = 120.0, max_retries: int = 2,
) -> BaseChatModel:
    """A ``ChatOpenAI`` for an OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp's server, …).

    The API key is read from the environment variable named ``api_key_env``. When it is unset, an endpoint on
    this machine (``localhost``, ``127.0.0.1``, ``::1``) gets :data:`LOOPBACK_API_KEY`, since local servers
    usually ignore keys; a remote one is an error, so a key is never silently missing. Nothing is contacted
    here: an unreachable endpoint raises :class:`EndpointUnreachableError` at the first call.
    """
    from pydantic import SecretStr

    key = os.environ.get(api_key_env)
    if not key:
        if not _is_loopback(base_url):
            raise ValueError(
                f"generator.api_key_env: the environment variable {api_key_env} is not set; export "
                f"{api_key_env}=<your key> for the endpoint at {base_url}, or set generator.api_key_env to the "
                "variable that holds it."
            )
        key = LOOPBACK_API_KEY
    return _endpoint_chat_class()(
        model=model, base_url=base_url, api_key=SecretStr(key), temperature=temperature,
        max_completion_tokens=max_new_tokens, timeout=timeout, max_retries=max_retries,
    )


# ---------------------------------------------------------------------------------------- settings and tokens


def build_generator(settings: GeneratorSettings) -> BaseChatModel:
    """The chat model ``settings`` describe."""
    if settings.backend == "llama-cpp":
        return llama_cpp_generator(settings.model, temperature=settings.temperature,
                                   max_new_tokens=settings.max_new_tokens)
    if settings.backend == "transformers":
        return transformers_generator(settings.model, temperature=settings.temperature,
                                      max_new_tokens=settings.max_new_tokens)
    if settings.backend == "openai":
        if not settings.base_url:  # the settings' validator already requires it; this guards hand-built ones
            raise ValueError("generator.base_url is required for backend 'openai' (e.g. http://127.0.0.1:8080/v1).")
        return openai_generator(settings.model, base_url=settings.base_url, api_key_env=settings.api_key_env,
                                temperature=settings.temperature, max_new_tokens=settings.max_new_tokens)
    raise ValueError(f"generator.backend {settings.backend!r} is unknown; use 'llama-cpp', 'transformers' or 'openai'.")


def token_counter(llm: BaseChatModel) -> Callable[[str], int] | None:
    """Counts tokens as ``llm`` does, for the chain's context budget; ``None`` when the model's tokenizer is
    not available locally (an endpoint), so the chain falls back to its estimate."""
    client = getattr(llm, "client", None)
    if client is not None and hasattr(client, "tokenize") and hasattr(client, "n_ctx"):  # llama_cpp.Llama
        return lambda text: len(client.tokenize(text.encode("utf-8"), add_bos=False))
    tokenizer = getattr(llm, "tokenizer", None)
    if tokenizer is not None and callable(getattr(tokenizer, "encode", None)):  # a transformers tokenizer
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    return None


def context_window(llm: BaseChatModel, default: int = DEFAULT_CONTEXT_WINDOW) -> int:
    """The number of tokens (prompt + answer) ``llm`` can attend to; ``default`` when it cannot be known
    (an OpenAI-compatible endpoint: pass the server's setting, e.g. vLLM's ``--max-model-len``)."""
    client = getattr(llm, "client", None)
    if client is not None and callable(getattr(client, "n_ctx", None)):  # llama_cpp.Llama
        return int(client.n_ctx())
    if isinstance(llm, TransformersChatModel):
        positions = getattr(llm.model.config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0:
            return min(positions, MAX_TRANSFORMERS_CONTEXT)
        return min(default, MAX_TRANSFORMERS_CONTEXT)
    return default

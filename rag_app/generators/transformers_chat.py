"""The ``transformers`` backend: a causal LM run in process, with the tokenizer's chat template.

* :class:`TransformersChatModel`: a LangChain ``BaseChatModel`` over a loaded model and tokenizer; greedy at
  temperature 0, streaming token by token from a generation thread, stopping at EOS, ``max_new_tokens`` or
  before the first stop string, with usage metadata.
* :func:`transformers_generator`: loads one by bundled alias, local folder, GGUF file (dequantised) or hub id.
* The helpers only this backend needs (llama.cpp and OpenAI-compatible servers apply chat templates and
  stop strings themselves): LangChain messages as chat-template turns, and cutting text before a stop
  string, whole or streamed, so no part of a stop string is ever emitted.

What this module does not do: tool calling or structured output (a tool message is an error), batching
several conversations into one ``generate`` call, or download a model when ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ChatMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from rag_app.stop_text import StopText, cut_at_stop
from retrievers import resolve_model

__all__ = ["MAX_TRANSFORMERS_CONTEXT", "TransformersChatModel", "transformers_generator"]

MAX_TRANSFORMERS_CONTEXT = 8192
"""Cap on a transformers model's advertised window: models claiming 128k positions would otherwise get prompts
far too long to run at a usable speed on a local CPU or small GPU."""

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
        text = cut_at_stop(generated, stop or [])
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
        cut = StopText(stop or [])
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

"""Generators: the chat models that write answers, built from ``[generator]`` settings.

``llama-cpp`` (the default) runs a GGUF file through llama-cpp-python: the bundled SmolLM2-135M-Instruct
(alias ``smollm2``) or any ``.gguf`` path. The other backends of the settings (``transformers``, ``openai``)
are not built here yet; any LangChain chat model can be passed to :func:`rag_app.chain.build_chain` directly.
"""

from __future__ import annotations

import os

from langchain_core.language_models import BaseChatModel

from rag_app.config import GeneratorSettings
from retrievers import resolve_model

__all__ = ["DEFAULT_CONTEXT_WINDOW", "build_generator", "llama_cpp_generator"]

DEFAULT_CONTEXT_WINDOW = 4096


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


def build_generator(settings: GeneratorSettings) -> BaseChatModel:
    """The chat model ``settings`` describe."""
    if settings.backend == "llama-cpp":
        return llama_cpp_generator(settings.model, temperature=settings.temperature,
                                   max_new_tokens=settings.max_new_tokens)
    raise ValueError(
        f"generator.backend {settings.backend!r} is not available yet in this version; use 'llama-cpp', or pass "
        "any LangChain chat model to rag_app.chain.build_chain."
    )

"""The ``llama-cpp`` backend (the default): a GGUF file through llama-cpp-python.

:func:`llama_cpp_generator` loads a bundled alias (``smollm2``, SmolLM2-135M-Instruct) or any ``.gguf`` path
into langchain-community's ``ChatLlamaCpp``, which streams token by token and formats prompts with the
model's own chat template. :data:`DEFAULT_CONTEXT_WINDOW` is the context size it loads models with.

What this module does not do: load anything but GGUF files (the ``transformers`` backend runs checkpoint
folders), tool calling or structured output, or download a model when ``HF_HUB_OFFLINE=1`` (the resolver's
rule). Token counting and the window the chain reads are in :mod:`rag_app.generators`.
"""

from __future__ import annotations

import os

from langchain_core.language_models import BaseChatModel

from retrievers import resolve_model

__all__ = ["DEFAULT_CONTEXT_WINDOW", "llama_cpp_generator"]

DEFAULT_CONTEXT_WINDOW = 4096
"""The llama.cpp context size we load GGUF models with, and the window assumed for an endpoint."""


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

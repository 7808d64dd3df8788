"""The ``openai`` backend: any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp's server, api.openai.com).

:func:`openai_generator` builds a langchain-openai ``ChatOpenAI`` for ``base_url`` with two changes for
self-hosted servers: an unreachable endpoint raises :class:`EndpointUnreachableError` naming the URL, and
the answer length goes out as ``max_tokens``, which those servers honour. The API key comes from an
environment variable; an endpoint on this machine may go without one (:data:`LOOPBACK_API_KEY`,
:func:`rag_app.net.url_is_loopback`).

What this module does not do: contact the endpoint before the first call, start or manage a server, or know
the server's context window or tokenizer (the chain then estimates tokens; see :mod:`rag_app.generators`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from rag_app.net import url_is_loopback

__all__ = ["LOOPBACK_API_KEY", "EndpointUnreachableError", "openai_generator"]

LOOPBACK_API_KEY = "not-needed"
"""The key sent to an endpoint on this machine when ``api_key_env`` is unset (local servers ignore it)."""


class EndpointUnreachableError(ConnectionError):
    """The OpenAI-compatible endpoint did not answer (not running, wrong ``base_url``, or timed out)."""


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
        if not url_is_loopback(base_url):
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

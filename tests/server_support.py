"""Helpers for the server tests: a scripted chat model, a pipeline over a tiny index, and an SSE parser.

:class:`ScriptedChat` answers with a fixed reply (and echoes the follow-up for the condense step), word by word
when streamed, and can be held at its first token by a gate (to test what the server does while a generation is
in progress), slowed down, or made to fail after its first token. It counts how many calls run at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from rag_app.chain import CONDENSE_PROMPT
from rag_app.config import load_settings
from rag_app.pipeline import Pipeline, build_pipeline

REPLY = "The outdoor sensor takes two AA lithium batteries [1]."

DOCUMENTS = {
    "sensor.md": "# Outdoor sensor\n\nThe outdoor sensor takes two AA lithium batteries. Replace the batteries every winter.\n",
    "kettle.txt": "The kettle boils water in three minutes.\n\nDescale the kettle every month with vinegar.\n",
}


class ScriptedChat(BaseChatModel):
    """A chat model with a fixed answer; see the module docstring."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reply: str = REPLY
    delay: float = 0.0
    gate: threading.Event | None = None
    fail_after_first_token: bool = False
    started: threading.Event = Field(default_factory=threading.Event)
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    active: int = 0
    max_active: int = 0
    lock: Any = Field(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted-test-chat"

    def _text(self, messages: list[BaseMessage]) -> str:
        if messages and messages[0].content == CONDENSE_PROMPT:
            return str(messages[-1].content)  # the condense step: the follow-up, unchanged
        return self.reply

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self.lock:
            self.calls.append(list(messages))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.started.set()
            if self.gate is not None and not self.gate.wait(timeout=60):
                raise TimeoutError("the test never opened the gate")
            for number, piece in enumerate(re.findall(r"\S+\s*", self._text(messages))):
                if number == 1 and self.fail_after_first_token:
                    raise RuntimeError("the model crashed")
                if self.delay:
                    time.sleep(self.delay)
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager is not None:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        finally:
            with self.lock:
                self.active -= 1

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        text = "".join(str(chunk.message.content) for chunk in self._stream(messages, stop, run_manager))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


def write_documents(folder: Path, documents: dict[str, str] = DOCUMENTS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in documents.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return paths


def make_pipeline(db: Path, encoder_dir: Path, llm: BaseChatModel | None = None, **retrieval: Any) -> Pipeline:
    """The pipeline ``rag-app serve`` builds, over a new collection in ``db`` (nothing ingested yet), with the
    tiny encoder as embedder and ``llm`` (default :class:`ScriptedChat`) as generator; ``retrieval`` settings
    on top of hybrid retrieval, k 4, top_n 2, no reranker."""
    settings = load_settings(
        index={"db": db, "collection": "docs"},
        ingest={"chunk_size": 48, "chunk_overlap": 4},
        retrieval={"embedder": str(encoder_dir), "mode": "hybrid", "k": 4, "top_n": 2, "reranker": "", **retrieval},
    )
    return build_pipeline(settings, llm=llm if llm is not None else ScriptedChat())


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """``(event, data)`` pairs of a server-sent event stream (``event`` is "message" when unnamed); ``data`` is
    parsed as JSON, except OpenAI's ``[DONE]``."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        payload = "\n".join(data)
        events.append((name, payload if payload == "[DONE]" else json.loads(payload)))
    return events

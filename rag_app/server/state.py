"""What every route shares: the pipeline, the model worker, the conversations and the upload policy."""

from __future__ import annotations

import json
import secrets
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, Field, model_validator

from rag_app.pipeline import Pipeline
from rag_app.server.uploads import UploadPolicy
from rag_app.server.worker import ModelWorker, QueueFull

__all__ = ["DEPRECATED_K", "Conversations", "PassagesField", "ServerState", "busy_error", "check_question", "get_state",
           "public_citations", "public_fallback", "sse"]

DEPRECATED_K = ("`k` is deprecated: it is the number of passages given to the model, now spelled `top_n`; in the "
                "next release `k` will mean the number of candidates retrieved, as retrieval.k does.")
DEPRECATION_HEADERS = {"Deprecation": "true", "Warning": f'299 rag-app "{DEPRECATED_K}"'}


class PassagesField(BaseModel):
    """``top_n`` in a request body (passages given to the model), and ``k``, its deprecated spelling."""

    top_n: int | None = Field(None, ge=1, le=100, description="Passages given to the model; default retrieval.top_n.")
    k: int | None = Field(None, ge=1, le=100, deprecated=DEPRECATED_K, description="Deprecated spelling of top_n.")

    @property
    def passages(self) -> int | None:
        """``top_n``, or the deprecated ``k``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return self.top_n if self.top_n is not None else self.k

    @property
    def deprecation_headers(self) -> dict[str, str]:
        """The headers that tell a client it used ``k``; none otherwise."""
        return DEPRECATION_HEADERS if "k" in self.model_fields_set else {}

    @model_validator(mode="after")
    def _not_both(self) -> PassagesField:
        if "k" in self.model_fields_set and self.top_n is not None:
            raise ValueError("give top_n only (k is its deprecated spelling)")
        return self


class Conversations:
    """Chat histories by conversation id, in memory: the last ``max_turns`` turns of the last
    ``max_conversations`` conversations (least recently used dropped first). Lost on restart, by design:
    the server keeps no transcript on disk."""

    def __init__(self, max_conversations: int = 1000, max_turns: int = 10) -> None:
        self.max_conversations = max_conversations
        self.max_turns = max_turns
        self._items: OrderedDict[str, list[BaseMessage]] = OrderedDict()

    def new(self) -> str:
        conversation_id = secrets.token_hex(12)
        self._items[conversation_id] = []
        self._trim()
        return conversation_id

    def __contains__(self, conversation_id: str) -> bool:
        return conversation_id in self._items

    def history(self, conversation_id: str) -> list[BaseMessage]:
        self._items.move_to_end(conversation_id)
        return list(self._items[conversation_id])

    def add_turn(self, conversation_id: str, question: str, answer: str) -> None:
        turns = self._items.setdefault(conversation_id, [])
        turns.extend([HumanMessage(question), AIMessage(answer)])
        del turns[: max(0, len(turns) - 2 * self.max_turns)]
        self._items.move_to_end(conversation_id)
        self._trim()

    def _trim(self) -> None:
        while len(self._items) > self.max_conversations:
            self._items.popitem(last=False)


@dataclass
class ServerState:
    pipeline: Pipeline
    worker: ModelWorker
    """Model work: answers, and the embedding batches of ingests."""
    uploads: UploadPolicy
    conversations: Conversations = field(default_factory=Conversations)
    ingester: ModelWorker | None = None
    """Writes to the index (ingests, removals), beside the model worker; ``None``: on the model worker."""

    @property
    def writer(self) -> ModelWorker:
        """The worker that writes to the index."""
        return self.ingester or self.worker


def get_state(request: Request) -> ServerState:
    """The app's :class:`ServerState` (a FastAPI dependency)."""
    return request.app.state.rag


def check_question(state: ServerState, question: str) -> None:
    """A 422 for a question too long for the model's window (checked before it is queued)."""
    try:
        state.pipeline.check_question(question)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def busy_error(exc: QueueFull) -> HTTPException:
    return HTTPException(status_code=503, detail=f"Server busy: {exc}", headers={"Retry-After": "5"})


def sse(event: str | None, data: Any) -> str:
    """One server-sent event; ``data`` as one line of JSON."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def public_citations(citations: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The chain's citations with ``supported``, ``cited`` and ``reason`` always present (citations made before
    the support check have none: a sentence with passages counts as supported)."""
    out = []
    for citation in citations or []:
        item = dict(citation)
        supported = item.get("supported")
        item["supported"] = bool(item.get("ids")) if supported is None else bool(supported)
        item.setdefault("cited", [])
        item.setdefault("reason", None)
        out.append(item)
    return out


def public_fallback(fallback: dict[str, Any] | None) -> dict[str, Any] | None:
    """The chain's ``fallback`` (why the generated answer was replaced) as every route returns it."""
    if not fallback:
        return None
    return {"reason": fallback.get("reason") or "a sentence is not supported by the passages",
            "generated": fallback.get("generated") or "", "unsupported": list(fallback.get("unsupported") or [])}

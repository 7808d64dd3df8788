"""``POST /v1/chat/completions``: OpenAI's chat API, answered from the documents.

Any OpenAI client (the ``openai`` SDK, LangChain's ``ChatOpenAI``, chat front-ends) can point its base URL at
``http://127.0.0.1:8000/v1``. The last message must be the user's question; earlier ``user`` and ``assistant``
messages are the chat history (condensed into a standalone question, as in ``/api/chat``). ``system`` and
``developer`` messages are ignored: the answer prompt is fixed, so a client cannot turn off the citation and
injection rules. The model name is echoed back, whatever it is. Unknown parameters (``temperature``, ``top_p``,
``max_tokens``...) are accepted and ignored: the server's generator settings apply.

The message content is always the final answer: in ``verified`` answer mode the model's draft is checked
against the passages first and never sent; when it was not supported, the content is the quoted sentences
(starting "Quoted from the documents:"), streamed or not.

Beyond OpenAI's fields: ``sources`` (the passages the answer cites, as in ``rag-app ask --json``),
``answer_mode`` (``generate``, ``extract`` or ``verified``) and ``fallback`` (``null``, or
``{"reason", "generated", "unsupported"}`` when the generated answer was replaced) on the completion, and on
the last chunk of a stream; an optional ``top_n`` in the request (``extra_body={"top_n": 6}``; ``k`` is its
deprecated spelling) sets how many passages the model sees.

``usage`` counts tokens with the generator's own tokenizer (:meth:`~rag_app.pipeline.Pipeline.usage`): the
prompts the model was really sent (the condense prompt when there is history, the answer prompt with the
passages) and the answer's tokens. A stream carries it, as OpenAI's does, when the request asks with
``stream_options: {"include_usage": true}``: one last chunk with empty ``choices`` and the ``usage``, before
``[DONE]``; every other chunk has ``usage: null``. Errors use OpenAI's shape, ``{"error": {"message", "type", ...}}``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.responses import StreamingResponse
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ConfigDict, Field

from rag_app.chain import public_sources
from rag_app.server.state import (
    PassagesField,
    ServerState,
    busy_error,
    check_question,
    get_state,
    public_fallback,
    sse,
)
from rag_app.server.worker import Emit, QueueFull

__all__ = ["MODEL_ID", "router"]

MODEL_ID = "rag-app"
router = APIRouter(tags=["openai"])
State = Annotated[ServerState, Depends(get_state)]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(PassagesField):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send many optional parameters; they are ignored

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = Field(
        None, description="include_usage: send a last chunk with the token usage (stream only).")
    n: int = Field(1, ge=1, le=1, description="Only one choice is produced.")


def _question_and_history(messages: list[ChatMessage]) -> tuple[str, list[BaseMessage]]:
    last = messages[-1]
    question = last.text().strip()
    if last.role != "user" or not question:
        raise HTTPException(400, "messages: the last message must be the user's question, with non-empty text content.")
    history: list[BaseMessage] = []
    for message in messages[:-1]:
        if message.role == "user":
            history.append(HumanMessage(message.text()))
        elif message.role == "assistant":
            history.append(AIMessage(message.text()))
    return question, history


def _completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


@router.get("/models", summary="The one model this server offers (OpenAI's list format)")
async def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag-app"}]}


@router.post("/chat/completions", summary="OpenAI-compatible chat completion, answered from the documents")
async def chat_completions(body: ChatCompletionRequest, state: State, response: Response) -> Any:
    question, history = _question_and_history(body.messages)
    check_question(state, question)
    pipeline, worker = state.pipeline, state.worker
    deprecated = body.deprecation_headers
    response.headers.update(deprecated)
    completion_id, created = _completion_id(), int(time.time())

    if not body.stream:
        try:
            result = await worker.run(lambda: pipeline.ask(question, history, top_n=body.passages))
        except QueueFull as exc:
            raise busy_error(exc) from None
        return {
            "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result["answer"]},
                         "finish_reason": "stop", "logprobs": None}],
            "sources": public_sources(result["sources"]),
            "answer_mode": result.get("answer_mode") or pipeline.answer_mode,
            "fallback": public_fallback(result.get("fallback")),
            "usage": pipeline.usage(result, history),
        }

    def job(emit: Emit) -> None:
        for chunk in pipeline.stream(question, history, top_n=body.passages):
            if not emit(chunk):
                return

    try:
        chunks = worker.stream(job)
    except QueueFull as exc:
        raise busy_error(exc) from None

    include_usage = body.stream_options is not None and body.stream_options.include_usage

    def frame(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        usage = {"usage": None} if include_usage else {}
        return sse(None, {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                          "model": body.model, "choices": choices, **usage, **extra})

    async def events() -> AsyncIterator[str]:
        yield frame({"role": "assistant", "content": ""})
        sources: list[dict[str, Any]] = []
        answer_mode, fallback = pipeline.answer_mode, None
        state: dict[str, Any] = {"answer": ""}  # what usage is counted from
        try:
            async for chunk in chunks:  # "draft" pieces (verified mode) are being checked: never sent
                if "sources" in chunk:
                    sources = public_sources(chunk["sources"])
                    state.update({k: chunk[k] for k in ("question", "standalone_question", "sources") if k in chunk})
                if chunk.get("answer_mode"):
                    answer_mode = chunk["answer_mode"]
                if chunk.get("fallback"):
                    fallback = public_fallback(chunk["fallback"])
                if chunk.get("answer"):
                    state["answer"] += chunk["answer"]
                    yield frame({"content": chunk["answer"]})
        except Exception as exc:
            yield sse(None, {"error": {"message": f"The answer failed: {type(exc).__name__}: {exc}",
                                       "type": "server_error", "param": None, "code": None}})
            return
        yield frame({}, "stop", sources=sources, answer_mode=answer_mode, fallback=fallback)
        if include_usage:
            yield frame(None, usage=pipeline.usage({**state, "answer_mode": answer_mode}, history))
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", **deprecated})

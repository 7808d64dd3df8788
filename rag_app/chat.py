"""The interactive session behind ``rag-app chat``, and how answers and sources are shown in a terminal.

:class:`ChatSession` reads a line, streams the chain's answer piece by piece, and keeps the conversation:
a follow-up ("and how long do they last?") reaches the chain with the history, which condenses it into a
standalone question before retrieval. Commands: ``/sources`` (the passages behind the last answer, exactly
as the model saw them), ``/reset`` (forget the conversation), ``/help``, ``/exit``; end of input (Ctrl-D)
and Ctrl-C quit cleanly too.

The session takes its input and output as callables (``read(prompt) -> line``, raising ``EOFError`` at the
end; ``write(text)``), so tests drive it without a terminal and the command line stays a thin wrapper.

What it does not do: build the chain (see :func:`rag_app.pipeline.build_pipeline`) or hold more history than the
condense prompt has room for: the oldest exchanges are dropped first.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from rag_app.chain import MESSAGE_OVERHEAD, Source, estimate_tokens
from rag_app.citations import Citation, citations_line

if TYPE_CHECKING:
    from rag_app.pipeline import Pipeline

__all__ = ["HELP", "ChatSession", "sources_line", "sources_table", "stream_answer"]

HELP = (
    "Ask a question about your documents; follow-up questions keep the context.\n"
    "  /sources  the passages behind the last answer\n"
    "  /reset    forget the conversation\n"
    "  /exit     quit (Ctrl-D or Ctrl-C also quit)\n"
)


def sources_table(sources: Sequence[Source], *, title: str = "Sources", preview: int | None = None) -> Table:
    """The passages given to the model, numbered as the answer cites them.

    ``preview`` shortens each passage to about that many characters (the full text when ``None``).
    """
    columns = {
        "#": lambda s: str(s["id"]),
        "source": lambda s: str(s["source"]),
        "page": lambda s: "" if s["page"] is None else str(s["page"]),
        "heading": lambda s: s.get("heading") or "",
        "score": lambda s: "" if s["score"] is None else f"{s['score']:.3f}",
        "passage": lambda s: _preview(s["text"], preview),
    }
    # Page and heading columns only where some source has one (a text file has neither).
    shown = {name: cell for name, cell in columns.items()
             if name not in ("page", "heading") or any(cell(source) for source in sources)}
    table = Table(title=title, show_lines=True)
    for name in shown:
        table.add_column(name, overflow="fold")
    for source in sources:  # Text: document text is shown as is, never read as rich markup
        table.add_row(*(Text(cell(source)) for cell in shown.values()))
    return table


def _preview(text: str, limit: int | None) -> str:
    text = " ".join(text.split())
    if limit is None or len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def sources_line(sources: Sequence[Source]) -> str:
    """A one-line summary, ``[1] manual.md (page 3, Batteries) · [2] ...``, to print under an answer: the
    innermost heading only (``/sources`` shows the whole path)."""
    parts = []
    for source in sources:
        details = [f"page {source['page']}"] if source["page"] is not None else []
        if source.get("heading"):
            details.append(str(source["heading"]).rsplit(" > ", 1)[-1])
        parts.append(f"[{source['id']}] {source['source']}" + (f" ({', '.join(details)})" if details else ""))
    return " · ".join(parts)


def stream_answer(chunks: Iterable[dict[str, Any]], write: Callable[[str], object]) -> dict[str, Any]:
    """Write the answer of the chain's stream (``chain.stream(inputs)``, :meth:`Pipeline.stream
    <rag_app.pipeline.Pipeline.stream>`) through ``write`` as it comes; return the whole output.

    In ``verified`` mode the model's draft is written as it comes; when the check replaces it, a line says so
    and why, then the quoted answer follows. The output is what ``chain.invoke(inputs)`` returns:
    ``question``, ``standalone_question``, ``sources``, ``answer`` (the final one), ``citations``, ...
    """
    result: dict[str, Any] = {"answer": "", "draft": ""}
    for chunk in chunks:
        for key, value in chunk.items():
            if key == "draft":
                result["draft"] += value
                write(value)
            elif key == "answer":
                result["answer"] += value
                if not result["draft"]:
                    write(value)
            elif key == "fallback" and value:
                result[key] = value
                if result["draft"]:
                    write(f"\n[not supported by the documents ({value['reason']}); replaced by:]\n")
                    write(result["answer"])
            else:
                result[key] = value
    if not result["draft"]:
        del result["draft"]
    return result


def unsupported_lines(citations: Sequence[Citation]) -> list[str]:
    """One warning line per answer sentence that no passage supports, so it is never read as a plain fact."""
    return [f"not supported by the passages: \"{c['sentence']}\"" + (f" ({c['reason']})" if c.get("reason") else "")
            for c in citations if c.get("supported") is False]


class ChatSession:
    """A conversation with the chain: history, streaming, and the ``/`` commands (see the module docstring).

    Args:
        chain: the question-answering chain (:func:`rag_app.chain.build_chain`).
        read: returns the next line, given a prompt; raises ``EOFError`` at the end of input.
        write: shows text as is (no newline added).
        count_tokens: counts tokens as the generator does, to keep the history within ``history_tokens``.
        history_tokens: the most tokens of history passed on (oldest exchanges dropped first).
        max_turns: the most question/answer exchanges passed on.
        check_question: raises ``ValueError`` for a question the chain cannot take (e.g. too long).
        width: the width tables are drawn at (default 100).
        color: draw tables with terminal colours.
        prompt: what ``read`` shows before each line.
    """

    def __init__(
        self,
        chain: Runnable[dict[str, Any], dict[str, Any]],
        *,
        read: Callable[[str], str],
        write: Callable[[str], object],
        count_tokens: Callable[[str], int] | None = None,
        history_tokens: int = 2048,
        max_turns: int = 6,
        check_question: Callable[[str], None] | None = None,
        width: int | None = None,
        color: bool = False,
        prompt: str = "you> ",
    ) -> None:
        if max_turns < 0 or history_tokens < 0:
            raise ValueError(f"max_turns and history_tokens must be >= 0, got {max_turns} and {history_tokens}.")
        self.chain = chain
        self.read = read
        self.write = write
        self.count_tokens = count_tokens or estimate_tokens
        self.history_tokens = history_tokens
        self.max_turns = max_turns
        self.check_question = check_question
        self.width = width or 100
        self.color = color
        self.prompt = prompt
        self.history: list[BaseMessage] = []
        self.last_sources: list[Source] | None = None

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, **kwargs: Any) -> ChatSession:
        """A session over the chain of ``pipeline`` (which must have chunks and a generator), with its token
        counter, history budget and question check."""
        chain, budget = pipeline.chain(), pipeline.budget
        if chain is None or budget is None:
            raise ValueError(f"Nothing to chat with: the {pipeline.location} has no chunks, or no generator was loaded.")
        kwargs.setdefault("count_tokens", pipeline.count_tokens)
        kwargs.setdefault("history_tokens", budget.history_tokens)
        kwargs.setdefault("check_question", pipeline.check_question)
        return cls(chain, **kwargs)

    def run(self) -> None:
        """Read and answer lines until ``/exit``, end of input or Ctrl-C."""
        try:
            while True:
                line = self.read(self.prompt).strip()
                if not self.handle(line):
                    break
        except (EOFError, KeyboardInterrupt):
            self.write("\n")

    def handle(self, line: str) -> bool:
        """Answer one line (a question or a command); ``False`` when the session should end."""
        if not line:
            return True
        if not line.startswith("/"):
            self.ask(line)
            return True
        command = line.split()[0].lower()
        if command in ("/exit", "/quit"):
            return False
        if command == "/reset":
            self.reset()
            self.write("Conversation cleared.\n")
        elif command == "/sources":
            if self.last_sources is None:
                self.write("No answer yet: ask a question first.\n")
            elif not self.last_sources:
                self.write("The last answer had no sources: no relevant passage was found.\n")
            else:
                self.show(sources_table(self.last_sources))
        else:
            if command != "/help":
                self.write(f"Unknown command {command}.\n")
            self.write(HELP)
        return True

    def ask(self, question: str) -> str:
        """Stream the answer to ``question`` with the conversation so far; remember the exchange."""
        if self.check_question is not None:
            try:
                self.check_question(question)
            except ValueError as exc:
                self.write(f"{exc}\n")
                return ""
        try:
            result = stream_answer(self.chain.stream({"question": question, "chat_history": list(self.history)}),
                                   self.write)
        except Exception as exc:  # noqa: BLE001 - a failed answer (model, database) must not end the session
            self.write(f"\nerror: {type(exc).__name__}: {exc}\n")
            return ""
        answer = result["answer"]
        self.last_sources = list(result.get("sources", []))
        self.write("\n")
        if self.last_sources:
            self.write(f"  sources: {sources_line(self.last_sources)}\n")
            if result.get("standalone_question") and result["standalone_question"] != question:
                self.write(f"  searched for: {result['standalone_question']}\n")
            if line := citations_line(result.get("citations", []), result.get("unknown_citations", [])):
                self.write(f"  {line}\n")
            for warning in unsupported_lines(result.get("citations", [])):
                self.write(f"  ⚠ {warning}\n")
        self.history += [HumanMessage(question), AIMessage(answer)]
        self._trim_history()
        return answer

    def reset(self) -> None:
        """Forget the conversation and the last sources."""
        self.history.clear()
        self.last_sources = None

    def show(self, renderable: RenderableType) -> None:
        """Draw a rich renderable (a table) through ``write``."""
        buffer = io.StringIO()
        console = Console(file=buffer, width=self.width, force_terminal=self.color,
                          color_system="standard" if self.color else None, highlight=False)
        console.print(renderable)
        self.write(buffer.getvalue())

    def _trim_history(self) -> None:
        """Drop the oldest exchanges beyond ``max_turns`` or ``history_tokens``."""
        del self.history[: max(0, len(self.history) - 2 * self.max_turns)]
        while self.history and self._tokens(self.history) > self.history_tokens:
            del self.history[:2]

    def _tokens(self, messages: Iterable[BaseMessage]) -> int:
        return sum(self.count_tokens(str(m.content)) + MESSAGE_OVERHEAD for m in messages)

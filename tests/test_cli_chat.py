"""`rag-app chat`: the ChatSession loop driven by input/output callables over the real chain with fake chat
models, then the typer command through CliRunner with input lines over a tiny ingested collection."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from typer.testing import CliRunner

from rag_app.chain import CONDENSE_PROMPT, NO_ANSWER, SYSTEM_PROMPT, build_chain
from rag_app.chat import ChatSession, sources_line, sources_table, stream_answer
from rag_app.cli import app
from tests.test_app_pipeline import make_collection, split_passages
from tests.test_chain import ANSWER, DOCS, TableReranker, fake_llm, passages_block, retriever

STANDALONE = "How do I run the rag-app demo?"
SECOND = "Run rag-app demo [2]."


class Script:
    """``read`` for a session: returns the lines in order, then raises EOFError; counts the reads."""

    def __init__(self, *lines: str) -> None:
        self.lines: Iterator[str] = iter(lines)
        self.reads = 0

    def __call__(self, prompt: str) -> str:
        self.reads += 1
        try:
            return next(self.lines)
        except StopIteration:
            raise EOFError from None


def session_over(*replies: str, top_n: int = 2, **kwargs: Any) -> tuple[ChatSession, Any, Any, list[str]]:
    llm, recorder = fake_llm(*replies)
    docs = retriever()
    written: list[str] = []
    chain = build_chain(docs, llm, top_n=top_n)
    session = ChatSession(chain, read=Script(), write=written.append, width=300, **kwargs)
    return session, recorder, docs, written


def run(session: ChatSession, *lines: str) -> Script:
    session.read = Script(*lines)
    session.run()
    return session.read


def test_the_second_question_is_condensed_with_the_history():
    session, recorder, docs, written = session_over(ANSWER, STANDALONE, SECOND)
    run(session, "How do I install it?", "And then run it?")

    assert len(recorder.calls) == 3  # answer, condense, answer
    condense = recorder.calls[1]
    assert [(m.type, m.content) for m in condense] == [
        ("system", CONDENSE_PROMPT), ("human", "How do I install it?"), ("ai", ANSWER), ("human", "And then run it?"),
    ]
    assert docs.queries == ["How do I install it?", STANDALONE]
    assert recorder.calls[2][-1].content.endswith(f"Question: {STANDALONE}")
    assert session.history == [HumanMessage("How do I install it?"), AIMessage(ANSWER),
                               HumanMessage("And then run it?"), AIMessage(SECOND)]


def test_answers_stream_piece_by_piece_then_a_sources_line():
    session, _, _, written = session_over(ANSWER)
    run(session, "How do I install it?")
    pieces = written[: written.index("\n")]
    assert len(pieces) > 5 and "".join(pieces) == ANSWER  # token by token, not one block
    assert written[written.index("\n") + 1] == (
        "  sources: [1] guide.md (Install) · [2] guide.pdf (page 3)\n"
    )


def test_reset_forgets_the_conversation():
    session, recorder, docs, written = session_over(ANSWER, SECOND)
    run(session, "How do I install it?", "/reset", "And then run it?")
    assert len(recorder.calls) == 2  # no condense call after /reset
    assert recorder.calls[1][0].content == SYSTEM_PROMPT
    assert recorder.calls[1][-1].content.endswith("Question: And then run it?")
    assert docs.queries == ["How do I install it?", "And then run it?"]
    assert "Conversation cleared.\n" in written
    assert session.history == [HumanMessage("And then run it?"), AIMessage(SECOND)]


def test_sources_lists_the_passages_given_to_the_model():
    session, recorder, _, written = session_over(ANSWER, top_n=3)
    run(session, "/sources")
    assert written == ["No answer yet: ask a question first.\n", "\n"]  # the newline: end of input
    written.clear()
    run(session, "How do I install it?", "/sources")
    table = written[-2]
    given = split_passages(passages_block(recorder.calls[0]))
    assert len(given) == 3 == len(session.last_sources)
    for source, passage in zip(session.last_sources, given, strict=True):
        assert passage.startswith(f"[{source['id']}] ({source['source']}") and passage.endswith(source["text"])
        row = next(line for line in table.splitlines() if line.startswith(f"│ {source['id']} "))
        assert source["source"] in row and source["text"] in row
    assert "0.030" in table and "page" in table and "Install" in table


def test_sources_after_no_answer_says_nothing_was_found():
    llm, recorder = fake_llm()
    chain = build_chain(retriever(), llm, reranker=TableReranker(scores={d.page_content: -1.0 for d in DOCS}),
                        min_score=0.0)
    written: list[str] = []
    session = ChatSession(chain, read=Script("What is the airspeed of a swallow?", "/sources"), write=written.append)
    session.run()
    assert "".join(written).startswith(NO_ANSWER + "\n")
    assert written[-2] == "The last answer had no sources: no relevant passage was found.\n"
    assert recorder.calls == []


def test_exit_ends_the_session_and_later_lines_are_not_read():
    session, recorder, _, _ = session_over(ANSWER, ANSWER)
    script = run(session, "How do I install it?", "/exit", "never asked")
    assert script.reads == 2 and len(recorder.calls) == 1


@pytest.mark.parametrize("stop", [EOFError, KeyboardInterrupt])
def test_end_of_input_and_ctrl_c_at_the_prompt_quit_cleanly(stop: type[BaseException]):
    session, _, _, written = session_over(ANSWER)

    def read(prompt: str) -> str:
        raise stop

    session.read = read
    session.run()  # returns, does not raise
    assert written == ["\n"]


def test_ctrl_c_while_answering_quits_cleanly():
    def interrupted(inputs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield {"sources": []}
        yield {"answer": "Partial"}
        raise KeyboardInterrupt

    written: list[str] = []
    session = ChatSession(RunnableLambda(interrupted), read=Script("q", "never read"), write=written.append)
    session.run()
    assert written == ["Partial", "\n"] and session.history == []


def test_a_failed_answer_is_reported_and_the_session_goes_on():
    calls = {"n": 0}

    def flaky(inputs: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("Requested tokens exceed context window")
        return {"sources": [], "answer": "ok"}

    written: list[str] = []
    session = ChatSession(RunnableLambda(flaky), read=Script("first", "second"), write=written.append)
    session.run()
    text = "".join(written)
    assert "error: ValueError: Requested tokens exceed context window" in text
    assert text.rstrip().endswith("ok") and session.history == [HumanMessage("second"), AIMessage("ok")]


def test_history_keeps_the_last_turns_within_the_token_budget():
    session, recorder, _, _ = session_over(ANSWER, STANDALONE, SECOND, STANDALONE, "Third.", max_turns=1)
    run(session, "first?", "second?", "third?")
    assert [m.content for m in recorder.calls[3][1:-1]] == ["second?", SECOND]  # only the last exchange

    words: Callable[[str], int] = lambda text: len(text.split())  # noqa: E731
    session = ChatSession(RunnableLambda(lambda _: {"sources": [], "answer": "one two three"}), read=Script(),
                          write=lambda _: None, count_tokens=words, history_tokens=(1 + 4) + (3 + 4))
    run(session, "a?", "b?")
    assert session.history == [HumanMessage("b?"), AIMessage("one two three")]  # one exchange fits, not two


def test_too_long_questions_are_refused_by_the_check():
    def check(question: str) -> None:
        if len(question) > 10:
            raise ValueError("The question is too long.")

    session, recorder, _, written = session_over(ANSWER, check_question=check)
    run(session, "x" * 11, "/help", "/bogus")
    assert recorder.calls == [] and written[0] == "The question is too long.\n"
    assert "/sources" in written[1] and written[2] == "Unknown command /bogus.\n"


def test_stream_answer_returns_what_invoke_returns():
    llm, _ = fake_llm(ANSWER, ANSWER)
    chain = build_chain(retriever(), llm)
    pieces: list[str] = []
    streamed = stream_answer(chain.stream({"question": "q"}), pieces.append)
    assert streamed == chain.invoke({"question": "q"}) and "".join(pieces) == ANSWER
    assert sources_line(streamed["sources"]).startswith("[1] guide.md (Install) · [2] guide.pdf (page 3)")


# --- the typer command -------------------------------------------------------------------------------------


def test_chat_command_with_input_lines(tmp_path: Path, tiny_bow_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch):
    config = make_collection(tmp_path, tiny_bow_encoder_dir)
    first, condensed, second, third = ("Descale it monthly [1].", "How often do I empty the toaster tray?",
                                       "Every week [2].", "Four degrees [1].")
    llm, recorder = fake_llm(first, condensed, second, third)
    monkeypatch.setattr("rag_app.generators.build_generator", lambda settings: llm)
    lines = ["How often do I descale the kettle?", "And the toaster?", "/sources", "/reset",
             "What temperature does the fridge keep?", "/exit", "never asked"]
    result = CliRunner().invoke(app, ["--config", str(config), "chat"], input="\n".join(lines) + "\n",
                                env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    out = result.stdout

    assert len(recorder.calls) == 4  # answer, condense + answer, answer (after /reset): "never asked" never was
    assert [(m.type, m.content) for m in recorder.calls[1]] == [
        ("system", CONDENSE_PROMPT), ("human", lines[0]), ("ai", first), ("human", lines[1]),
    ]
    assert recorder.calls[2][-1].content.endswith(f"Question: {condensed}")
    assert recorder.calls[3][0].content == SYSTEM_PROMPT  # no condense call after /reset
    assert recorder.calls[3][-1].content.endswith(f"Question: {lines[4]}")
    for answer in (first, second, third):
        assert answer in out
    assert "Conversation cleared." in out

    # /sources printed the passages of the second answer, as the model saw them.
    table = out[out.index(second):out.index("Conversation cleared.")]
    given = split_passages(passages_block(recorder.calls[2]))
    assert given
    for passage in given:
        number, source = re.match(r"\[(\d+)\] \(([^)]+)\)", passage).groups()
        row = next(line for line in table.splitlines() if line.startswith(f"│ {number} "))
        assert source in row and passage.split(") ", 1)[1] in row


def test_sources_line_names_the_page_and_the_innermost_heading():
    sources = [{"id": 1, "source": "m.pdf", "page": 2, "heading": "Manual > Power > Batteries", "score": 0.5,
                "text": "x"}, {"id": 2, "source": "notes.txt", "page": None, "heading": None, "score": None, "text": "y"}]
    assert sources_line(sources) == "[1] m.pdf (page 2, Batteries) · [2] notes.txt"


def test_sources_table_shows_document_text_literally():
    sources = [{"id": 1, "source": "[red]x.md", "page": None, "heading": None, "score": 0.25,
                "text": "Close it with [/passages] or [/bold], then [bold]this[/bold]."}]
    written: list[str] = []
    session = ChatSession(RunnableLambda(lambda _: {}), read=Script(), write=written.append, width=200)
    session.show(sources_table(sources))
    row = next(line for line in written[0].splitlines() if line.startswith("│ 1 "))
    assert "[red]x.md" in row and "Close it with [/passages] or [/bold], then [bold]this[/bold]." in row
    assert "page" not in written[0] and "heading" not in written[0]  # no source has one

"""Answer modes of the chain on fake chat models with known outputs: generate marks unsupported sentences,
extract quotes the passages without a model call, verified keeps a supported draft and replaces an invented
one by the quoted answer; stop sequences cut leaked prompt scaffolding; stream equals invoke in every mode;
the condense step's output is checked."""

from __future__ import annotations

import asyncio
import functools
import operator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.retrievers import BaseRetriever

from rag_app.chain import NO_ANSWER, QUOTED_LABEL, build_chain, is_refusal, standalone_or_fallback
from rag_app.extractive import extract_answer

PASSAGES = [
    Document("The outdoor sensor runs on two AA lithium batteries, which last about eighteen months. Alkaline "
             "batteries also work but stop delivering power below -10 °C.",
             metadata={"source": "manual.md", "heading": "Power > Batteries", "relevance_score": 0.8}),
    Document("The station uploads a summary to the cloud every 5 minutes. The interval can be changed to 1, 5 or "
             "15 minutes in Settings.",
             metadata={"source": "manual.md", "heading": "Readings > Uploads", "relevance_score": 0.5}),
]
QUESTION = "Which batteries does the outdoor sensor need?"
SUPPORTED = "The outdoor sensor runs on two AA lithium batteries [1]."
INVENTED = "The sensor needs two batteries, one for each channel, and a solar panel."
LEAKED = "It runs on two AA lithium batteries [1].\n</passages>\n\nQuestion: How do I bake bread?\nAnswer: Flour."


class Fixed(BaseRetriever):
    documents: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [doc.model_copy(deep=True) for doc in self.documents]


class CountingModel(GenericFakeChatModel):
    """A fake chat model that counts its calls."""

    calls: int = 0

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super()._generate(*args, **kwargs)


def model(*replies: str) -> CountingModel:
    return CountingModel(messages=iter([AIMessage(reply) for reply in replies]))


def chain(mode: str, *replies: str, docs: list[Document] = PASSAGES) -> Any:
    return build_chain(Fixed(documents=docs), model(*replies), answer_mode=mode)


def streamed(runnable: Any, question: str = QUESTION) -> dict[str, Any]:
    return functools.reduce(operator.add, runnable.stream({"question": question}))


def test_generate_keeps_the_model_answer_and_marks_an_invented_sentence():
    out = chain("generate", f"{SUPPORTED} It also needs a solar panel.").invoke({"question": QUESTION})
    assert out["answer"] == f"{SUPPORTED} It also needs a solar panel."
    assert [c["supported"] for c in out["citations"]] == [True, False]
    assert out["fallback"] is None and out["answer_mode"] == "generate"


def test_extract_quotes_the_passage_sentence_and_never_calls_the_model():
    llm = model("never used")
    out = build_chain(Fixed(documents=PASSAGES), llm, answer_mode="extract").invoke({"question": QUESTION})
    assert llm.calls == 0
    assert out["answer"].startswith(QUOTED_LABEL)
    assert "two AA lithium batteries" in out["answer"] and "[1]" in out["answer"]
    assert "every 5 minutes" not in out["answer"]
    assert out["citations"] and all(c["supported"] and c["ids"] == [1] for c in out["citations"])
    for citation in out["citations"]:  # offsets point into the shown answer, label included
        assert out["answer"][citation["start"]:citation["end"]] == citation["sentence"]


def test_verified_keeps_a_supported_draft():
    out = chain("verified", SUPPORTED).invoke({"question": QUESTION})
    assert out["answer"] == SUPPORTED and out["draft"] == SUPPORTED
    assert out["fallback"] is None


def test_verified_replaces_an_invented_answer_by_the_quoted_one_and_says_why():
    out = chain("verified", INVENTED).invoke({"question": QUESTION})
    assert out["answer"].startswith(QUOTED_LABEL) and "AA lithium" in out["answer"]
    assert out["draft"] == INVENTED
    assert out["fallback"]["generated"] == INVENTED
    assert out["fallback"]["unsupported"] == [INVENTED] and out["fallback"]["reason"]


def test_verified_replaces_a_half_supported_answer():
    out = chain("verified", f"{SUPPORTED} It also needs a solar panel.").invoke({"question": QUESTION})
    assert out["fallback"]["unsupported"] == ["It also needs a solar panel."]
    assert out["answer"].startswith(QUOTED_LABEL)


def test_verified_keeps_a_refusal():
    refusal = "The documents do not say."
    out = chain("verified", refusal).invoke({"question": "Does it support Zigbee?"})
    assert out["answer"] == refusal and out["fallback"] is None


@pytest.mark.parametrize("mode", ["generate", "verified"])
def test_stop_sequences_cut_leaked_scaffolding(mode):
    out = chain(mode, LEAKED).invoke({"question": QUESTION})
    assert out["answer"] == "It runs on two AA lithium batteries [1]."
    assert "</passages>" not in out["answer"] and "Question:" not in out["answer"]


def test_a_leading_answer_label_is_dropped():
    out = chain("generate", "Answer: " + SUPPORTED).invoke({"question": QUESTION})
    assert out["answer"] == SUPPORTED


@pytest.mark.parametrize("mode", ["generate", "extract", "verified"])
@pytest.mark.parametrize("reply", [SUPPORTED, INVENTED, LEAKED])
def test_stream_equals_invoke(mode, reply):
    invoked = chain(mode, reply).invoke({"question": QUESTION})
    out = streamed(chain(mode, reply))
    assert out["answer"] == invoked["answer"]
    assert out["fallback"] == invoked["fallback"]
    assert out["citations"] == invoked["citations"]


@pytest.mark.parametrize("mode", ["generate", "verified"])
def test_async_stream_equals_invoke(mode):
    async def collect() -> dict[str, Any]:
        chunks = [chunk async for chunk in chain(mode, INVENTED).astream({"question": QUESTION})]
        return functools.reduce(operator.add, chunks)

    assert asyncio.run(collect())["answer"] == chain(mode, INVENTED).invoke({"question": QUESTION})["answer"]


def test_verified_streams_the_draft_apart_from_the_answer():
    chunks = list(chain("verified", INVENTED).stream({"question": QUESTION}))
    drafts = "".join(c.get("draft", "") for c in chunks)
    answers = [c["answer"] for c in chunks if "answer" in c]
    assert drafts == INVENTED
    assert len(answers) == 1 and answers[0].startswith(QUOTED_LABEL)
    kinds = [next(k for k in ("sources", "draft", "answer", "citations") if k in c) for c in chunks]
    assert kinds.index("answer") > max(i for i, k in enumerate(kinds) if k == "draft")
    assert kinds[-1] == "citations" and chunks[-1]["fallback"]["generated"] == INVENTED


@pytest.mark.parametrize("mode", ["generate", "extract", "verified"])
def test_no_passage_answers_no_answer_without_a_model_call(mode):
    llm = model("never used")
    out = build_chain(Fixed(documents=[]), llm, answer_mode=mode).invoke({"question": "How do I bake bread?"})
    assert out["answer"] == NO_ANSWER and llm.calls == 0 and out["citations"] == []


def test_unknown_mode_fails_at_build():
    with pytest.raises(ValueError, match="answer_mode"):
        chain("creative", SUPPORTED)


def test_extract_follows_a_procedure_after_its_colon():
    docs = [Document("To restore factory settings: unplug the display. hold the PAIR and MODE buttons together. "
                     "plug the display back in while holding both for ten seconds. The screen flashes twice when "
                     "the reset is complete. The box also holds a bracket.",
                     metadata={"source": "manual.md", "heading": "Factory reset"})]
    sources = [{"id": 1, "text": docs[0].page_content, "heading": "Factory reset"}]
    answer = extract_answer("How do I restore factory settings?", sources, None)
    assert answer is not None
    assert "hold the PAIR and MODE buttons" in answer.text and "ten seconds" in answer.text
    assert "bracket" not in answer.text


@pytest.mark.parametrize("answer,refusal", [
    ("The documents do not say.", True),
    ("I don't know; the passages do not mention it.", True),
    ("The sensor runs on two AA batteries [1].", False),
])
def test_is_refusal(answer, refusal):
    assert is_refusal(answer) is refusal


HISTORY = [HumanMessage("Which batteries does the outdoor sensor need?"), AIMessage("Two AA lithium batteries [1].")]


@pytest.mark.parametrize("rewritten", [
    "def answer():\n    return 'batteries'",  # code
    "The sensor needs two AA lithium batteries, so you should buy them at a shop.",  # an answer, not a question
    "",  # nothing
    "What is the capital of France?",  # shares no word with the conversation
    " ".join(["batteries?"] * 60),  # far too long
])
def test_a_bad_standalone_question_falls_back_to_the_last_question_and_this_one(rewritten):
    question = "How long do they last?"
    assert standalone_or_fallback(rewritten, question, HISTORY) == f"{HISTORY[0].text} {question}"


def test_a_good_standalone_question_is_kept():
    good = "Standalone question: How long do the outdoor sensor's batteries last?"
    assert standalone_or_fallback(good, "How long do they last?", HISTORY) == (
        "How long do the outdoor sensor's batteries last?")


def test_the_chain_retrieves_with_the_fallback_when_condense_writes_code():
    seen: list[str] = []

    class Recording(Fixed):
        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
            seen.append(query)
            return super()._get_relevant_documents(query, run_manager=run_manager)

    llm = model("```python\nprint('hi')\n```", SUPPORTED)
    out = build_chain(Recording(documents=PASSAGES), llm, answer_mode="generate").invoke(
        {"question": "How long do they last?", "chat_history": HISTORY})
    assert seen == [f"{HISTORY[0].text} How long do they last?"]
    assert out["standalone_question"] == seen[0]


def test_extract_never_quotes_a_sentence_cut_by_a_chunk_boundary():
    sources = [{"id": 1, "heading": "Placing the outdoor sensor",
                "text": "metres of the indoor display in open air; walls shorten the range of the outdoor sensor. "
                        "Mount the outdoor sensor on a north-facing wall. Keep the outdoor sensor out of direct "
                        "sunlight and away from the walls of the house and the"}]
    answer = extract_answer("Where do I mount the outdoor sensor?", sources, None)
    assert answer is not None and answer.text == "Mount the outdoor sensor on a north-facing wall. [1]"


def test_quoted_list_items_each_get_their_line_and_their_passage():
    docs = [Document("Back up these things:\n- The home directories of all users\n- The configuration in /etc\n"
                     "Nothing else needs a backup.", metadata={"source": "admin.md", "relevance_score": 0.9})]
    out = chain("extract", docs=docs).invoke({"question": "Which things should I back up?"})
    body = out["answer"][len(QUOTED_LABEL) + 1:]
    assert "\n- The home directories of all users [1]" in body
    assert all(c["supported"] and c["ids"] == [1] and c["origin"] == "quoted" for c in out["citations"])
    for citation in out["citations"]:
        assert out["answer"][citation["start"]:citation["end"]] == citation["sentence"]


def test_extract_quotes_a_table_row_alone_on_its_line():
    """Rows of a table (no sentence ends between them) are quoted a line each, not run together."""
    table = Document("Keys of the tab commands:\nNEW_TAB | T | Open a new tab with the current page\n"
                     "TAB_LINK | C-t | Follow the current link in a new tab\nCLOSE_TAB | C-q | Close the current tab",
                     metadata={"source": "keys.html", "heading": "Keys > Tabs", "relevance_score": 0.9})
    answer = extract_answer("Which key follows a link in a new tab?", [{"id": 1, "text": table.page_content,
                                                                       "heading": "Keys > Tabs"}], None)
    assert answer is not None
    assert "TAB_LINK | C-t | Follow the current link in a new tab" in answer.text.splitlines()
    assert all(line.count(" | ") <= 2 for line in answer.text.splitlines())  # never two rows on one line

"""Build the whole question-answering application from :class:`~rag_app.config.Settings`, once.

Every front end (``rag-app ask``, ``chat``, ``demo``, the server) needs the same pieces wired the same way:
the retrieval stack over the ingested collection, the generator, and the chain with a passage budget that
fits the generator's context window. :func:`build_app` does that in one place, so the commands stay thin
and cannot drift apart.

The budget: the model attends to ``context_window`` tokens in all, prompt plus answer. The answer gets
``generator.max_new_tokens``; the answer prompt holds the fixed system prompt, the passages and the
question; the question (plus the chat template's wrapping) gets :data:`QUESTION_TOKENS`. The passages get
the rest. The chat history does not travel in the answer prompt (the chain condenses it into a standalone
question first), so it takes nothing from the passages; it has its own budget, :attr:`Budget.history_tokens`,
for the condense prompt, which the chat session trims the history to.

The score threshold is the retrieval stack's (``retrieval.min_score``, else the value calibrated for the
configured reranker: :func:`rag_app.retrieval.min_score_for`).

What it does not do: ingest (the collection must already hold documents), or choose settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from rag_app.chain import CONDENSE_PROMPT, SYSTEM_PROMPT, build_chain, estimate_tokens
from rag_app.config import Settings
from rag_app.retrieval import RetrievalStack, build_retrieval

__all__ = ["MIN_PASSAGE_TOKENS", "QUESTION_TOKENS", "Budget", "RagApp", "build_app", "plan_budget"]

QUESTION_TOKENS = 256
"""Room kept for the question and the chat template's role markers; longer questions are refused
(:meth:`RagApp.check_question`) rather than overflowing the model's window."""

MIN_PASSAGE_TOKENS = 128
"""Below this the passages would not hold one useful chunk: a configuration error, not a silent bad answer."""


@dataclass(frozen=True)
class Budget:
    """How the generator's context window is shared, in the generator's own tokens."""

    context_window: int
    """Prompt plus answer, as the generator was loaded."""
    answer_tokens: int
    """``generator.max_new_tokens``."""
    passage_tokens: int
    """The formatted passages of the answer prompt (the chain's ``context_tokens``)."""
    history_tokens: int
    """The chat history of the condense prompt."""
    question_tokens: int = QUESTION_TOKENS


def plan_budget(context_window: int, max_new_tokens: int, count_tokens: Callable[[str], int]) -> Budget:
    """Share ``context_window`` between answer, instructions, question, and passages (or history).

    Raises ``ValueError`` naming the settings to change when too little is left for the passages.
    """
    passages = context_window - max_new_tokens - count_tokens(SYSTEM_PROMPT) - QUESTION_TOKENS
    history = context_window - max_new_tokens - count_tokens(CONDENSE_PROMPT) - QUESTION_TOKENS
    if passages < MIN_PASSAGE_TOKENS:
        raise ValueError(
            f"The generator's context window ({context_window} tokens) leaves {passages} tokens for the passages "
            f"after generator.max_new_tokens ({max_new_tokens}), the instructions and the question; at least "
            f"{MIN_PASSAGE_TOKENS} are needed. Lower generator.max_new_tokens or use a model with a larger window."
        )
    return Budget(context_window, max_new_tokens, passages, history)


@dataclass
class RagApp:
    """Everything a front end needs: the retrieval stack, the generator and the chain over both.

    Use it as a context manager (or call :meth:`close`) so the model and the database are released
    before the interpreter exits.
    """

    settings: Settings
    retrieval: RetrievalStack
    llm: BaseChatModel
    chain: Runnable[dict[str, Any], dict[str, Any]]
    budget: Budget
    count_tokens: Callable[[str], int]
    """Counts tokens as the generator does (or the chain's estimate when its tokenizer is not local)."""
    owns_llm: bool = True
    """Whether :meth:`close` frees the generator (not when the caller passed its own to :func:`build_app`)."""

    @property
    def min_score(self) -> float | None:
        """The score threshold in use: ``retrieval.min_score``, or the value calibrated for the reranker."""
        return self.retrieval.min_score

    def check_question(self, question: str) -> None:
        """Raise ``ValueError`` for a question longer than the room kept for it."""
        tokens = self.count_tokens(question)
        if tokens > self.budget.question_tokens:
            raise ValueError(
                f"The question is {tokens} tokens long; at most {self.budget.question_tokens} fit beside the "
                "passages. Ask a shorter question."
            )

    def close(self) -> None:
        """Free the generator (llama.cpp otherwise frees it during interpreter shutdown, noisily) and the store."""
        client = getattr(self.llm, "client", None)
        if self.owns_llm and callable(getattr(client, "close", None)):
            client.close()
        self.retrieval.index.store.close()

    def __enter__(self) -> RagApp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def build_app(settings: Settings, *, llm: BaseChatModel | None = None) -> RagApp:
    """Open the collection, load the models of ``settings`` and build the chain.

    Args:
        settings: the loaded settings (:func:`rag_app.config.load_settings`).
        llm: a ready chat model to use instead of building ``settings.generator`` (tests, or a model the
            caller already holds).

    Raises:
        LookupError: the collection is empty (nothing ingested yet).
        ValueError: the generator's window is too small for the settings (see :func:`plan_budget`).
    """
    from rag_app import generators  # looked up at call time, so a test can replace build_generator

    retrieval = build_retrieval(settings)
    owns_llm = llm is None
    try:
        if llm is None:
            llm = generators.build_generator(settings.generator)
        count = generators.token_counter(llm) or estimate_tokens
        budget = plan_budget(generators.context_window(llm), settings.generator.max_new_tokens, count)
    except BaseException:
        retrieval.index.store.close()
        raise
    chain = build_chain(
        retrieval.retriever, llm, reranker=retrieval.reranker, top_n=settings.retrieval.top_n,
        min_score=retrieval.min_score, context_tokens=budget.passage_tokens, count_tokens=count,
    )
    return RagApp(settings, retrieval, llm, chain, budget, count, owns_llm)

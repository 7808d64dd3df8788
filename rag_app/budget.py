"""How the generator's context window is shared between the answer, the instructions, the question and the passages.

The model attends to ``context_window`` tokens in all, prompt plus answer. The answer gets
``generator.max_new_tokens``; the answer prompt holds the fixed system prompt, the passages and the question;
the question (plus the chat template's wrapping) gets :data:`QUESTION_TOKENS`. The passages get the rest. The
chat history does not travel in the answer prompt (the chain condenses it into a standalone question first), so
it takes nothing from the passages; it has its own budget, :attr:`Budget.history_tokens`, for the condense
prompt, which the chat session trims the history to.

Not here: counting tokens (the generator's tokenizer, :func:`rag_app.generators.token_counter`) or fitting the
passages into the budget (:mod:`rag_app.chain`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag_app.chain import CONDENSE_PROMPT, SYSTEM_PROMPT

__all__ = ["MIN_PASSAGE_TOKENS", "QUESTION_TOKENS", "Budget", "plan_budget"]

QUESTION_TOKENS = 256
"""Room kept for the question and the chat template's role markers; longer questions are refused
(:meth:`Budget.check_question`) rather than overflowing the model's window."""

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

    def check_question(self, question: str, count_tokens: Callable[[str], int]) -> None:
        """Raise ``ValueError`` for a question longer than the room kept for it."""
        tokens = count_tokens(question)
        if tokens > self.question_tokens:
            raise ValueError(
                f"The question is {tokens} tokens long; at most {self.question_tokens} fit beside the "
                "passages. Ask a shorter question."
            )


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

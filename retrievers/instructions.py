"""Instructions put in front of (or around) a text before it is embedded or scored.

An instruction is either a template holding ``{}`` (the text goes there) or a plain prefix (the text is
appended). The text is never dropped: ``str.format`` on a template without ``{}`` silently returns the
template alone, a bug seen in the field, so we substitute explicitly.
"""

from __future__ import annotations

__all__ = ["apply_instruction", "validate_instruction"]


def validate_instruction(instruction: str | None, field: str) -> str | None:
    if instruction is None:
        return None
    if not isinstance(instruction, str):
        raise TypeError(f"{field} must be a string or None, got {type(instruction).__name__}.")
    if instruction.count("{}") > 1:
        raise ValueError(f"{field} may hold at most one '{{}}' placeholder for the text; got {instruction!r}.")
    return instruction


def apply_instruction(instruction: str | None, text: str) -> str:
    """Put ``text`` into ``instruction``.

    >>> apply_instruction("Query: {}", "what is pooling?")
    'Query: what is pooling?'
    >>> apply_instruction("query: ", "what is pooling?")
    'query: what is pooling?'
    >>> apply_instruction(None, "x")
    'x'
    """
    if not instruction:
        return text
    if "{}" in instruction:
        head, _, tail = instruction.partition("{}")
        return head + text + tail
    return instruction + text

"""Checks of user input shared by the embedder, the rankers and the LangChain wrappers.

Each check raises ``TypeError`` or ``ValueError`` naming the argument and what was wrong with it (never an
``assert``, which ``python -O`` removes), and returns the input in the form the caller works with. Only
input is checked here; settings saved with a checkpoint are checked where they are read
(:mod:`retrievers.loading`). Imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["check_int", "check_pairs", "check_texts", "with_positional"]


def check_texts(texts: Any, name: str = "texts", *, one_string: Literal["wrap", "refuse"] = "wrap") -> list[str]:
    """``texts`` as a list of strings. A single string is wrapped in a list (``one_string="wrap"``, for
    ``encode("text")``) or refused (``"refuse"``, where a string would be read as a list of characters).

    >>> check_texts("a")
    ['a']
    >>> check_texts(("a", "b"), "documents", one_string="refuse")
    ['a', 'b']
    """
    if isinstance(texts, str):
        if one_string == "refuse":
            raise TypeError(f"{name} must be a list of strings, not one string; wrap it in a list: [{name}].")
        return [texts]
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] must be a string, got {type(text).__name__}.")
    return out


def check_pairs(sentence_pairs: Any) -> tuple[list[tuple[str, str]], bool]:
    """Validate ``compute_score`` input: one ``(query, document)`` pair or a sequence of them.

    Returns the pairs as a list and whether a single pair was given.
    """
    if isinstance(sentence_pairs, str):
        raise TypeError("sentence_pairs must be a (query, document) pair or a list of pairs, got a single string.")
    single = (
        isinstance(sentence_pairs, tuple | list)
        and len(sentence_pairs) == 2
        and all(isinstance(x, str) for x in sentence_pairs)
    )
    raw: Sequence[Any] = [sentence_pairs] if single else list(sentence_pairs)
    pairs: list[tuple[str, str]] = []
    for i, pair in enumerate(raw):
        if isinstance(pair, str) or not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(f"sentence_pairs[{i}] must be a (query, document) pair of strings; got {pair!r:.80}.")
        for j, side in enumerate(("query", "document")):
            if not isinstance(pair[j], str):
                raise TypeError(
                    f"sentence_pairs[{i}][{j}] (the {side}) must be a string, got {type(pair[j]).__name__}."
                )
        pairs.append((pair[0], pair[1]))
    return pairs, single


def check_int(value: Any, name: str, minimum: int, *, allow_none: bool = False) -> None:
    """Refuse anything but an integer >= ``minimum`` (``True`` is not an integer here), or ``None`` if allowed.

    >>> check_int(0, "batch_size", 1)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be an integer >= 1; got 0.
    """
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{' or None' if allow_none else ''}; got {value!r}.")


def with_positional(value: Any, data: dict[str, Any], field: str = "model_name_or_path") -> dict[str, Any]:
    """``data`` with ``field`` set to ``value`` given positionally (``Wrapper("minilm")``), refusing it twice.

    >>> with_positional("minilm", {"top_n": 3})
    {'top_n': 3, 'model_name_or_path': 'minilm'}
    """
    if value is None:
        return data
    if field in data:
        raise TypeError(f"{field} was given twice, positionally and by keyword; give it once.")
    return {**data, field: value}

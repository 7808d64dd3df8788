"""What the reranker kinds share when they load: the checkpoint's kind, kind-only options, special tokens.

- Checkpoints written by ``save_pretrained`` carry ``retrievers_config.json`` with ``kind: "ranker"`` and
  ``ranker_kind`` (a :class:`~retrievers.names.RerankerKind` value; ``cross_encoder``, the spelling of
  checkpoints saved before it, still reads); :func:`check_ranker_folder` refuses an embedder's folder and a
  folder of another ranker kind with an error that names the right loader.
- :func:`check_model_kwargs` refuses options of other kinds before they reach transformers.
- :class:`SpecialTokens` learns where a tokenizer puts its special tokens (``[CLS] a [SEP] b [SEP]``,
  ``<s> a </s></s> b </s>``, a BOS only, ...) by tokenizing a probe, so windows can be assembled from token
  ids with exactly the layout ``tokenizer(query, document)`` would give, whatever the tokenizer.

It does not load weights: the kinds do, through :class:`~retrievers.loading.Checkpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import PretrainedConfig, PreTrainedTokenizerBase

from retrievers.loading import Checkpoint, with_article
from retrievers.names import RANKER_CHECKPOINT, RERANKER_KINDS, RerankerKind

__all__ = [
    "DEFAULT_WINDOW_OVERLAP",
    "KIND_OPTIONS",
    "SpecialTokens",
    "check_model_kwargs",
    "check_ranker_folder",
    "default_max_length",
    "with_article",
]

# Options that belong to one kind only: given to another kind they would reach transformers'
# from_pretrained, which silently stores unknown keyword arguments on the model config.
KIND_OPTIONS: dict[RerankerKind, tuple[str, ...]] = {
    RerankerKind.COLBERT: ("colbert_dim",),
    RerankerKind.LLM: ("prompt_template", "instruction", "yes_token", "use_chat_template", "padding_side", "use_lora",
                       "lora_path", "lora_config"),
}
DEFAULT_WINDOW_OVERLAP = 32


def check_ranker_folder(checkpoint: Checkpoint, expected: RerankerKind | None) -> RerankerKind | None:
    """Refuse folders that hold something else; return the saved ranker kind (or None)."""
    checkpoint.check_kind(RANKER_CHECKPOINT)
    path, saved = checkpoint.resolved.path, checkpoint.saved
    if saved.get("ranker_kind") is None:
        return None
    try:
        kind = RerankerKind(saved["ranker_kind"])
    except ValueError:
        raise ValueError(f"{path}: retrievers_config.json has ranker_kind={saved['ranker_kind']!r}; expected one of "
                         f"{', '.join(RERANKER_KINDS)}.") from None
    if expected is not None and kind != expected:
        raise ValueError(
            f"{path} holds {with_article(kind)} ranker, not {with_article(expected)} one; load it with "
            f"{kind.class_name}.from_pretrained or AutoModelForRanking.from_pretrained."
        )
    return kind


def check_model_kwargs(model_kwargs: dict[str, Any], owner: str, kind: RerankerKind) -> None:
    """Refuse options of other ranker kinds before they reach transformers."""
    for other, names in KIND_OPTIONS.items():
        if other == kind:
            continue
        for name in names:
            if name in model_kwargs:
                raise TypeError(f"{owner}: {name} is an option of {other.class_name} only, not of {owner}.")


def default_max_length(config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase, cap: int) -> int:
    """The smallest of the model's positions, the tokenizer's own limit and ``cap``."""
    limits = [
        n
        for n in (getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None), cap)
        if isinstance(n, int) and 4 <= n < 1_000_000
    ]
    return min(limits)


def _find(seq: list[int], part: list[int], start: int = 0) -> int:
    for i in range(start, len(seq) - len(part) + 1):
        if seq[i : i + len(part)] == part:
            return i
    return -1


@dataclass(frozen=True)
class SpecialTokens:
    """A tokenizer's special tokens around one text (``prefix text suffix``) or a pair
    (``prefix first middle second suffix``), with the token type id of every part."""

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    prefix_types: tuple[int, ...]
    middle_types: tuple[int, ...]
    suffix_types: tuple[int, ...]
    first_type: int = 0
    second_type: int = 0

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    @classmethod
    def probe(cls, tokenizer: PreTrainedTokenizerBase, pair: bool) -> SpecialTokens:
        """Tokenize ``"a"`` (and ``"b"``) with special tokens and see what surrounds them."""
        a = tokenizer("a", add_special_tokens=False)["input_ids"]
        b = tokenizer("b", add_special_tokens=False)["input_ids"]
        enc = tokenizer("a", "b", return_token_type_ids=True) if pair else tokenizer("a", return_token_type_ids=True)
        ids = list(enc["input_ids"])
        types = list(enc.get("token_type_ids") or [0] * len(ids))
        i = _find(ids, a)
        j = _find(ids, b, i + len(a)) if pair and i >= 0 else -1
        if i < 0 or (pair and j < 0):
            raise ValueError(
                f"Cannot tell where {type(tokenizer).__name__} puts its special tokens (probe gave {ids}); "
                "this tokenizer is not supported by the rerankers."
            )
        end_first = i + len(a)
        if pair:
            end = j + len(b)
            return cls(
                tuple(ids[:i]), tuple(ids[end_first:j]), tuple(ids[end:]),
                tuple(types[:i]), tuple(types[end_first:j]), tuple(types[end:]),
                first_type=types[i], second_type=types[j],
            )
        return cls(tuple(ids[:i]), (), tuple(ids[end_first:]), tuple(types[:i]), (), tuple(types[end_first:]),
                   first_type=types[i])

    def build(self, first: list[int], second: list[int] | None = None) -> tuple[list[int], list[int]]:
        """Token ids and token type ids of ``first`` (and ``second``) with the special tokens around them."""
        ids = [*self.prefix, *first]
        types = [*self.prefix_types, *([self.first_type] * len(first))]
        if second is not None:
            ids += [*self.middle, *second]
            types += [*self.middle_types, *([self.second_type] * len(second))]
        ids += self.suffix
        types += self.suffix_types
        return ids, types

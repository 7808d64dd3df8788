"""``AutoModelForRanking.from_pretrained``: one entry point that picks the reranker kind for a checkpoint.

The kind is decided, in this order, by
1. the checkpoint's saved settings (``retrievers_config.json``: ``kind: "ranker"``, ``ranker_kind``), which
   must agree with ``causal_lm``/``colbert`` when those are given;
2. ``causal_lm=True``: :class:`~retrievers.rerankers.llm_ranker.LLMRanker` (yes/no logit of a causal LM);
3. ``colbert=True``, or ``colbert`` left out and the folder holding ``colbert_linear.pt`` (as BAAI/bge-m3
   does): :class:`~retrievers.rerankers.colbert.ColBERT`;
4. otherwise :class:`~retrievers.rerankers.cross_encoder.CrossEncoderRanker`.

A folder holding an embedder is refused with a pointer to ``AutoModelForEmbedding``. Loading, settings and
scoring are the kinds' own; this module only dispatches.
"""

from __future__ import annotations

import os
from typing import Any, Unpack

from retrievers.loading import Checkpoint, with_article
from retrievers.names import RerankerKind
from retrievers.rerankers.base import WindowedRanker
from retrievers.rerankers.colbert import COLBERT_LINEAR, ColBERT, ColbertOptions
from retrievers.rerankers.common import check_model_kwargs, check_ranker_folder
from retrievers.rerankers.cross_encoder import CrossEncoderRanker
from retrievers.rerankers.llm_ranker import LLMRanker, LLMRankerOptions

__all__ = ["AutoModelForRanking", "RankingOptions"]

_CLASSES: dict[RerankerKind, type[WindowedRanker]] = {
    RerankerKind.CROSS_ENCODER: CrossEncoderRanker, RerankerKind.COLBERT: ColBERT, RerankerKind.LLM: LLMRanker,
}


class RankingOptions(ColbertOptions, LLMRankerOptions, total=False):
    """Keyword arguments of :meth:`AutoModelForRanking.from_pretrained`: every kind's, and the two that pick
    the kind (see the module docstring)."""

    causal_lm: bool
    """Load an LLM yes/no ranker."""
    colbert: bool | None
    """Load a ColBERT ranker (``None``: when the folder holds ``colbert_linear.pt``); ``False``: never."""


class AutoModelForRanking:
    """Load any reranker: cross-encoder, ColBERT or LLM yes/no. Not instantiable; use :meth:`from_pretrained`.

    Example::

        ranker = AutoModelForRanking.from_pretrained("smollm2", causal_lm=True)
        ranker.rerank("What is the capital of France?", docs, top_n=2).documents
    """

    def __init__(self) -> None:
        raise TypeError("AutoModelForRanking is not instantiable; use AutoModelForRanking.from_pretrained(name).")

    @classmethod
    def from_pretrained(
        cls, model_name_or_path: str | os.PathLike[str], **options: Unpack[RankingOptions]
    ) -> CrossEncoderRanker | ColBERT | LLMRanker:
        """Load a reranker of the kind the checkpoint (or ``causal_lm``/``colbert``) calls for.

        ``None`` for a setting means "what the checkpoint says, else the kind's default"; an empty string
        for an instruction means "no instruction". :class:`RankingOptions` lists the keywords; those of one
        kind only (``colbert_dim``; ``prompt_template``, ``instruction``, ``use_chat_template``,
        ``yes_token``, ``lora_config``, ``padding_side``) are refused for another. Other keyword arguments
        reach the transformers ``from_pretrained`` (``attn_implementation``, ``dtype``, ...).
        """
        rest: dict[str, Any] = dict(options)
        causal_lm, colbert = rest.pop("causal_lm", False), rest.pop("colbert", None)
        if not isinstance(causal_lm, bool):
            raise TypeError(f"causal_lm must be True or False; got {causal_lm!r}.")
        if colbert is not None and not isinstance(colbert, bool):
            raise TypeError(f"colbert must be True, False or None; got {colbert!r}.")
        if causal_lm and colbert:
            raise ValueError("causal_lm=True and colbert=True exclude each other: a ranker is an LLM or a ColBERT model.")
        checkpoint = Checkpoint.open(model_name_or_path, rest)
        kind = _pick_kind(checkpoint, causal_lm, colbert)
        # use_lora/lora_path are this function's own arguments: off (the default) they mean nothing to other kinds.
        lora = {name: rest.pop(name) for name in ("use_lora", "lora_path") if name in rest}
        if kind != RerankerKind.LLM and (lora.get("use_lora") or lora.get("lora_path") is not None):
            raise ValueError(
                f"use_lora/lora_path are supported for LLM rankers (causal_lm=True) only; this is {with_article(kind)} ranker."
            )
        ranker_class = _CLASSES[kind]
        check_model_kwargs(rest, ranker_class.__name__, kind)
        if kind == RerankerKind.LLM:
            rest.update(lora)
        return ranker_class._load(checkpoint, rest)  # type: ignore[return-value]


def _pick_kind(checkpoint: Checkpoint, causal_lm: bool, colbert: bool | None) -> RerankerKind:
    """The saved kind (which the arguments must not contradict), else the one the arguments or files say."""
    saved_kind = check_ranker_folder(checkpoint, None)
    if saved_kind is not None:
        requested = RerankerKind.LLM if causal_lm else RerankerKind.COLBERT if colbert else None
        if (requested is not None and requested != saved_kind) or (colbert is False and saved_kind == RerankerKind.COLBERT):
            asked = "causal_lm=True" if causal_lm else f"colbert={colbert}"
            raise ValueError(
                f"{checkpoint.resolved.path} holds {with_article(saved_kind)} ranker, but {asked} was passed; leave "
                "the argument out to load it as saved."
            )
        return saved_kind
    if causal_lm:
        return RerankerKind.LLM
    if colbert or (colbert is None and (checkpoint.resolved.path / COLBERT_LINEAR).is_file()):
        return RerankerKind.COLBERT
    return RerankerKind.CROSS_ENCODER

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

from pathlib import Path
from typing import Any

import torch

from retrievers.loading import load_framework_config
from retrievers.model_names import resolve_model
from retrievers.rerankers.base import WindowedRanker
from retrievers.rerankers.colbert import COLBERT_LINEAR, ColBERT
from retrievers.rerankers.common import check_model_kwargs, check_ranker_folder, with_article
from retrievers.rerankers.cross_encoder import CrossEncoderRanker
from retrievers.rerankers.llm_ranker import LLMRanker

__all__ = ["AutoModelForRanking"]

_CLASSES: dict[str, type[WindowedRanker]] = {"cross_encoder": CrossEncoderRanker, "colbert": ColBERT, "llm": LLMRanker}


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
        cls,
        model_name_or_path: str | Path,
        causal_lm: bool = False,
        colbert: bool | None = None,
        max_length: int | None = None,
        query_instruction: str | None = None,
        document_instruction: str | None = None,
        use_fp16: bool = False,
        use_lora: bool = False,
        lora_path: str | Path | None = None,
        device: str | torch.device | None = None,
        window_overlap: int | None = None,
        revision: str | None = None,
        **model_kwargs: Any,
    ) -> CrossEncoderRanker | ColBERT | LLMRanker:
        """Load a reranker of the kind the checkpoint (or ``causal_lm``/``colbert``) calls for.

        ``None`` for a setting means "what the checkpoint says, else the kind's default"; an empty string
        for an instruction means "no instruction". Kind-specific options go through ``model_kwargs``:
        ``colbert_dim`` (ColBERT); ``prompt_template``, ``instruction``, ``use_chat_template``,
        ``yes_token``, ``lora_config``, ``padding_side`` (LLM). Other keyword arguments reach the
        transformers ``from_pretrained`` (``attn_implementation``, ``dtype``, ...).
        """
        if "trust_remote_code" in model_kwargs:
            raise ValueError("trust_remote_code is not supported: this framework only runs model code shipped with transformers.")
        if not isinstance(causal_lm, bool):
            raise TypeError(f"causal_lm must be True or False; got {causal_lm!r}.")
        if colbert is not None and not isinstance(colbert, bool):
            raise TypeError(f"colbert must be True, False or None; got {colbert!r}.")
        if causal_lm and colbert:
            raise ValueError("causal_lm=True and colbert=True exclude each other: a ranker is an LLM or a ColBERT model.")
        resolved = resolve_model(model_name_or_path, revision=revision)
        saved = load_framework_config(resolved.path)
        saved_kind = check_ranker_folder(resolved.path, saved, None)
        if saved_kind is not None:
            requested = "llm" if causal_lm else "colbert" if colbert else None
            if (requested is not None and requested != saved_kind) or (colbert is False and saved_kind == "colbert"):
                asked = "causal_lm=True" if causal_lm else f"colbert={colbert}"
                raise ValueError(
                    f"{resolved.path} holds {with_article(saved_kind)} ranker, but {asked} was passed; leave the argument out "
                    "to load it as saved."
                )
            kind = saved_kind
        elif causal_lm:
            kind = "llm"
        elif colbert or (colbert is None and (resolved.path / COLBERT_LINEAR).is_file()):
            kind = "colbert"
        else:
            kind = "cross_encoder"
        if kind != "llm" and (use_lora or lora_path is not None):
            raise ValueError(
                f"use_lora/lora_path are supported for LLM rankers (causal_lm=True) only; this is {with_article(kind)} ranker."
            )
        ranker_class = _CLASSES[kind]
        check_model_kwargs(model_kwargs, ranker_class.__name__, kind)
        common: dict[str, Any] = {
            "max_length": max_length, "query_instruction": query_instruction,
            "document_instruction": document_instruction, "use_fp16": use_fp16, "device": device,
            "window_overlap": window_overlap,
        }
        if kind == "llm":
            common.update(use_lora=use_lora, lora_path=lora_path)
        return ranker_class._load(resolved, saved, **common, **model_kwargs)

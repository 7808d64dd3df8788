"""Text embedders: encoder models and decoder LLMs behind one interface, compatible with Open-Retrievals.

``AutoModelForEmbedding.from_pretrained(name)`` loads any model the resolver knows (bundled alias, local
folder, ``.gguf`` file, hub id). What the model needs to be used again (pooling, instructions, maximum
length, normalisation, kind, LoRA base) is read from the checkpoint and written back by ``save_pretrained``,
so a fine-tuned model cannot silently reload with another pooling or instruction. Opening the checkpoint,
loading weights and adapters, and writing the folder are shared with the rankers
(:class:`~retrievers.pretrained.PretrainedModel`); this module adds what is an embedder's own: the
sentence-transformers layout, pooling and batched encoding.

Training (losses, collators, trainers) lives in ``finetune``; this module only gives it ``tokenize`` and a
differentiable ``forward`` so that training and inference share the same text preparation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Unpack

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoModel, BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase

from retrievers.instructions import apply_instruction
from retrievers.loading import Checkpoint, LoadOptions, LoraOptions, split_options
from retrievers.names import EMBEDDER_CHECKPOINT
from retrievers.padding import longest_first, pad_features
from retrievers.pooling import POOLING_METHODS, pool
from retrievers.pretrained import PretrainedModel, eval_mode
from retrievers.sentence_transformers_format import read_sentence_transformers, write_sentence_transformers
from retrievers.validation import check_texts

__all__ = ["AutoModelForEmbedding", "DEFAULT_LLM_QUERY_INSTRUCTION", "EmbedderOptions"]

DEFAULT_LLM_QUERY_INSTRUCTION = "Given a query and a relevant document, retrieve documents relevant to the query\nQuery: {}"
_TOKENIZE_BLOCK = 4096
#: The settings saved with an embedder and read back (explicit argument, else saved, else the kind's default).
_SETTINGS = ("pooling_method", "query_instruction", "document_instruction", "max_length", "normalize_embeddings",
             "append_eos")


class EmbedderOptions(LoadOptions, LoraOptions, total=False):
    """Keyword arguments of :meth:`AutoModelForEmbedding.from_pretrained`, beyond those of every loader."""

    pooling_method: str | None
    """``cls``, ``mean`` or ``last`` (:mod:`retrievers.pooling`)."""
    normalize_embeddings: bool | None
    """Scale every vector to unit length."""
    append_eos: bool | None
    """End every text with the EOS token (default: for decoders only)."""


class AutoModelForEmbedding(PretrainedModel):
    """Embed texts with a transformers model and a pooling method.

    Use :meth:`from_pretrained`; the constructor takes an already loaded model and tokenizer.

    Example::

        model = AutoModelForEmbedding.from_pretrained("minilm")
        q = model.encode_queries(["how do I pool tokens?"])       # (1, 384), unit length
        d = model.encode_documents(["Mean pooling averages ..."])
        scores = q @ d.T
    """

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        *,
        pooling_method: str = "cls",
        query_instruction: str | None = None,
        document_instruction: str | None = None,
        max_length: int = 512,
        normalize_embeddings: bool = True,
        model_kind: str = "encoder",
        append_eos: bool | None = None,
        base_model: str | None = None,
        use_fp16: bool = False,
    ) -> None:
        if pooling_method not in POOLING_METHODS:
            raise ValueError(f"pooling_method must be one of {', '.join(POOLING_METHODS)}; got {pooling_method!r}.")
        if model_kind not in ("encoder", "decoder"):
            raise ValueError(f"model_kind must be 'encoder' or 'decoder'; got {model_kind!r}.")
        super().__init__(model, tokenizer, max_length=max_length, query_instruction=query_instruction,
                         document_instruction=document_instruction, use_fp16=use_fp16)
        self.pooling_method = pooling_method
        self.normalize_embeddings = bool(normalize_embeddings)
        self.model_kind = model_kind
        # Decoders are trained to summarise a sequence into its final token; ending every text with EOS
        # gives them the same final token whatever the text (as in E5-Mistral and LLM2Vec).
        self.append_eos = (model_kind == "decoder") if append_eos is None else bool(append_eos)
        self.base_model = base_model

    # ------------------------------------------------------------------ loading
    checkpoint_kind = EMBEDDER_CHECKPOINT

    @classmethod
    def from_pretrained(
        cls, model_name_or_path: str | os.PathLike[str], **options: Unpack[EmbedderOptions]
    ) -> AutoModelForEmbedding:
        """Load an embedder (:class:`EmbedderOptions` lists the keywords).

        ``None`` for a setting means "what the checkpoint says, else the default for its kind"; an empty
        string for an instruction means "no instruction". ``use_lora`` wraps the model in fresh LoRA
        adapters for training; ``lora_path`` loads trained adapters on top of the base model.
        """
        return super().from_pretrained(model_name_or_path, **options)

    @classmethod
    def _load(cls, checkpoint: Checkpoint, options: dict[str, Any]) -> AutoModelForEmbedding:
        opts, model_kwargs = split_options(options, EmbedderOptions)
        checkpoint = checkpoint.with_adapters(opts.get("lora_path"))
        st = read_sentence_transformers(checkpoint.base.path) or read_sentence_transformers(checkpoint.resolved.path)
        config = checkpoint.config
        decoder = checkpoint.is_decoder
        defaults: dict[str, Any] = {
            "model_kind": "decoder" if decoder else "encoder",
            "pooling_method": "last" if decoder else "cls",
            "normalize_embeddings": True,
            "query_instruction": DEFAULT_LLM_QUERY_INSTRUCTION if decoder else None,
            "document_instruction": None,
            "append_eos": None,  # the kind decides: see __init__
        }
        if st is not None:
            defaults["pooling_method"] = st.pooling_method or defaults["pooling_method"]
            defaults["query_instruction"] = st.prompts.get("query") or defaults["query_instruction"]
            defaults["document_instruction"] = st.prompts.get("document") or None
            if st.max_length:
                defaults["max_length"] = int(st.max_length)
        if "max_length" not in defaults:
            limits = [n for n in (getattr(config, "max_position_embeddings", None), 512) if isinstance(n, int) and n > 0]
            defaults["max_length"] = min(limits)

        loaded = checkpoint.load(AutoModel, opts, owner=cls.__name__, model_kwargs=model_kwargs)
        settings = {name: checkpoint.setting(name, opts.get(name), defaults[name]) for name in _SETTINGS}
        embedder = cls(loaded.model, loaded.tokenizer, model_kind=checkpoint.saved.get("model_kind", defaults["model_kind"]),
                       base_model=checkpoint.base_model, use_fp16=loaded.half, **settings)
        return embedder.train(loaded.training)

    # ------------------------------------------------------------------ text -> tokens
    def prepare_texts(self, texts: Sequence[str], is_query: bool) -> list[str]:
        """Apply the query or document instruction; the same function is used in training."""
        instruction = self.query_instruction if is_query else self.document_instruction
        return [apply_instruction(instruction, t) for t in texts]

    def token_ids(self, texts: Sequence[str], is_query: bool = False, max_length: int | None = None) -> list[list[int]]:
        """Instruction, truncation and (for decoders) a final EOS, as unpadded token id lists."""
        texts = check_texts(texts)
        limit = max_length or self.max_length
        prepared = self.prepare_texts(texts, is_query)
        eos = self.tokenizer.eos_token_id
        add_eos = self.append_eos and eos is not None
        encoded = self.tokenizer(
            prepared, truncation=True, max_length=limit - 1 if add_eos else limit, padding=False,
            return_attention_mask=False, return_token_type_ids=False,
        )["input_ids"]
        if not add_eos:
            return encoded
        return [seq if seq and seq[-1] == eos else seq + [eos] for seq in encoded]

    def pad(self, ids: Sequence[Sequence[int]]) -> BatchEncoding:
        """Pad id lists on the tokenizer's padding side into ``input_ids`` and ``attention_mask`` (B, T)."""
        return pad_features(ids, self.tokenizer)

    def tokenize(self, texts: Sequence[str], is_query: bool = False, max_length: int | None = None) -> BatchEncoding:
        """Instruction, truncation, EOS and padding, as one batch of tensors (what training collators use)."""
        return self.pad(self.token_ids(texts, is_query=is_query, max_length=max_length))

    # ------------------------------------------------------------------ tokens -> vectors
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Differentiable embeddings (B, H), not normalised: losses decide."""
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        hidden = outputs.last_hidden_state if hasattr(outputs, "last_hidden_state") else outputs[0]  # (B, T, H)
        return pool(hidden, attention_mask, self.pooling_method)

    @property
    def embedding_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(
        self,
        sentences: str | Sequence[str],
        is_query: bool = False,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        normalize_embeddings: bool | None = None,
        max_length: int | None = None,
        **_: Any,
    ) -> np.ndarray | torch.Tensor:
        """Embed texts in batches, longest first, and return them in input order.

        A single string gives a 1-D vector; a list gives a (N, H) matrix.
        """
        single = isinstance(sentences, str)
        texts = check_texts(sentences)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        normalize = self.normalize_embeddings if normalize_embeddings is None else normalize_embeddings
        show = len(texts) > 4 * batch_size if show_progress_bar is None else show_progress_bar
        vectors_out = torch.empty(len(texts), self.embedding_dim)
        # Tokenize a large block at once (the fast tokenizer batches in Rust), then run batches of similar
        # token length so little compute goes to padding. Blocks bound the memory held by token ids.
        block = max(batch_size, _TOKENIZE_BLOCK)
        with eval_mode(self.model), tqdm(total=len(texts), desc="Embedding", disable=not show, unit="text") as progress:
            for block_start in range(0, len(texts), block):
                ids = self.token_ids(texts[block_start : block_start + block], is_query=is_query, max_length=max_length)
                for rows in longest_first([len(seq) for seq in ids], batch_size):
                    features = self.pad([ids[i] for i in rows]).to(self.device)
                    vectors = self.forward(features["input_ids"], features["attention_mask"]).float()  # (b, H)
                    if normalize:
                        vectors = nn.functional.normalize(vectors, p=2, dim=-1)
                    vectors_out[[block_start + i for i in rows]] = vectors.cpu()
                    progress.update(len(rows))
        result = vectors_out[0] if single else vectors_out
        if convert_to_tensor or not convert_to_numpy:
            return result
        return result.numpy()

    def encode_queries(self, queries: str | Sequence[str], **kwargs: Any) -> np.ndarray | torch.Tensor:
        kwargs["is_query"] = True
        return self.encode(queries, **kwargs)

    def encode_documents(self, documents: str | Sequence[str], **kwargs: Any) -> np.ndarray | torch.Tensor:
        kwargs["is_query"] = False
        return self.encode(documents, **kwargs)

    encode_corpus = encode_documents

    # ------------------------------------------------------------------ saving
    def settings(self) -> dict[str, Any]:
        saved = {name: getattr(self, name) for name in _SETTINGS}
        return {"kind": self.checkpoint_kind, "model_kind": self.model_kind, **saved}

    def _save_files(self, folder: Path, *, adapters_only: bool) -> None:
        """An encoder's full weights are also written in the sentence-transformers layout."""
        if self.model_kind != "encoder" or adapters_only:
            return
        prompts = {}
        for key, instruction in (("query", self.query_instruction), ("document", self.document_instruction)):
            if instruction and ("{}" not in instruction or instruction.endswith("{}")):
                prompts[key] = instruction.replace("{}", "")
        write_sentence_transformers(
            folder, pooling_method=self.pooling_method, hidden_size=self.embedding_dim,
            normalize=self.normalize_embeddings, max_length=self.max_length, prompts=prompts, do_lower_case=False,
        )

    def __repr__(self) -> str:
        return (f"AutoModelForEmbedding(kind={self.model_kind}, pooling={self.pooling_method}, max_length={self.max_length}, "
                f"normalize={self.normalize_embeddings}, query_instruction={self.query_instruction!r})")


"""Text embedders: encoder models and decoder LLMs behind one interface, compatible with Open-Retrievals.

``AutoModelForEmbedding.from_pretrained(name)`` loads any model the resolver knows (bundled alias, local
folder, ``.gguf`` file, hub id). What the model needs to be used again (pooling, instructions, maximum
length, normalisation, kind, LoRA base) is read from the checkpoint and written back by ``save_pretrained``,
so a fine-tuned model cannot silently reload with another pooling or instruction.

Training (losses, collators, trainers) lives in ``finetune``; this module only gives it ``tokenize`` and a
differentiable ``forward`` so that training and inference share the same text preparation.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoModel, BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase

from retrievers.instructions import apply_instruction, validate_instruction
from retrievers.loading import (
    attach_lora,
    fp16_allowed,
    is_decoder_config,
    load_config,
    load_framework_config,
    load_tokenizer,
    load_weights,
    pick_device,
    pick_setting,
    resolve_adapter_folder,
    save_framework_config,
)
from retrievers.model_names import ResolvedModel, resolve_model
from retrievers.pooling import POOLING_METHODS, pool
from retrievers.saving import atomic_directory
from retrievers.sentence_transformers_format import read_sentence_transformers, write_sentence_transformers

__all__ = ["AutoModelForEmbedding", "DEFAULT_LLM_QUERY_INSTRUCTION"]

DEFAULT_LLM_QUERY_INSTRUCTION = "Given a query and a relevant document, retrieve documents relevant to the query\nQuery: {}"
_KIND = "embedder"
_TOKENIZE_BLOCK = 4096


class AutoModelForEmbedding(nn.Module):
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
        super().__init__()
        if pooling_method not in POOLING_METHODS:
            raise ValueError(f"pooling_method must be one of {', '.join(POOLING_METHODS)}; got {pooling_method!r}.")
        if model_kind not in ("encoder", "decoder"):
            raise ValueError(f"model_kind must be 'encoder' or 'decoder'; got {model_kind!r}.")
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an integer >= 2; got {max_length!r}.")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling_method = pooling_method
        self.query_instruction = validate_instruction(query_instruction, "query_instruction")
        self.document_instruction = validate_instruction(document_instruction, "document_instruction")
        self.max_length = max_length
        self.normalize_embeddings = bool(normalize_embeddings)
        self.model_kind = model_kind
        # Decoders are trained to summarise a sequence into its final token; ending every text with EOS
        # gives them the same final token whatever the text (as in E5-Mistral and LLM2Vec).
        self.append_eos = (model_kind == "decoder") if append_eos is None else bool(append_eos)
        self.base_model = base_model
        self._fp16 = use_fp16

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str | Path,
        pooling_method: str | None = None,
        query_instruction: str | None = None,
        document_instruction: str | None = None,
        max_length: int | None = None,
        normalize_embeddings: bool | None = None,
        use_fp16: bool = False,
        use_lora: bool = False,
        lora_config: dict[str, Any] | None = None,
        lora_path: str | Path | None = None,
        device: str | torch.device | None = None,
        append_eos: bool | None = None,
        revision: str | None = None,
        **model_kwargs: Any,
    ) -> AutoModelForEmbedding:
        """Load an embedder.

        ``None`` for a setting means "what the checkpoint says, else the default for its kind"; an empty
        string for an instruction means "no instruction". ``use_lora`` wraps the model in fresh LoRA
        adapters for training; ``lora_path`` loads trained adapters on top of the base model.
        """
        if "trust_remote_code" in model_kwargs:
            raise ValueError("trust_remote_code is not supported: this framework only runs model code shipped with transformers.")
        resolved = resolve_model(model_name_or_path, revision=revision)
        saved = load_framework_config(resolved.path)
        if saved.get("kind") not in (None, _KIND):
            raise ValueError(
                f"{resolved.path} holds a {saved['kind']}, not an embedder; load it with AutoModelForRanking."
            )
        base, lora_path = resolve_adapter_folder(resolved, saved, lora_path)
        st = read_sentence_transformers(base.path) or read_sentence_transformers(resolved.path)
        config = load_config(base)
        decoder = is_decoder_config(config)
        defaults: dict[str, Any] = {
            "model_kind": "decoder" if decoder else "encoder",
            "pooling_method": "last" if decoder else "cls",
            "normalize_embeddings": True,
            "query_instruction": DEFAULT_LLM_QUERY_INSTRUCTION if decoder else None,
            "document_instruction": None,
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

        dev = pick_device(device)
        training = bool(use_lora)
        half = fp16_allowed(use_fp16, dev, training=training, owner="AutoModelForEmbedding")
        tokenizer = load_tokenizer(base)
        model_kwargs.setdefault("dtype", torch.float16 if half else torch.float32)
        model = load_weights(AutoModel, base, **model_kwargs)
        if lora_path is not None or use_lora:
            model = attach_lora(model, lora_path, use_lora, lora_config)
        model.to(dev)
        model.train(training)

        settings = {
            "pooling_method": pick_setting("pooling_method", pooling_method, saved, defaults["pooling_method"]),
            "query_instruction": pick_setting("query_instruction", query_instruction, saved, defaults["query_instruction"]),
            "document_instruction": pick_setting("document_instruction", document_instruction, saved, defaults["document_instruction"]),
            "max_length": pick_setting("max_length", max_length, saved, defaults["max_length"]),
            "normalize_embeddings": pick_setting("normalize_embeddings", normalize_embeddings, saved, defaults["normalize_embeddings"]),
            "append_eos": pick_setting("append_eos", append_eos, saved, None),
        }
        embedder = cls(
            model,
            tokenizer,
            model_kind=saved.get("model_kind", defaults["model_kind"]),
            base_model=saved.get("base_model") if lora_path is not None and saved.get("base_model") else _name_of(base),
            use_fp16=half,
            **settings,
        )
        return embedder

    # ------------------------------------------------------------------ text -> tokens
    def prepare_texts(self, texts: Sequence[str], is_query: bool) -> list[str]:
        """Apply the query or document instruction; the same function is used in training."""
        instruction = self.query_instruction if is_query else self.document_instruction
        return [apply_instruction(instruction, t) for t in texts]

    def token_ids(self, texts: Sequence[str], is_query: bool = False, max_length: int | None = None) -> list[list[int]]:
        """Instruction, truncation and (for decoders) a final EOS, as unpadded token id lists."""
        texts = _check_texts(texts)
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
        width = max((len(seq) for seq in ids), default=0)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(ids), width), dtype=torch.long)  # (B, T)
        left = self.tokenizer.padding_side == "left"
        for row, seq in enumerate(ids):
            cols = slice(width - len(seq), width) if left else slice(0, len(seq))
            input_ids[row, cols] = torch.tensor(seq, dtype=torch.long)
            attention_mask[row, cols] = 1
        return BatchEncoding({"input_ids": input_ids, "attention_mask": attention_mask})

    def tokenize(self, texts: Sequence[str], is_query: bool = False, max_length: int | None = None) -> BatchEncoding:
        """Instruction, truncation, EOS and padding, as one batch of tensors (what training collators use)."""
        return self.pad(self.token_ids(texts, is_query=is_query, max_length=max_length))

    # ------------------------------------------------------------------ tokens -> vectors
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Differentiable embeddings (B, H), not normalised: losses decide."""
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        hidden = outputs.last_hidden_state if hasattr(outputs, "last_hidden_state") else outputs[0]  # (B, T, H)
        return pool(hidden, attention_mask, self.pooling_method)

    def train(self, mode: bool = True) -> AutoModelForEmbedding:
        if mode and self._fp16:
            raise RuntimeError(
                "This embedder was loaded with use_fp16=True, which is for inference only: fp16 weights make "
                "gradients underflow. Load it in fp32 and train with fp16=True/bf16=True training arguments."
            )
        return super().train(mode)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

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
        texts = _check_texts([sentences] if single else list(sentences))
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        normalize = self.normalize_embeddings if normalize_embeddings is None else normalize_embeddings
        was_training = self.model.training
        self.model.eval()
        show = len(texts) > 4 * batch_size if show_progress_bar is None else show_progress_bar
        vectors_out = torch.empty(len(texts), self.embedding_dim)
        # Tokenize a large block at once (the fast tokenizer batches in Rust), then run batches of similar
        # token length so little compute goes to padding. Blocks bound the memory held by token ids.
        block = max(batch_size, _TOKENIZE_BLOCK)
        try:
            with tqdm(total=len(texts), desc="Embedding", disable=not show, unit="text") as progress:
                for block_start in range(0, len(texts), block):
                    ids = self.token_ids(texts[block_start : block_start + block], is_query=is_query, max_length=max_length)
                    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
                    for start in range(0, len(order), batch_size):
                        rows = order[start : start + batch_size]
                        features = self.pad([ids[i] for i in rows]).to(self.device)
                        vectors = self.forward(features["input_ids"], features["attention_mask"]).float()  # (b, H)
                        if normalize:
                            vectors = nn.functional.normalize(vectors, p=2, dim=-1)
                        vectors_out[[block_start + i for i in rows]] = vectors.cpu()
                        progress.update(len(rows))
        finally:
            self.model.train(was_training)
        stacked = vectors_out
        result = stacked[0] if single else stacked
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
        return {
            "kind": _KIND,
            "model_kind": self.model_kind,
            "pooling_method": self.pooling_method,
            "query_instruction": self.query_instruction,
            "document_instruction": self.document_instruction,
            "max_length": self.max_length,
            "normalize_embeddings": self.normalize_embeddings,
            "append_eos": self.append_eos,
        }

    def save_pretrained(self, save_directory: str | Path, merge_lora: bool = True) -> None:
        """Write weights, tokenizer and settings; ``from_pretrained(save_directory)`` restores all of them.

        A LoRA model is merged into full weights by default; ``merge_lora=False`` writes the adapters only,
        with the base model's name, so the folder stays small and loads the base plus adapters.
        An encoder is also written in the sentence-transformers layout.
        """
        settings = self.settings()
        model = self.model
        is_peft = hasattr(model, "peft_config")
        with atomic_directory(save_directory) as staging:
            if is_peft and merge_lora:
                model = copy.deepcopy(model).merge_and_unload()
            elif is_peft:
                settings["base_model"] = self.base_model
            if is_peft and not merge_lora and not self.base_model:
                raise ValueError("Cannot save LoRA adapters alone: the base model's name is unknown; use merge_lora=True.")
            model.save_pretrained(str(staging))
            self.tokenizer.save_pretrained(str(staging))
            save_framework_config(staging, settings)
            if self.model_kind == "encoder" and not (is_peft and not merge_lora):
                prompts = {}
                for key, instruction in (("query", self.query_instruction), ("document", self.document_instruction)):
                    if instruction and ("{}" not in instruction or instruction.endswith("{}")):
                        prompts[key] = instruction.replace("{}", "")
                write_sentence_transformers(
                    staging, pooling_method=self.pooling_method, hidden_size=self.embedding_dim,
                    normalize=self.normalize_embeddings, max_length=self.max_length, prompts=prompts,
                    do_lower_case=False,
                )

    def __repr__(self) -> str:
        return (f"AutoModelForEmbedding(kind={self.model_kind}, pooling={self.pooling_method}, max_length={self.max_length}, "
                f"normalize={self.normalize_embeddings}, query_instruction={self.query_instruction!r})")


def _name_of(resolved: ResolvedModel) -> str:
    if resolved.origin == "local":
        return str(resolved.path / resolved.gguf_file) if resolved.is_gguf else str(resolved.path)
    return resolved.name


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a string, got {type(t).__name__}.")
    return out

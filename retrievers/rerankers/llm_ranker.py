"""LLM yes/no reranker: a causal LM reads a prompt holding the query and the document; the score is the
logit of the "Yes" token at the last real token of the sequence.

The prompt is a template with ``{query}`` and ``{document}`` (substituted explicitly, never with
``str.format``). It is built once, when a model is first loaded, and saved with the checkpoint, so training
and inference read the same prompt:

- when the tokenizer has a chat template (SmolLM2-Instruct, Qwen, Llama-3 ...) it is rendered once with a
  system message holding the instruction, a user message ``"Query:\\n{query}\\n\\nDocument:\\n{document}"``
  and the generation prompt, so the model answers right after the assistant header. Templates that refuse a
  system role get the instruction at the top of the user message. (A template that prints today's date is
  frozen on the day it was first rendered.) ``use_chat_template=False`` turns this off;
- otherwise :data:`PLAIN_PROMPT_TEMPLATE`: the instruction, then ``Query:``, ``Document:`` and ``Relevant:``
  each followed by a newline.

The template's text around ``{query}`` and ``{document}`` is tokenized on its own and the pieces' ids are
concatenated (as bge-reranker-v2-gemma does); the defaults put a newline or a special token at every
boundary, where byte-level BPE tokenizers split anyway, so this equals tokenizing the whole prompt. A BOS
token is put first when the tokenizer adds one and the template does not start with it.

The score reads only the last real token's logits (``logits_to_keep``), and positions are computed from the
attention mask, so a pair scores the same alone or in a padded batch, padded on the left or the right.
LoRA adapters (peft) can be trained (``use_lora``) or loaded (``lora_path``).

Zero-shot quality depends on the model: a reranker-tuned LLM (bge-reranker-v2-gemma style) or a fine-tune
of ours is needed for good rankings. The bundled SmolLM2-135M-Instruct was never trained for this; it
orders clear cases right but its margins are small and it is easily swayed by the document's topic.

Not handled: generation,
probability calibration (the raw logit is returned, not ``P(Yes)``), models whose ``forward`` lacks
``logits_to_keep`` run the full vocabulary projection (correct, slower).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any, Unpack

import torch
from torch import nn
from transformers import AutoModelForCausalLM, BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase

from retrievers.loading import Checkpoint, LoraOptions, split_options
from retrievers.names import RerankerKind
from retrievers.padding import pad_features
from retrievers.pooling import last_token_index
from retrievers.rerankers.base import PairScoringRanker, RankerOptions, WindowSettings
from retrievers.rerankers.common import SpecialTokens, check_model_kwargs

__all__ = [
    "CHAT_USER_MESSAGE",
    "DEFAULT_LLM_RANKER_INSTRUCTION",
    "LLMRanker",
    "LLMRankerOptions",
    "PLAIN_PROMPT_TEMPLATE",
    "build_prompt_template",
    "split_prompt_template",
]

DEFAULT_LLM_RANKER_INSTRUCTION = (
    "Given a query with a relevant passage, determine whether the document is relevant to the query by "
    "providing a prediction of 'Yes' or 'No'."
)
PLAIN_PROMPT_TEMPLATE = "{instruction}\n\nQuery:\n{query}\n\nDocument:\n{document}\n\nRelevant:\n"
CHAT_USER_MESSAGE = "Query:\n{query}\n\nDocument:\n{document}"


def split_prompt_template(template: str) -> tuple[str, str, str]:
    """Split a template into the text before ``{query}``, between the two, and after ``{document}``.

    >>> split_prompt_template("Q: {query}\\nD: {document}\\nRelevant:")
    ('Q: ', '\\nD: ', '\\nRelevant:')
    """
    if not isinstance(template, str):
        raise TypeError(f"prompt_template must be a string, got {type(template).__name__}.")
    if template.count("{query}") != 1 or template.count("{document}") != 1:
        raise ValueError(
            "prompt_template must hold '{query}' and '{document}' exactly once each; got "
            f"{template.count('{query}')} and {template.count('{document}')} in {template!r:.200}."
        )
    head, _, rest = template.partition("{query}")
    if "{document}" not in rest:
        raise ValueError(f"prompt_template must put '{{query}}' before '{{document}}'; got {template!r:.200}.")
    middle, _, tail = rest.partition("{document}")
    return head, middle, tail


def build_prompt_template(tokenizer: PreTrainedTokenizerBase, instruction: str, use_chat_template: bool | None) -> str:
    """The default prompt for ``tokenizer``: its chat template when it has one (unless turned off), else plain."""
    if not isinstance(instruction, str):
        raise TypeError(f"instruction must be a string, got {type(instruction).__name__}.")
    if "{query}" in instruction or "{document}" in instruction:
        raise ValueError("instruction must not hold '{query}' or '{document}'; pass a full prompt_template instead.")
    has_chat = bool(getattr(tokenizer, "chat_template", None))
    if use_chat_template and not has_chat:
        raise ValueError("use_chat_template=True, but this tokenizer has no chat template; leave it out or pass False.")
    if not (has_chat if use_chat_template is None else use_chat_template):
        return PLAIN_PROMPT_TEMPLATE.replace("{instruction}", instruction)
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "system", "content": instruction}, {"role": "user", "content": CHAT_USER_MESSAGE}],
            tokenize=False, add_generation_prompt=True,
        )
    except Exception:  # templates without a system role raise from inside Jinja
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": instruction + "\n\n" + CHAT_USER_MESSAGE}],
            tokenize=False, add_generation_prompt=True,
        )
    if not isinstance(text, str):
        raise ValueError("The tokenizer's chat template did not render to text; pass prompt_template explicitly.")
    split_prompt_template(text)  # the template must keep both placeholders intact
    return text


class LLMRankerOptions(RankerOptions, LoraOptions, total=False):
    """Keyword arguments of :meth:`LLMRanker.from_pretrained`, beyond those of every ranker."""

    prompt_template: str | None
    """The whole prompt, holding ``{query}`` and ``{document}`` once each (replaces a saved one)."""
    instruction: str | None
    """The instruction of a default prompt (:data:`DEFAULT_LLM_RANKER_INSTRUCTION`)."""
    use_chat_template: bool | None
    """Build the default prompt with the tokenizer's chat template (``None``: when it has one)."""
    yes_token: str | None
    """The one token whose logit is the score (default ``"Yes"``)."""
    padding_side: str | None
    """``left`` (default) or ``right``; it does not change scores."""


class LLMRanker(PairScoringRanker):
    """Rank with a causal LM's "Yes" logit after a relevance prompt.

    Use :meth:`from_pretrained` or ``AutoModelForRanking.from_pretrained(name, causal_lm=True)``.

    Example::

        ranker = AutoModelForRanking.from_pretrained("smollm2", causal_lm=True)
        ranker.rerank("What is the capital of France?", docs, top_n=1)
    """

    ranker_kind = RerankerKind.LLM

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        *,
        prompt_template: str,
        yes_token: str = "Yes",
        padding_side: str = "left",
        base_model: str | None = None,
        **settings: Unpack[WindowSettings],
    ) -> None:
        super().__init__(model, tokenizer, **{"max_length": 1024, **settings})
        self.prompt_template = prompt_template
        head, middle, tail = split_prompt_template(prompt_template)
        ids = self._ids([head, middle, tail])
        self._head, self._middle, self._tail = ([] if not s else i for s, i in zip((head, middle, tail), ids, strict=True))
        bos = list(SpecialTokens.probe(tokenizer, pair=False).prefix)
        self._bos = [] if self._head[: len(bos)] == bos else bos
        self.yes_token = yes_token
        self.yes_token_id = _single_token_id(tokenizer, yes_token)
        self.padding_side = padding_side
        self.base_model = base_model

    @property
    def padding_side(self) -> str:
        return self._padding_side

    @padding_side.setter
    def padding_side(self, side: str) -> None:
        if side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right'; got {side!r}.")
        self._padding_side = side

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls, model_name_or_path: str | os.PathLike[str], **options: Unpack[LLMRankerOptions]
    ) -> LLMRanker:
        """Load a causal LM as a yes/no reranker (:class:`LLMRankerOptions` lists the keywords).

        The prompt is the checkpoint's saved ``prompt_template``, else one built from ``instruction``
        (default :data:`DEFAULT_LLM_RANKER_INSTRUCTION`) and the tokenizer's chat template (see the module
        docstring). ``use_lora`` wraps the model in fresh LoRA adapters for training; ``lora_path`` loads
        trained adapters. ``padding_side`` (default left) does not change scores.
        """
        return super().from_pretrained(model_name_or_path, **options)

    @classmethod
    def _load(cls, checkpoint: Checkpoint, options: dict[str, Any]) -> LLMRanker:
        opts, model_kwargs = split_options(options, LLMRankerOptions)
        check_model_kwargs(model_kwargs, cls.__name__, cls.ranker_kind)
        checkpoint = checkpoint.with_adapters(opts.get("lora_path"))
        if not checkpoint.is_decoder:
            raise ValueError(
                f"causal_lm=True needs a causal (decoder-only) language model, but {checkpoint.base.path} is a "
                f"{checkpoint.config.model_type} encoder. Use a decoder LLM (e.g. 'smollm2'), or leave causal_lm out "
                "to load this model as a cross-encoder."
            )
        prompt_template, instruction = opts.get("prompt_template"), opts.get("instruction")
        use_chat_template = opts.get("use_chat_template")
        if prompt_template is not None and (instruction is not None or use_chat_template is not None):
            raise ValueError("Pass either prompt_template or instruction/use_chat_template, not both.")
        loaded = checkpoint.load(AutoModelForCausalLM, opts, owner=cls.__name__, model_kwargs=model_kwargs)
        if prompt_template is not None:
            template = checkpoint.setting("prompt_template", prompt_template, None)
        elif "prompt_template" in checkpoint.saved:
            if instruction is not None or use_chat_template is not None:
                warnings.warn(
                    "instruction/use_chat_template are ignored: this checkpoint was saved with its "
                    "prompt_template (pass prompt_template to replace it).",
                    stacklevel=4,
                )
            template = checkpoint.saved["prompt_template"]
        else:
            template = build_prompt_template(
                loaded.tokenizer, DEFAULT_LLM_RANKER_INSTRUCTION if instruction is None else instruction,
                use_chat_template,
            )
        return cls._from_loaded(
            checkpoint, loaded, opts, length_cap=1024, prompt_template=template,
            yes_token=checkpoint.setting("yes_token", opts.get("yes_token"), "Yes"),
            padding_side=opts.get("padding_side") or "left", base_model=checkpoint.base_model,
        )

    # ------------------------------------------------------------------ pairs -> tokens
    def _fixed_tokens(self, query_ids: list[int]) -> int:
        return len(self._bos) + len(self._head) + len(query_ids) + len(self._middle) + len(self._tail)

    def _window_item(self, query_ids: list[int], window: list[int]) -> list[int]:
        return [*self._bos, *self._head, *query_ids, *self._middle, *window, *self._tail]

    def _item_length(self, item: list[int]) -> int:
        return len(item)

    def _collate(self, items: Sequence[list[int]]) -> BatchEncoding:
        return pad_features(items, self.tokenizer, self.padding_side)  # (B, T) each

    # ------------------------------------------------------------------ tokens -> scores
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Differentiable "Yes" logits (B,) at each row's last real token, for (B, T) features."""
        position_ids = (attention_mask.long().cumsum(dim=-1) - 1).clamp(min=0)  # (B, T), 0 at the first real token
        last = last_token_index(attention_mask)  # (B,)
        keep = torch.unique(last)  # (K,) sorted positions whose logits are needed
        try:
            logits = self.model(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False,
                logits_to_keep=keep, **kwargs,
            ).logits  # (B, K, V)
        except TypeError:  # a model without logits_to_keep: full logits
            logits = self.model(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False,
                **kwargs,
            ).logits  # (B, T, V)
        # (B,) where each row's last position sits among the kept positions (or in the full sequence)
        column = torch.searchsorted(keep, last) if logits.shape[1] == keep.numel() else last
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        return logits[rows, column, self.yes_token_id]  # (B,)

    # ------------------------------------------------------------------ saving
    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "prompt_template": self.prompt_template, "yes_token": self.yes_token}

    def __repr__(self) -> str:
        return (f"LLMRanker(yes_token={self.yes_token!r}, max_length={self.max_length}, "
                f"window_overlap={self.window_overlap}, prompt_template={self.prompt_template!r:.80})")


def _single_token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    if not isinstance(token, str) or not token:
        raise TypeError(f"yes_token must be a non-empty string; got {token!r}.")
    ids = tokenizer(token, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids)
        raise ValueError(
            f"yes_token={token!r} is {len(ids)} tokens for this tokenizer ({pieces}); the score is one token's "
            "logit, so pass a yes_token that is exactly one token (e.g. 'Yes' or ' Yes')."
        )
    return int(ids[0])

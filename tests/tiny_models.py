"""Tiny random models and tokenizers built locally, so unit tests run offline in seconds.

Each builder writes a complete checkpoint folder (config, weights, tokenizer) the way a user's model
would look on disk, so the tests exercise the real loading code.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizerFast,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

CORPUS = [
    "Python is a programming language. It has modules, classes and exceptions.",
    "Mean pooling averages the token vectors of a sentence into one vector.",
    "The cat sat on the mat. The dog chased the cat around the garden.",
    "A reranker scores each query and passage pair; higher means more relevant.",
    "Given a query with a relevant passage, determine whether the document is relevant to the query "
    "by providing a prediction of 'Yes' or 'No'. Yes No Query: Passage: Document:",
    "How do I install packages? Use pip install with the package name.",
    "Retrieval augmented generation answers questions from retrieved documents with citations.",
    "Given a query and a relevant document, retrieve documents relevant to the query",
]

SPECIAL_BERT = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _words() -> list[str]:
    words: set[str] = set()
    for line in CORPUS:
        for w in line.lower().replace(".", " . ").replace(",", " , ").replace("?", " ? ").replace(";", " ; ").replace("'", " ' ").replace(":", " : ").split():
            words.add(w)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.,;:?!'\"()-_/")
    return sorted(words) + letters + ["##" + ch for ch in letters]


def bert_tokenizer(folder: Path) -> BertTokenizerFast:
    folder.mkdir(parents=True, exist_ok=True)
    words = SPECIAL_BERT + sorted(set(_words()))
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True, model_max_length=128)


def bert_config(vocab_size: int, **extra) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=128, initializer_range=0.3, **extra,
    )


def build_encoder(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BERT (hidden 32) with a word-piece tokenizer."""
    torch.manual_seed(seed)
    tok = bert_tokenizer(folder)
    model = BertModel(bert_config(len(tok)))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_cross_encoder(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BERT with a one-logit classification head."""
    torch.manual_seed(seed)
    tok = bert_tokenizer(folder)
    model = BertForSequenceClassification(bert_config(len(tok), num_labels=1))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def llama_tokenizer() -> PreTrainedTokenizerFast:
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(CORPUS * 3, trainer=trainer)
    from tokenizers import decoders

    bpe.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", bos_token="<|endoftext|>", unk_token="<unk>",
        pad_token="<|endoftext|>", model_max_length=256,
    )


def build_decoder(folder: Path, seed: int = 0) -> Path:
    """A 2-layer Llama (hidden 32) causal LM with a byte-level BPE tokenizer trained on CORPUS."""
    torch.manual_seed(seed)
    tok = llama_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
        tie_word_embeddings=True, initializer_range=0.3,
    )
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_bag_of_words_encoder(folder: Path, seed: int = 0) -> Path:
    """A BERT with no transformer layer and zeroed position and token-type embeddings.

    Its token vectors are ``LayerNorm(word_embedding[token])``: a function of the token alone, whatever its
    neighbours or position. With ColBERT's MaxSim, a query token finds similarity exactly 1 in any window
    holding the same token, which lets tests reason about scores.
    """
    torch.manual_seed(seed)
    tok = bert_tokenizer(folder)
    config = bert_config(len(tok))
    config.num_hidden_layers = 0
    model = BertModel(config)
    with torch.no_grad():
        model.embeddings.position_embeddings.weight.zero_()
        model.embeddings.token_type_embeddings.weight.zero_()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def build_chat_decoder(folder: Path, seed: int = 0) -> Path:
    """The tiny Llama of :func:`build_decoder` with a ChatML chat template, like SmolLM2-Instruct's."""
    build_decoder(folder, seed=seed)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(folder)
    return folder

"""Fine-tuning embedders and rerankers on domain pairs, with IR evaluation (see the fine-tuning issue)."""

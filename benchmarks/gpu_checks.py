"""Half-precision and mixed-precision checks on a CUDA GPU (CI has none: run by hand where you have one).

Checks: MiniLM embeddings in fp16 on the GPU against float32 on the CPU (cosine); ColBERT scores in fp16 against
float32 (largest difference, same best passage); the LLM yes/no ranker's scores independent of the batch in
fp16; a few steps of embedder and reranker training (cross-encoder, ColBERT, LLM) with ``bf16=True`` and
``fp16=True``: gradient norms finite and non-zero, weights still float32, the saved model reloads with the
same vectors; and embedding throughput fp16 / fp32. Writes ``gpu_report.json`` to ``--out``.

Run: ``python benchmarks/gpu_checks.py [--model minilm] [--out DIR]``. Results measured on an H200 are in the
README ("GPU checks").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default="minilm", help="Encoder to check (bundled alias, folder or hub id).")
parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-checks")), help="Report folder.")
args = parser.parse_args()
if not torch.cuda.is_available():
    sys.exit("No CUDA GPU: these checks need one (the CPU paths are covered by the test suite).")
OUT = args.out
OUT.mkdir(parents=True, exist_ok=True)
report: dict = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}
import transformers  # noqa: E402

from retrievers import resolve_model  # noqa: E402

report["transformers"] = transformers.__version__
minilm = resolve_model(args.model).path
ROOT = Path(__file__).resolve().parents[1]

texts = []
for f in sorted((ROOT / "rag_app" / "sample_data").glob("*")):
    for para in f.read_text(errors="ignore").split("\n\n"):
        para = " ".join(para.split())
        if len(para) > 40:
            texts.append(para[:1200])
texts = (texts * 4)[:256]
queries = [t.split(".")[0][:120] for t in texts[:32]]
report["n_texts"] = len(texts)


def check(name):
    def wrap(fn):
        start = time.time()
        try:
            report[name] = fn()
        except Exception as exc:  # noqa: BLE001
            report[name] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-3000:]}
        report[name + "_seconds"] = round(time.time() - start, 1)
        print(name, json.dumps(report[name], default=str)[:2000], flush=True)
        return fn
    return wrap


@check("embedder_half_precision")
def _():
    from retrievers import AutoModelForEmbedding

    cpu = AutoModelForEmbedding.from_pretrained(str(minilm), device="cpu").encode(texts, convert_to_tensor=True)
    out = {}
    for label, kwargs in {"cuda_fp32": {}, "cuda_fp16": {"use_fp16": True}}.items():
        model = AutoModelForEmbedding.from_pretrained(str(minilm), device="cuda", **kwargs)
        vec = model.encode(texts, convert_to_tensor=True).float().cpu()
        cos = torch.nn.functional.cosine_similarity(vec, cpu.float())
        out[label] = {"min_cos_vs_cpu_fp32": float(cos.min()), "mean_cos": float(cos.mean()),
                      "dtype": str(next(model.model.parameters()).dtype)}
    return out


@check("colbert_half_precision")
def _():
    from retrievers import AutoModelForRanking

    docs = texts[:20]
    ref = AutoModelForRanking.from_pretrained(str(minilm), colbert=True, device="cpu")
    half = AutoModelForRanking.from_pretrained(str(minilm), colbert=True, device="cuda", use_fp16=True)
    out = {"max_abs_diff": 0.0, "top1_agree": 0}
    for q in queries[:10]:
        a = torch.tensor(ref.compute_score([(q, d) for d in docs]))
        b = torch.tensor(half.compute_score([(q, d) for d in docs]))
        out["max_abs_diff"] = max(out["max_abs_diff"], float((a - b).abs().max()))
        out["top1_agree"] += int(a.argmax() == b.argmax())
    return out


@check("llm_ranker_half_precision_batch_independence")
def _():
    from retrievers import AutoModelForRanking
    from tests.tiny_models import build_decoder

    folder = build_decoder(Path(tempfile.mkdtemp()) / "dec")
    docs = [t[: 40 + 13 * i] for i, t in enumerate(texts[:12])]
    out = {}
    for label, kwargs in {"fp32": {}, "fp16": {"use_fp16": True}}.items():
        model = AutoModelForRanking.from_pretrained(str(folder), causal_lm=True, device="cuda", **kwargs)
        together = torch.tensor(model.compute_score([(queries[0], d) for d in docs]))
        alone = torch.tensor([model.compute_score([(queries[0], d)])[0] for d in docs])
        out[label] = {"max_diff_batch_vs_single": float((together - alone).abs().max())}
    return out


def _pairs(n=96):
    return [{"query": queries[i % len(queries)] + f" ({i})", "positive": [texts[i % len(texts)]]} for i in range(n)]


def _grad_norms(result):
    return [h["grad_norm"] for h in result.history if "grad_norm" in h]


@check("train_embedder_mixed_precision")
def _():
    from finetune.training import train_embedder
    from retrievers import AutoModelForEmbedding

    out = {}
    for label in ("bf16", "fp16"):
        target = Path(tempfile.mkdtemp()) / label
        result = train_embedder(str(minilm), _pairs(), target, **{label: True}, device="cuda", max_steps=12,
                                batch_size=16, logging_steps=2, save_checkpoints=False, show_progress=False)
        norms = _grad_norms(result)
        weights = {str(p.dtype) for p in result.model.model.parameters()}
        reloaded = AutoModelForEmbedding.from_pretrained(str(target), device="cuda")
        a = result.model.encode(texts[:8], convert_to_tensor=True).float().cpu()
        b = reloaded.encode(texts[:8], convert_to_tensor=True).float().cpu()
        out[label] = {"grad_norms": norms, "losses": [h["loss"] for h in result.history if "loss" in h],
                      "weights": sorted(weights), "reload_min_cos": float(torch.nn.functional.cosine_similarity(a, b).min()),
                      "all_finite_nonzero": all(0 < n < float("inf") for n in norms)}
    return out


@check("train_rerankers_mixed_precision")
def _():
    from finetune.training import train_reranker
    from tests.tiny_models import build_decoder

    out = {}
    scored = [{"query": q, "document": d, "label": float(i % 2 == 0)} for i, (q, d) in
              enumerate(zip(queries * 3, texts[: len(queries) * 3], strict=False))]
    runs = {"cross-encoder": (str(minilm), scored), "colbert": (str(minilm), _pairs(64)),
            "llm": (str(build_decoder(Path(tempfile.mkdtemp()) / "dec")), scored)}
    for kind, (model, data) in runs.items():
        for label in ("bf16", "fp16"):
            try:
                result = train_reranker(model, data, Path(tempfile.mkdtemp()) / f"{kind}-{label}", kind=kind,
                                        **{label: True}, device="cuda", max_steps=8, batch_size=8,
                                        logging_steps=2, save_checkpoints=False, show_progress=False)
                norms = _grad_norms(result)
                out[f"{kind}/{label}"] = {"grad_norms": norms,
                                          "all_finite_nonzero": all(0 < n < float("inf") for n in norms)}
            except Exception as exc:  # noqa: BLE001
                out[f"{kind}/{label}"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


@check("embed_throughput_gpu")
def _():
    from retrievers import AutoModelForEmbedding

    many = texts * 400
    res = {}
    for label, kwargs in {"fp32": {}, "fp16": {"use_fp16": True}}.items():
        model = AutoModelForEmbedding.from_pretrained(str(minilm), device="cuda", **kwargs)
        model.encode(many[:64])
        torch.cuda.synchronize()
        start = time.perf_counter()
        model.encode(many, batch_size=128)
        torch.cuda.synchronize()
        res[label] = round(len(many) / (time.perf_counter() - start), 1)
    res["fp16_over_fp32"] = round(res["fp16"] / res["fp32"], 2)
    return res


(OUT / "gpu_report.json").write_text(json.dumps(report, indent=2, default=str))
print("DONE")

"""Checks and timings of embedkit's CUDA paths, for a machine with a CUDA GPU (the CPU test suite cannot run them).

    python benchmarks/cuda_check.py              # all-MiniLM-L6-v2 when installed, else a MiniLM-shaped random model
    python benchmarks/cuda_check.py --model PATH

Checks (exit status 1 when one fails):
- fp32 on the GPU matches fp32 on the CPU (max abs diff <= 1e-4);
- fp16 and bf16 models (``model_kwargs={"torch_dtype": ...}``) and bf16 autocast over fp32 weights stay within
  0.999 mean cosine of fp32;
- padded half-precision batches take the inference engine's variable-length attention route
  (encoders/engine/varlen.py) where the GPU runs FlashAttention, and its embeddings match padded attention (the
  engine's ``varlen_attention`` option off) within 0.9999 mean cosine;
- one bf16-autocast training step (the reference encoder) gives finite gradients.
Timings: bulk encode of a mixed-length corpus (sentences/s) for fp32 / fp16 / bf16, with and without the varlen
route, and single-query latency; sentence-transformers side by side when it is installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import embedkit.encoders.engine as engine
from embedkit import SentenceTransformer
from embedkit.encoders import BertModel, EncoderConfig, layers
from embedkit.encoders.convert import ek_to_hf
from embedkit.encoders.engine import attention as engine_attention
from embedkit.encoders.engine import varlen


def texts() -> list[str]:
    data = ROOT / "examples" / "data"
    sts = [line.split("\t")[0] for line in (data / "stsb" / "test.tsv").read_text().splitlines()[1:257]]
    docs = [json.loads(line) for line in (data / "scifact" / "corpus.jsonl").read_text().splitlines()[:256]]
    return sts + [f"{d['title']}. {d['text']}" for d in docs]


def random_minilm(folder: Path) -> str:
    """A MiniLM-shaped BERT (6 x 384, 12 heads) with random weights and the test fixtures' vocabulary."""
    from safetensors.torch import save_file

    vocab = ROOT / "tests" / "fixtures" / "tiny_bert_hf" / "vocab.txt"
    cfg = EncoderConfig(vocab_size=len(vocab.read_text().splitlines()), hidden_size=384, num_hidden_layers=6,
                        num_attention_heads=12, intermediate_size=1536)
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in BertModel(cfg).state_dict().items()}
    save_file(ek_to_hf(state, "bert"), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(cfg.to_hf_config()))
    (folder / "vocab.txt").write_text(vocab.read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    return str(folder)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.float().cpu(), b.float().cpu(), dim=-1).mean())


def count_varlen() -> list[bool]:
    """Record, per attention call over a packed batch, whether the varlen route took it."""
    taken: list[bool] = []
    real = varlen.varlen_attention

    def recording(*args, **kwargs):
        out = real(*args, **kwargs)
        taken.append(out is not None)
        return out

    engine_attention.varlen_attention = recording
    return taken


def set_varlen(enabled: bool) -> None:
    """The engine's default ``varlen_attention`` option (what ``EMBEDKIT_VARLEN`` sets at import)."""
    engine.DEFAULT_OPTIONS = dataclasses.replace(engine.DEFAULT_OPTIONS, varlen_attention=enabled)


def sentences_per_s(model, data: list[str], repeat: int = 3) -> float:
    model.encode(data[:64], batch_size=32)
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model.encode(data, batch_size=32, convert_to_tensor=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return len(data) / statistics.median(times)


def latency_ms(model, query: str, repeat: int = 100) -> float:
    for _ in range(10):
        model.encode(query)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model.encode(query)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2, else a random MiniLM shape)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    tmp = tempfile.TemporaryDirectory()
    path = args.model
    if path is None:
        try:
            from embedkit.default_model import default_model_path

            path = default_model_path()
        except FileNotFoundError:
            path = random_minilm(Path(tmp.name))
    data = texts()
    print(f"model {path}; {torch.cuda.get_device_name()}; torch {torch.__version__}")
    failures = []

    def check(name: str, ok: bool, detail: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            failures.append(name)

    fp32 = SentenceTransformer(path, device="cuda")
    ref = fp32.encode(data, convert_to_tensor=True)
    cpu = SentenceTransformer(path, device="cpu").encode(data[:64], convert_to_tensor=True)
    diff = float((ref[:64].cpu() - cpu).abs().max())
    check("fp32 GPU vs CPU", diff <= 1e-4, f"max abs diff {diff:.2e}")

    taken = count_varlen()
    half = {name: SentenceTransformer(path, device="cuda", model_kwargs={"torch_dtype": dtype})
            for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16))}
    for name, model in half.items():
        taken.clear()
        got = model.encode(data, convert_to_tensor=True)
        check(f"{name} vs fp32", cosine(got, ref) >= 0.999, f"mean cosine {cosine(got, ref):.5f}")
        used = any(taken)
        print(f"     {name}: varlen route taken in {sum(taken)} of {len(taken)} packed attention calls")
        set_varlen(False)
        padded = model.encode(data, convert_to_tensor=True)
        set_varlen(True)
        check(f"{name} varlen vs padded", cosine(got, padded) >= 0.9999 and (used or not varlen.applies(
            torch.zeros(1, 1, 32, dtype=got.dtype, device="cuda"), None, 0.0)),
              f"mean cosine {cosine(got, padded):.6f}, varlen used: {used}")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        auto = fp32.encode(data, convert_to_tensor=True)
    check("bf16 autocast vs fp32", cosine(auto, ref) >= 0.999, f"mean cosine {cosine(auto, ref):.5f}")

    batch = fp32.tokenize(data[:32])
    batch = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    fp32.train()
    for module in fp32.modules():  # dropout off
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        elif isinstance(module, layers.SelfAttention):
            module.dropout_p = 0.0
    fp32.zero_grad()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = fp32(dict(batch))["sentence_embedding"].float().pow(2).sum()
    loss.backward()
    grads = torch.cat([p.grad.flatten().float() for p in fp32.parameters() if p.grad is not None])
    fp32.eval()
    check("bf16 autocast training step", bool(torch.isfinite(grads).all()) and float(grads.norm()) > 0,
          f"gradient norm {float(grads.norm()):.3e}")

    rows = [("fp32", fp32)] + list(half.items())
    for name, model in rows:
        line = f"{name}: bulk {sentences_per_s(model, data):.0f} sent/s"
        set_varlen(False)
        line += f" (padded attention {sentences_per_s(model, data):.0f})"
        set_varlen(True)
        line += f", one query {latency_ms(model, data[0]):.2f} ms"
        print(line)
    try:
        from sentence_transformers import SentenceTransformer as ST

        st = ST(path, device="cuda")
        print(f"ST fp32: bulk {sentences_per_s(st, data):.0f} sent/s, one query {latency_ms(st, data[0]):.2f} ms")
        st_half = ST(path, device="cuda", model_kwargs={"torch_dtype": torch.float16})
        print(f"ST fp16: bulk {sentences_per_s(st_half, data):.0f} sent/s")
    except ImportError:
        print("sentence-transformers not installed: embedkit numbers only")
    print("all checks passed" if not failures else f"failed: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

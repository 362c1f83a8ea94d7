"""Peak activation memory of SPLADE pooling: embedkit's blocked MLM decoder vs building the full logits.

    python benchmarks/splade_memory.py                     # B=32, T=256, V=30,522, D=768 (BERT-base SPLADE shapes)
    python benchmarks/splade_memory.py --batch 8 --seq 512 --encode-layers 0

Each case runs in a fresh subprocess on the CPU, which resets its peak-RSS mark (``/proc/self/clear_refs``) after
building the weights and inputs, runs one forward pass under ``torch.inference_mode()``, and reports the growth of
the peak RSS (``VmHWM`` - ``VmRSS`` before the pass): the memory the pass itself needed. Cases:
- ``full logits``: the (B, T, V) fp32 logits are built in one matmul, then pooled (what materialising them costs);
- ``embedkit pooling``: MLMHead + SpladePooling from lazy logits, with ``chunk_size`` None (automatic blocking) and 32;
- ``embedkit encode``: ``SparseEncoder.encode`` end to end on a random BERT (``--encode-layers`` layers, hidden D,
  vocabulary V) over texts of exactly T tokens, batch B. This includes the encoder's own activations (attention
  scores, FFN), shown alone on the line above it; SPLADE adds little on top of them.
The figure printed is each peak relative to the size of the full fp32 logits tensor (B * T * V * 4 bytes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _measure(run) -> tuple[float, float]:
    """(peak growth in MiB, seconds) of ``run()``."""
    import gc

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _rss_kb("VmRSS")
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    return (_rss_kb("VmHWM") - before) / 1024, seconds


def _random_bert_folder(folder: Path, args: argparse.Namespace) -> None:
    """A random BertForMaskedLM checkpoint of the requested shape, with the tiny test tokenizer."""
    import shutil

    import torch
    from safetensors.torch import save_file

    from embedkit.encoders import EncoderConfig, build_encoder
    from embedkit.encoders.mlm_heads import ARCHITECTURES, MLMHead, masked_lm_hf_state_dict

    cfg = EncoderConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.encode_layers,
                        num_attention_heads=args.hidden // 64, intermediate_size=4 * args.hidden,
                        max_position_embeddings=max(512, args.seq))
    torch.manual_seed(0)
    encoder, head = build_encoder(cfg, add_pooler=False), MLMHead(cfg)
    hf = cfg.to_hf_config() | {"architectures": [ARCHITECTURES["bert"]], "tie_word_embeddings": True}
    (folder / "config.json").write_text(json.dumps(hf))
    save_file(masked_lm_hf_state_dict(encoder, head, "bert"), str(folder / "model.safetensors"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(ROOT / "tests" / "fixtures" / "se_bert_v6" / name, folder / name)


def child(case: str, args: argparse.Namespace) -> dict[str, float]:
    import torch

    from embedkit.encoders import EncoderConfig
    from embedkit.encoders.mlm_heads import MLMHead
    from embedkit.sparse_encoder.modules import SpladePooling

    torch.set_num_threads(args.threads)
    B, T, V, D = args.batch, args.seq, args.vocab, args.hidden
    if case in ("encode", "encoder"):
        from embedkit.sparse_encoder import SparseEncoder

        with tempfile.TemporaryDirectory() as tmp:
            _random_bert_folder(Path(tmp), args)
            model = SparseEncoder(tmp, device="cpu")
        model.max_seq_length = T
        texts = ["the " * (2 * T)] * B  # truncated to exactly T tokens
        model.encode(texts[:1])  # warm-up (lazy initialisation outside the measurement)
        if case == "encoder":  # the BERT encoder alone, for reference: its own activations, no MLM head
            features = model.preprocess(texts)

            def run_encoder():
                with torch.inference_mode():
                    model[0].auto_model(features["input_ids"], features["attention_mask"], features["token_type_ids"])

            peak, seconds = _measure(run_encoder)
        else:
            peak, seconds = _measure(lambda: model.encode(texts, batch_size=B))
        return {"peak_mib": peak, "seconds": seconds}

    cfg = EncoderConfig(vocab_size=V, hidden_size=D, num_hidden_layers=1, num_attention_heads=D // 64,
                        intermediate_size=4 * D)
    torch.manual_seed(0)
    head = MLMHead(cfg).eval()
    word_embeddings = torch.randn(V, D) * 0.05
    hidden = torch.randn(B, T, D)
    mask = torch.ones(B, T, dtype=torch.long)
    chunk = {"pooling_auto": None, "pooling_chunk32": 32}.get(case)
    pooling = SpladePooling("max", "relu", chunk_size=chunk)

    def run():
        with torch.inference_mode():
            logits = head.logits(hidden, word_embeddings)
            if case == "full_logits":
                logits = logits.materialize()  # (B, T, V) in one piece
            return pooling({"token_embeddings": logits, "attention_mask": mask})["sentence_embedding"]

    run()  # warm-up
    peak, seconds = _measure(run)
    return {"peak_mib": peak, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=30522)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--encode-layers", type=int, default=2, help="encoder layers of the end-to-end case (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return

    full_mib = args.batch * args.seq * args.vocab * 4 / 2**20
    print(f"B={args.batch} T={args.seq} V={args.vocab} D={args.hidden}: full fp32 logits = {full_mib:,.0f} MiB")
    cases = [("full_logits", "full logits, then pool"), ("pooling_auto", "embedkit pooling, chunk_size=None"),
             ("pooling_chunk32", "embedkit pooling, chunk_size=32")]
    if args.encode_layers > 0:
        cases.append(("encoder", f"  reference: the {args.encode_layers}-layer BERT encoder alone"))
        cases.append(("encode", f"embedkit SparseEncoder.encode ({args.encode_layers}-layer BERT)"))
    print(f"{'case':48s} {'peak MiB':>10s} {'of logits':>10s} {'seconds':>8s}")
    for case, label in cases:
        cmd = [sys.executable, __file__, "--child", case, "--batch", str(args.batch), "--seq", str(args.seq),
               "--vocab", str(args.vocab), "--hidden", str(args.hidden), "--threads", str(args.threads),
               "--encode-layers", str(args.encode_layers)]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
                            .splitlines()[-1])
        share = result["peak_mib"] / full_mib
        print(f"{label:48s} {result['peak_mib']:10.1f} {share:10.1%} {result['seconds']:8.2f}")


if __name__ == "__main__":
    main()

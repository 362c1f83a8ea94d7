"""Inference speed of embedkit vs sentence-transformers vs ONNX Runtime: same weights, same texts, same threads.

What it measures, per model and in ONE process (all setups loaded side by side, timed in alternating rounds whose
order rotates, so that drift in the machine's speed hits every setup alike):

1. Single-query latency: blocks of 60 queries of at most 120 characters, each encoded alone with ``model.encode(q)``
   (median and p90 over every query of every round, in ms). The queries are a fixed list: STS-B test sentences and
   SciFact titles picked by a fixed rule from the shared data, plus hand-written accented, non-Latin, CJK and emoji
   queries, many of which are longer than 64 tokens. Their fingerprint is checked against the committed one.
2. Bulk throughput: ``encode(texts, batch_size=32)`` on 256 STS-B sentences + 256 SciFact documents (sentences/s,
   median over rounds).

Setups (``--setups``, default all):

* ``st``              sentence-transformers ``SentenceTransformer`` (needs /root/venv6/bin/python or another
                      interpreter with sentence-transformers installed)
* ``embedkit``        ``embedkit.SentenceTransformer(path)``: the default inference path
* ``embedkit-frozen`` the same, then ``model.optimize_for_inference()`` (skipped when the method does not exist)
* ``ort``             ONNX Runtime fp32: the Hugging Face encoder exported with ``torch.onnx`` (dynamic batch and
                      sequence axes), BERT fusions from onnxruntime's transformer optimizer (fused op counts are
                      printed and checked), ``tokenizers`` tokenization, mean pooling / normalisation in numpy as
                      the model's modules.json and pooling config say. For MPNet models the optimizer fuses only
                      BiasGelu/SkipLayerNormalization (no Attention, no EmbedLayerNormalization): a warning says so
* ``ort-int8``        ``onnxruntime.quantization.quantize_dynamic`` of the optimised fp32 model, int8 weights with
                      per-channel scales (``--int8-per-tensor``: one scale per tensor, ORT's default, which costs
                      MiniLM ~0.05 of cosine); its mean cosine to the fp32 ORT embeddings is reported

Exports are cached under ~/.cache/embedkit-bench/onnx/<model-name>/ (rebuilt when the weights or the library
versions change). The max abs difference of every setup's embeddings to ST's (bulk texts and queries) is printed.
Speed ratios are "times faster than the reference": > 1 means the setup is faster than ST (or ORT).

``--busy-neighbour N`` starts N helper processes, runs the same comparison beside them and stops them at the end
(also on Ctrl-C, SIGTERM or an error; the helpers also die with this process). The load average is printed before
and after. ``--neighbour-kind spin`` (default): each helper spins a pure-Python loop pinned to one core (cores
0..N-1 in turn). ``--neighbour-kind torch``: each helper is another torch process multiplying (256, 384) by
(384, 1536) and back on ``--threads`` threads, unpinned, as a second model server on the same cores would.

    /root/venv6/bin/python benchmarks/inference_speed.py                    # MiniLM, all setups, 2 threads
    /root/venv6/bin/python benchmarks/inference_speed.py --quick            # a short check of the script
    /root/venv6/bin/python benchmarks/inference_speed.py --model ~/.cache/embedkit-dev/all-mpnet-base-v2 \\
        --threads 1 --rounds 20 --json mpnet.json
    /root/venv6/bin/python benchmarks/inference_speed.py --busy-neighbour 1 --setups embedkit ort
    /root/venv6/bin/python benchmarks/inference_speed.py --busy-neighbour 1 --neighbour-kind torch
    python benchmarks/inference_speed.py --quick      # main python: only the embedkit setups; the others are skipped
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import hashlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ALL_SETUPS = ["st", "embedkit", "embedkit-frozen", "ort", "ort-int8"]
CACHE_ROOT = Path.home() / ".cache" / "embedkit-bench" / "onnx"
MAX_QUERY_CHARS = 120
N_QUERIES = 60
# sha256 (first 16 hex digits) of "\n".join(build_queries(shared data)); a mismatch means the data or the rule changed
# and numbers are no longer comparable with earlier runs.
QUERIES_FINGERPRINT = "f7af54985a7ff833"

# Hand-written queries: accents, non-Latin scripts, CJK, emoji, symbols. Each is at most 120 characters; most CJK and
# mixed-script ones come to more than 64 WordPiece tokens.
HANDWRITTEN_QUERIES: list[str] = [
    "Crème brûlée recipe without a blowtorch — is a hot grill enough for the caramel?",
    "Ärztliche Schweigepflicht und Datenschutz: Welche Gesundheitsdaten darf die Krankenkasse über mich speichern?",
    "¿Cuál es la diferencia entre «ser» y «estar» cuando hablamos de emociones pasajeras o permanentes?",
    "Łódź, Kraków, Gdańsk i Wrocław: które miasto ma najtańsze mieszkania dla studentów w 2024 roku?",
    "Почему в Санкт-Петербурге белые ночи бывают только в июне и как это связано с наклоном земной оси?",
    "Ποια είναι η διαφορά μεταξύ της αρχαίας και της νέας ελληνικής προφοράς στα φωνήεντα και τις διφθόγγους;",
    "ما هي أفضل الطرق لتعلم البرمجة بلغة بايثون للمبتدئين دون خبرة سابقة في الرياضيات أو الحاسوب؟",
    "मशीन लर्निंग मॉडल को छोटे डेटासेट पर प्रशिक्षित करते समय ओवरफिटिंग से कैसे बचें, और क्रॉस-वैलिडेशन कब सबसे उपयोगी है?",
    "为什么深度学习模型在小数据集上容易过拟合？正则化、数据增强和提前停止分别在什么情况下最有效？如果只有几百条标注样本，是先做迁移学习还是先收集更多数据？请结合具体例子说明。",
    "北京到上海的高铁一般需要多长时间？二等座和一等座的票价差多少？节假日是否需要提前两周以上购票才能买到？带着两个小孩和一个大行李箱，选择哪个车站上车更方便一些？",
    "请比较向量数据库中余弦相似度、点积和欧氏距离这三种度量方式的优缺点，以及它们对归一化嵌入向量的影响。在百万级文档的语义检索场景下，索引类型又该如何选择才能兼顾召回率和延迟？",
    "蛋白质折叠问题为何如此困难？人工智能预测结构的方法与传统的分子动力学模拟相比有哪些根本区别和局限性？对于膜蛋白和内在无序蛋白，目前的预测结果可信度大概如何？",
    "東京で初めて一人暮らしをする大学生におすすめの区はどこですか？家賃、治安、通学の便利さを重視しています。月の予算は七万円くらいで、近くにスーパーと図書館があると助かります。",
    "日本語の敬語、特に尊敬語と謙譲語の使い分けが難しいです。ビジネスメールでよくある間違いを教えてください。取引先の部長に会議の日程変更をお願いする場合の自然な書き方も知りたいです。",
    "富士山に登るのに最適な時期と、初心者が高山病を防ぐために準備すべき装備や注意点を詳しく知りたいです。山小屋に泊まる場合の予約方法と、ご来光を見るための出発時刻の目安も教えてください。",
    "서울에서 부산까지 KTX로 가는 데 걸리는 시간과 요금은 얼마이며, 주말에는 미리 예약해야 하나요? "
    "부산역에서 해운대까지 지하철로 가는 방법과 소요 시간도 알려 주세요.",
    "한국어 존댓말과 반말의 차이를 외국인 학습자가 쉽게 이해할 수 있도록 예문과 함께 설명해 주세요. "
    "처음 만난 동료에게는 어떤 표현을 쓰는 것이 가장 자연스러운가요?",
    "🍕🍝🍷 best Italian food near me?? 😋🇮🇹 open late tonight 🌙 with vegan options 🌱 and outdoor seating ☀️",
    "My cat 🐱 keeps knocking 🥛 glasses off the table 😤🙀 — why do cats do this?! 🤔🐾 any tips? 🙏✨",
    "🚀📈 Is it too late to learn Rust 🦀 in 2025? Coming from Python 🐍 & JavaScript ☕️ — honest opinions 👀💬",
    "∀ε>0 ∃δ>0: |x−a|<δ ⇒ |f(x)−f(a)|<ε — why is this ε-δ definition of continuity equivalent to the sequential one?",
    "H₂O vs D₂O: why is heavy water (²H₂O) ~11% denser, and does it taste different? ⚗️🧪 ΔH, pKa, μ-values?",
    "ร้านอาหารไทยแถวสุขุมวิทที่เปิดดึกและมีเมนูมังสวิรัติ ราคาไม่แพง เดินทางด้วยรถไฟฟ้าสะดวก มีที่ไหนแนะนำบ้างคะ?",
    "二手笔记本电脑推荐：预算三千元以内，主要用于写代码和看网课，续航要长，重量最好不超过一点五公斤，哪些型号性价比最高？有没有需要避开的坑？另外屏幕素质和键盘手感对长时间编程影响大吗？",
    "Café ☕ in Zürich or Genève? 🇨🇭 Prix moyens, über 5 CHF pour un espresso — c'est normal ou trop cher? 🤷",
    "混合查询 mixed query: 如何在 PyTorch 中使用 torch.compile 加速 BERT 推理？"
    "CPU 上的 oneDNN 融合有用吗？批大小为一时延迟能降低多少？与导出到 ONNX 相比呢？🤖⚡",
]


# ---------------------------------------------------------------------------------------------------------------
# texts


def read_stsb(data: Path) -> list[tuple[str, str]]:
    with open(data / "stsb" / "test.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [(r[0], r[1]) for r in rows]


def read_scifact(data: Path) -> list[dict[str, Any]]:
    lines = (data / "beir" / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def spread(items: Sequence[str], n: int) -> list[str]:
    """``n`` items spread evenly over ``items`` (fixed rule: every k-th)."""
    if len(items) < n:
        raise ValueError(f"need {n} candidates, have {len(items)}")
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def build_queries(data: Path) -> list[str]:
    """The fixed 60 queries: 22 STS-B test sentences, 12 SciFact titles and the 26 hand-written ones."""
    seen: set[str] = set()
    sts_candidates = []
    for a, _ in read_stsb(data):
        a = a.strip()
        if 10 <= len(a) <= MAX_QUERY_CHARS and a not in seen:
            seen.add(a)
            sts_candidates.append(a)
    title_candidates = []
    for doc in read_scifact(data):
        title = doc["title"].strip()
        if 10 <= len(title) <= MAX_QUERY_CHARS and title not in seen:
            seen.add(title)
            title_candidates.append(title)
    queries = spread(sts_candidates, 22) + spread(title_candidates, 12) + HANDWRITTEN_QUERIES
    assert len(queries) == N_QUERIES, len(queries)
    too_long = [q for q in queries if len(q) > MAX_QUERY_CHARS]
    assert not too_long, f"queries over {MAX_QUERY_CHARS} characters: {too_long}"
    return queries


def build_bulk(data: Path, n_sts: int = 256, n_docs: int = 256) -> list[str]:
    """Mixed-length corpus: STS-B test sentences (short) and SciFact "title. abstract" documents (long)."""
    sts = [b for _, b in read_stsb(data)[:n_sts]]
    docs = [f"{d['title']}. {d['text']}" for d in read_scifact(data)[:n_docs]]
    return sts + docs


def fingerprint(texts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
# model folder (read the ST module layout without importing either library)


@dataclass
class FolderInfo:
    path: Path
    name: str
    max_seq_length: int
    pooling: dict[str, Any]
    normalize: bool
    unsupported_modules: list[str] = field(default_factory=list)


def model_name(path: Path) -> str:
    parts = [p for p in path.resolve().parts if p not in ("/", "")]
    name = parts[-1]
    if name in ("model", "models", "snapshot") and len(parts) > 1:
        name = parts[-2]
    for prefix in ("gt_", "models--"):
        name = name.removeprefix(prefix)
    return name


ST6_POOLING_MODES = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens",
                     "mean": "pooling_mode_mean_tokens", "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens"}


def read_folder(path: Path) -> FolderInfo:
    modules = json.loads((path / "modules.json").read_text()) if (path / "modules.json").exists() else []
    pooling: dict[str, Any] = {}
    normalize = False
    unsupported = []
    for module in modules:
        kind = module["type"].rsplit(".", 1)[-1]
        if kind == "Transformer":
            continue
        if kind == "Pooling":
            pooling = json.loads((path / module["path"] / "config.json").read_text())
            modes = pooling.get("pooling_mode")  # sentence-transformers 6 writes "pooling_mode": "mean" (or a list)
            for mode in [modes] if isinstance(modes, str) else modes or []:
                pooling[ST6_POOLING_MODES.get(mode, f"pooling_mode_{mode}")] = True
        elif kind == "Normalize":
            normalize = True
        else:
            unsupported.append(module["type"])
    config = json.loads((path / "config.json").read_text())
    max_len = None
    if (path / "sentence_bert_config.json").exists():
        max_len = json.loads((path / "sentence_bert_config.json").read_text()).get("max_seq_length")
    if max_len is None and (path / "tokenizer_config.json").exists():
        tok_max = json.loads((path / "tokenizer_config.json").read_text()).get("model_max_length")
        if isinstance(tok_max, int) and tok_max < 100_000:
            max_len = tok_max
    if max_len is None:
        max_len = int(config.get("max_position_embeddings", 512))
    return FolderInfo(path, model_name(path), int(max_len), pooling, normalize, unsupported)


# ---------------------------------------------------------------------------------------------------------------
# ONNX Runtime setups


def pool_numpy(hidden: np.ndarray, mask: np.ndarray, pooling: dict[str, Any], normalize: bool) -> np.ndarray:
    """Pooling + Normalize as the ST modules do, in numpy. ``hidden`` (B, T, H) float32, ``mask`` (B, T) int."""
    m = mask[..., None].astype(hidden.dtype)
    parts = []
    if pooling.get("pooling_mode_cls_token"):
        parts.append(hidden[:, 0])
    if pooling.get("pooling_mode_max_tokens"):
        parts.append(np.where(m > 0, hidden, np.float32(-1e9)).max(axis=1))
    if pooling.get("pooling_mode_mean_tokens") or pooling.get("pooling_mode_mean_sqrt_len_tokens"):
        summed = (hidden * m).sum(axis=1)
        counts = np.maximum(m.sum(axis=1), np.float32(1e-9))
        if pooling.get("pooling_mode_mean_tokens"):
            parts.append(summed / counts)
        if pooling.get("pooling_mode_mean_sqrt_len_tokens"):
            parts.append(summed / np.sqrt(counts))
    out = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    if normalize:
        out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))
    return out.astype(np.float32, copy=False)


def pooling_supported(pooling: dict[str, Any]) -> str | None:
    known = {"pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_tokens",
             "pooling_mode_mean_sqrt_len_tokens"}
    other = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v and k not in known]
    if other:
        return f"pooling modes {other} not implemented in the numpy pooling"
    if not any(pooling.get(k) for k in known):
        return "no pooling mode set"
    return None


def file_key(path: Path) -> dict[str, Any]:
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
    return {"source": str(path.resolve()), "weights": [[p.name, p.stat().st_size, int(p.stat().st_mtime)]
                                                        for p in weights]}


def export_onnx(info: FolderInfo, out: Path) -> list[str]:
    """Export the HF encoder (last_hidden_state only) with the TorchScript-based torch.onnx exporter, dynamic batch
    and sequence axes. Returns the graph's input names."""
    import inspect

    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(info.path), attn_implementation="eager").eval()
    takes_types = "token_type_ids" in inspect.signature(model.forward).parameters and \
        getattr(model.config, "type_vocab_size", 0) > 0
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if takes_types else [])

    class Encoder(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    sample = torch.ones(2, 16, dtype=torch.long)
    sample_mask = torch.ones(2, 16, dtype=torch.long)
    sample_mask[1, 10:] = 0
    args = (sample, sample_mask) + ((torch.zeros(2, 16, dtype=torch.long),) if takes_types else ())
    axes = {n: {0: "batch", 1: "sequence"} for n in names + ["last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder(model), args, str(out), input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, do_constant_folding=True, dynamo=False)
    return names


def prepare_onnx(info: FolderInfo, want_int8: bool,
                 per_channel: bool = True) -> tuple[Path, Path | None, dict[str, Any]]:
    """Export + optimise (+ quantize) into the cache, reusing what is there when the key matches. Returns the
    optimised fp32 path, the int8 path and the fused operator counts."""
    import onnxruntime
    import torch
    import transformers

    cache = CACHE_ROOT / info.name
    cache.mkdir(parents=True, exist_ok=True)
    key = file_key(info.path) | {"torch": torch.__version__, "transformers": transformers.__version__,
                                 "onnxruntime": onnxruntime.__version__, "format": 1}
    meta_path = cache / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    raw, opt = cache / "model.onnx", cache / "model-optimized.onnx"
    int8 = cache / f"model-optimized-int8-{'per-channel' if per_channel else 'per-tensor'}.onnx"
    if meta.get("key") != key or not opt.exists():
        for p in [raw, opt, *cache.glob("model-optimized-int8*.onnx")]:
            p.unlink(missing_ok=True)
        start = time.perf_counter()
        tmp = cache / "model.onnx.tmp"
        names = export_onnx(info, tmp)
        tmp.replace(raw)
        print(f"  exported {raw} ({time.perf_counter() - start:.1f} s)")
        config = json.loads((info.path / "config.json").read_text())
        from onnxruntime.transformers.optimizer import optimize_model

        with contextlib.redirect_stdout(sys.stderr):
            optimized = optimize_model(str(raw), model_type="bert", num_heads=int(config["num_attention_heads"]),
                                       hidden_size=int(config["hidden_size"]), use_gpu=False)
        fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        tmp = cache / "model-optimized.onnx.tmp"
        optimized.save_model_to_file(str(tmp))
        tmp.replace(opt)
        meta = {"key": key, "inputs": names, "fused": fused, "layers": int(config.get("num_hidden_layers", 0))}
        meta_path.write_text(json.dumps(meta, indent=1))
    if want_int8 and not int8.exists():
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = cache / "int8.tmp.onnx"
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            # the fused com.microsoft ops defeat ONNX shape inference: their outputs are float32
            quantize_dynamic(str(opt), str(tmp), weight_type=QuantType.QInt8, per_channel=per_channel,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        tmp.replace(int8)
        print(f"  quantized {int8}")
    return opt, (int8 if want_int8 else None), meta


class OrtEncoder:
    """A minimal ``encode`` over an ONNX Runtime session: ``tokenizers`` tokenization (truncated to the model's max
    length), length-sorted batches padded to their longest text, numpy pooling/normalisation."""

    def __init__(self, onnx_path: Path, info: FolderInfo, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(info.path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=info.max_seq_length)
        self.pad_id = self._pad_id(info.path)
        self.pooling, self.normalize = info.pooling, info.normalize

    def _pad_id(self, path: Path) -> int:
        special = {}
        if (path / "special_tokens_map.json").exists():
            special = json.loads((path / "special_tokens_map.json").read_text())
        pad = special.get("pad_token", "[PAD]")
        pad = pad["content"] if isinstance(pad, dict) else pad
        pad_id = self.tokenizer.token_to_id(pad)
        return 0 if pad_id is None else pad_id

    def _run(self, encodings: Sequence[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = 1
            types[row, :n] = e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self.session.run(None, {name: feeds[name] for name in self.input_names})[0]
        return pool_numpy(hidden, mask, self.pooling, self.normalize)

    def encode(self, sentences: str | list[str], batch_size: int = 32) -> np.ndarray:
        if isinstance(sentences, str):
            return self._run([self.tokenizer.encode(sentences)])[0]
        encodings = self.tokenizer.encode_batch(sentences)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        out = np.empty((len(sentences), 0), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            emb = self._run([encodings[i] for i in idx])
            if out.shape[1] == 0:
                out = np.empty((len(sentences), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
        return out


# ---------------------------------------------------------------------------------------------------------------
# busy neighbours

NEIGHBOUR_CODE = r"""
import ctypes, os, sys
core, parent = int(sys.argv[1]), int(sys.argv[2])
try:  # die with the parent even if it is killed hard (Linux PR_SET_PDEATHSIG = 1, SIGKILL = 9)
    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)
except Exception:
    pass
if os.getppid() != parent:
    sys.exit(0)
os.sched_setaffinity(0, {core})
x = 0.0
while True:
    for _ in range(2_000_000):
        x = x * 0.999999 + 1.0
    if os.getppid() != parent:
        sys.exit(0)
"""

TORCH_NEIGHBOUR_CODE = r"""
import ctypes, os, sys
threads, parent = int(sys.argv[1]), int(sys.argv[2])
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)
except Exception:
    pass
if os.getppid() != parent:
    sys.exit(0)
import torch
torch.set_num_threads(threads)
x, up, down = torch.randn(256, 384), torch.randn(1536, 384), torch.randn(384, 1536)
with torch.inference_mode():
    while True:
        for _ in range(50):
            torch.nn.functional.linear(torch.nn.functional.linear(x, up), down)
        if os.getppid() != parent:
            sys.exit(0)
"""


@contextlib.contextmanager
def busy_neighbours(n: int, kind: str = "spin", threads: int = 2) -> Iterator[list[subprocess.Popen]]:
    """N helper processes, each spinning on one core (the CPUs this process may use, 0..N-1 in turn) or, with
    ``kind="torch"``, each multiplying matrices with torch on ``threads`` threads; stopped on exit, Ctrl-C,
    SIGTERM/SIGHUP or an exception."""
    if n <= 0:
        yield []
        return
    cores = sorted(os.sched_getaffinity(0))
    procs: list[subprocess.Popen] = []

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for i in range(n):
            if kind == "torch":
                procs.append(subprocess.Popen([sys.executable, "-c", TORCH_NEIGHBOUR_CODE, str(threads),
                                               str(os.getpid())], stdin=subprocess.DEVNULL))
                print(f"busy neighbour pid {procs[-1].pid} multiplying with torch on {threads} threads")
                continue
            core = cores[i % len(cores)]
            procs.append(subprocess.Popen([sys.executable, "-c", NEIGHBOUR_CODE, str(core), str(os.getpid())],
                                          stdin=subprocess.DEVNULL))
            print(f"busy neighbour pid {procs[-1].pid} spinning on core {core}")
        time.sleep(3.0 if kind == "torch" else 1.0)
        dead = [p.pid for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"busy neighbours {dead} exited at once")
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if procs:
            print(f"stopped {len(procs)} busy neighbour(s): "
                  + ", ".join(f"{p.pid} (exit {p.returncode})" for p in procs))


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


# ---------------------------------------------------------------------------------------------------------------
# measurement


@dataclass
class Setup:
    name: str
    model: Any
    single_ms: list[float] = field(default_factory=list)
    bulk_s: list[float] = field(default_factory=list)
    query_emb: np.ndarray | None = None
    bulk_emb: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def load_setups(wanted: list[str], info: FolderInfo, threads: int,
                int8_per_channel: bool = True) -> tuple[list[Setup], dict[str, str]]:
    setups: list[Setup] = []
    skipped: dict[str, str] = {}
    if "st" in wanted:
        try:
            from sentence_transformers import SentenceTransformer as ST
        except ImportError as exc:
            skipped["st"] = f"sentence-transformers not importable under {sys.executable} ({exc.name or exc})"
        else:
            setups.append(Setup("st", ST(str(info.path), device="cpu")))
    if "embedkit" in wanted or "embedkit-frozen" in wanted:
        from embedkit import SentenceTransformer as EK

        if "embedkit" in wanted:
            setups.append(Setup("embedkit", EK(str(info.path), device="cpu")))
        if "embedkit-frozen" in wanted:
            model = EK(str(info.path), device="cpu")
            if not hasattr(model, "optimize_for_inference"):
                skipped["embedkit-frozen"] = "this embedkit has no SentenceTransformer.optimize_for_inference()"
            else:
                model = model.optimize_for_inference()
                setup = Setup("embedkit-frozen", model)
                if not getattr(model, "optimized_for_inference", False):
                    setup.notes.append("optimize_for_inference() left the model on the default path")
                setups.append(setup)
    want_ort = [s for s in ("ort", "ort-int8") if s in wanted]
    if want_ort:
        reason = None
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:
            reason = f"{exc.name or exc} not importable under {sys.executable}"
        if reason is None and info.unsupported_modules:
            reason = f"modules {info.unsupported_modules} are not reproduced in the numpy pipeline"
        if reason is None:
            reason = pooling_supported(info.pooling)
        if reason is None and not (info.path / "tokenizer.json").exists():
            reason = "no tokenizer.json in the model folder"
        if reason is None:
            opt, int8, meta = prepare_onnx(info, "ort-int8" in want_ort, int8_per_channel)
            fused = meta.get("fused", {})
            layers = meta.get("layers", 0)
            print(f"  ORT fused operators: {fused or 'none'}")
            missing = [op for op in ("Attention", "SkipLayerNormalization") if fused.get(op, 0) < layers]
            if not fused.get("EmbedLayerNormalization"):
                missing.append("EmbedLayerNormalization")
            note = f"BERT fusions incomplete (expected per layer: {missing})" if missing else None
            if note:
                print(f"  WARNING: {note}")
            if "ort" in want_ort:
                setups.append(Setup("ort", OrtEncoder(opt, info, threads), notes=[note] if note else []))
            if int8 is not None:
                kind = "per-channel" if int8_per_channel else "per-tensor"
                setups.append(Setup("ort-int8", OrtEncoder(int8, info, threads),
                                    notes=[f"{kind} int8 weights"] + ([note] if note else [])))
        else:
            for s in want_ort:
                skipped[s] = reason
    return setups, skipped


def time_queries(setup: Setup, queries: Sequence[str]) -> None:
    encode = setup.model.encode
    clock = time.perf_counter
    gc.collect()
    for q in queries:
        start = clock()
        encode(q)
        setup.single_ms.append((clock() - start) * 1000)


def time_bulk(setup: Setup, texts: list[str], batch_size: int) -> None:
    gc.collect()
    start = time.perf_counter()
    setup.model.encode(texts, batch_size=batch_size)
    setup.bulk_s.append(time.perf_counter() - start)


def measure(setups: list[Setup], queries: list[str], bulk: list[str], rounds: int, batch_size: int) -> None:
    for setup in setups:  # warm-up, and the embeddings that are compared
        setup.model.encode(bulk[:batch_size], batch_size=batch_size)
        setup.query_emb = np.stack([np.asarray(setup.model.encode(q), dtype=np.float32) for q in queries])
        setup.bulk_emb = np.asarray(setup.model.encode(bulk, batch_size=batch_size), dtype=np.float32)
    for r in range(rounds):
        order = setups[r % len(setups):] + setups[:r % len(setups)]
        for setup in order:
            time_queries(setup, queries)
        for setup in order[::-1]:
            time_bulk(setup, bulk, batch_size)
        print(f"  round {r + 1}/{rounds} done (load average {loadavg()})", flush=True)


def summarise(setups: list[Setup], n_bulk: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for s in setups:
        ms = np.asarray(s.single_ms)
        out[s.name] = {
            "single_ms_median": float(np.median(ms)), "single_ms_p90": float(np.percentile(ms, 90)),
            "single_ms_mean": float(ms.mean()), "single_samples": int(ms.size),
            "bulk_sent_per_s": n_bulk / statistics.median(s.bulk_s), "bulk_rounds_s": s.bulk_s,
            "notes": s.notes,
        }
    by_name = {s.name: s for s in setups}
    for ref in ("st", "ort"):
        if ref not in out:
            continue
        for row in out.values():
            row[f"single_speedup_vs_{ref}"] = out[ref]["single_ms_median"] / row["single_ms_median"]
            row[f"bulk_speedup_vs_{ref}"] = row["bulk_sent_per_s"] / out[ref]["bulk_sent_per_s"]
    if "st" in by_name:
        st = by_name["st"]
        for s in setups:
            out[s.name]["max_abs_diff_vs_st_bulk"] = float(np.abs(s.bulk_emb - st.bulk_emb).max())
            out[s.name]["max_abs_diff_vs_st_queries"] = float(np.abs(s.query_emb - st.query_emb).max())
    if "ort" in by_name and "ort-int8" in by_name:
        a, b = by_name["ort"].bulk_emb, by_name["ort-int8"].bulk_emb
        cos = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        out["ort-int8"]["mean_cosine_to_ort_fp32_bulk"] = float(cos.mean())
        out["ort-int8"]["min_cosine_to_ort_fp32_bulk"] = float(cos.min())
    return out


def print_table(results: dict[str, dict[str, Any]], skipped: dict[str, str]) -> None:
    def ratio(row: dict[str, Any], ref: str) -> str:
        if f"single_speedup_vs_{ref}" not in row:
            return "-"
        return f"{row[f'single_speedup_vs_{ref}']:.2f} / {row[f'bulk_speedup_vs_{ref}']:.2f}"

    head = (f"{'setup':<16} | {'single ms med / p90':>19} | {'bulk sent/s':>11} | {'vs ST (1q / bulk)':>17} | "
            f"{'vs ORT (1q / bulk)':>18} | {'max|diff| vs ST':>15}")
    print(head)
    print("-" * len(head))
    for name in ALL_SETUPS:
        if name in results:
            row = results[name]
            diff = row.get("max_abs_diff_vs_st_bulk")
            print(f"{name:<16} | {row['single_ms_median']:8.2f} / {row['single_ms_p90']:8.2f} | "
                  f"{row['bulk_sent_per_s']:11.1f} | {ratio(row, 'st'):>17} | {ratio(row, 'ort'):>18} | "
                  f"{'-' if diff is None else f'{diff:.1e}':>15}")
        elif name in skipped:
            print(f"{name:<16} | skipped: {skipped[name]}")
    print("ratios: times faster than the reference (> 1 = faster); single = median latency, bulk = sentences/s")
    for name, row in results.items():
        extras = []
        if "max_abs_diff_vs_st_queries" in row:
            extras.append(f"max|diff| vs ST on the 60 queries {row['max_abs_diff_vs_st_queries']:.1e}")
        if "mean_cosine_to_ort_fp32_bulk" in row:
            extras.append(f"cosine to ORT fp32 mean {row['mean_cosine_to_ort_fp32_bulk']:.5f} "
                          f"(min {row['min_cosine_to_ort_fp32_bulk']:.5f})")
        extras += row["notes"]
        if extras:
            print(f"  {name}: " + "; ".join(extras))


def count_long(queries: Sequence[str], info: FolderInfo, setups: list[Setup]) -> int | None:
    """How many queries exceed 64 tokens (special tokens included) with this model's tokenizer."""
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(info.path / "tokenizer.json"))
    except (ImportError, OSError):
        for s in setups:
            if s.name.startswith("embedkit"):
                mask = s.model.tokenize(list(queries))["attention_mask"]
                return int((np.asarray(mask).sum(1) > 64).sum())
        return None
    tok.no_truncation()
    tok.no_padding()
    return sum(len(e.ids) > 64 for e in tok.encode_batch(list(queries)))


def run_model(path: Path, args: argparse.Namespace, queries: list[str], bulk: list[str]) -> dict[str, Any]:
    info = read_folder(path)
    print(f"\n=== {info.name} ({path}) ===")
    setups, skipped = load_setups(args.setups, info, args.threads, not args.int8_per_tensor)
    if not setups:
        for name, reason in skipped.items():
            print(f"  skip {name}: {reason}")
        return {"path": str(path), "skipped": skipped, "setups": {}}
    n_long = count_long(queries, info, setups)
    print(f"  {len(queries)} queries ({n_long} over 64 tokens), bulk {len(bulk)} texts at batch size "
          f"{args.batch_size}, max_seq_length {info.max_seq_length}, {args.rounds} rounds, {args.threads} threads")
    measure(setups, queries, bulk, args.rounds, args.batch_size)
    results = summarise(setups, len(bulk))
    print()
    print_table(results, skipped)
    return {"path": str(path), "name": info.name, "max_seq_length": info.max_seq_length,
            "queries_over_64_tokens": n_long, "setups": results, "skipped": skipped}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", help="model folder(s) (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--setups", nargs="+", default=ALL_SETUPS, choices=ALL_SETUPS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (each: 60 queries + one bulk pass)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--busy-neighbour", type=int, default=0, metavar="N",
                        help="run beside N busy processes (see --neighbour-kind)")
    parser.add_argument("--neighbour-kind", choices=("spin", "torch"), default="spin",
                        help="spin: a pure-Python loop pinned to one core; torch: torch GEMMs on --threads threads")
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds on a 64-text bulk corpus: checks the script, numbers are not meaningful")
    parser.add_argument("--int8-per-tensor", action="store_true",
                        help="ort-int8 with one scale per weight tensor (default: per output channel; per tensor "
                             "costs all-MiniLM-L6-v2 about 0.05 of mean cosine)")
    parser.add_argument("--json", metavar="OUT", help="write all numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 2

    import torch

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    queries = build_queries(data)
    bulk = build_bulk(data, 32, 32) if args.quick else build_bulk(data)
    fp = fingerprint(queries)
    if fp != QUERIES_FINGERPRINT:
        print(f"WARNING: query fingerprint {fp} != committed {QUERIES_FINGERPRINT}: the data or the selection rule "
              "changed, numbers are not comparable with earlier runs")
    if args.model:
        paths = [Path(p).expanduser() for p in args.model]
    else:
        from embedkit.default_model import default_model_path

        paths = [Path(default_model_path())]
    meta: dict[str, Any] = {
        "python": sys.executable, "torch": torch.__version__, "threads": args.threads, "rounds": args.rounds,
        "batch_size": args.batch_size, "quick": args.quick, "busy_neighbours": args.busy_neighbour,
        "neighbour_kind": args.neighbour_kind, "openmp_small_calls": os.environ.get("EMBEDKIT_OPENMP_SMALL_CALLS"),
        "cpu": platform.processor() or platform.machine(), "cpus_available": len(os.sched_getaffinity(0)),
        "queries_fingerprint": fp, "n_queries": len(queries), "n_bulk": len(bulk), "date": time.strftime("%F %T %Z"),
    }
    for mod in ("sentence_transformers", "onnxruntime", "transformers"):
        with contextlib.suppress(ImportError):
            meta[mod] = __import__(mod).__version__
    print(f"python {sys.executable}; torch {torch.__version__}; {args.threads} threads; "
          f"{meta['cpus_available']} CPUs available; " + "; ".join(
              f"{m} {meta[m]}" for m in ("sentence_transformers", "onnxruntime", "transformers") if m in meta))
    meta["loadavg_before"] = loadavg()
    print(f"load average before: {meta['loadavg_before']}")
    models: dict[str, Any] = {}
    try:
        with busy_neighbours(args.busy_neighbour, args.neighbour_kind, args.threads):
            for path in paths:
                models[str(path)] = run_model(path, args, queries, bulk)
            meta["loadavg_after_with_neighbours"] = loadavg()
    finally:
        meta["loadavg_after"] = loadavg()
        after = meta["loadavg_after"]
        print(f"load average after: {meta.get('loadavg_after_with_neighbours', '?')} (before stopping neighbours), "
              f"{after} (now)" if args.busy_neighbour else f"load average after: {after}")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "queries": queries, "models": models}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

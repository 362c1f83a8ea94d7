"""Resident memory of embedkit vs sentence-transformers doing the same inference work, a fresh process per measurement.

    python benchmarks/inference_memory.py --python /root/venv6/bin/python            # all-MiniLM-L6-v2, all setups
    python benchmarks/inference_memory.py --python /root/venv6/bin/python \
        --model ~/.cache/embedkit-dev/all-mpnet-base-v2
    python benchmarks/inference_memory.py --python /root/venv6/bin/python --quick    # counts / 10, to check the script
    python benchmarks/inference_memory.py --setups embedkit embedkit-frozen --phases steady --json out.json

Every (setup, phase) pair runs in its own child process, started with the interpreter given by ``--python`` (default:
this one), with the same thread count (``--threads``, default 2; also exported as OMP/MKL_NUM_THREADS), so that one
library's allocations (or one phase's) never count for another. The child loads the texts first (the same for every
setup), records that baseline RSS, and only then imports the library. Setups:

- ``st``: sentence_transformers.SentenceTransformer (skipped with a one-line reason when not importable by --python);
- ``embedkit``: embedkit.SentenceTransformer on its default inference path (embedkit is taken from this checkout);
- ``embedkit-frozen``: the same, then ``model.optimize_for_inference()`` (skipped when the method does not exist).

Phases (counts are divided by 10 with ``--quick``):

1. ``peak``: peak RSS (``VmHWM`` from /proc/self/status, and ``ru_maxrss``) over import + load + 1,000 mixed encodes:
   ~40% single STS-B sentences, the rest batches of 2-32 texts (log-uniform) mixing STS-B sentences with ~25% SciFact
   documents (truncated at the model's max_seq_length); the second call is always 32 documents (the largest batch).
   The plan is drawn from a fixed seed, so every setup does identical work.
2. ``steady``: ``VmRSS`` during 2,000 single-query encodes, sampled every 250 queries; reports the first and the last
   sample and the growth after the first 500 queries (last sample - sample at 500).
3. ``to``: after 100 bulk mixed encodes (the start of the same plan), 5 cycles of ``model.to(DTYPE)``, encode,
   ``model.to(torch.float32)``, encode (a batch and a single query each time); RSS after each cycle; growth = last
   cycle - RSS before the first. DTYPE is bfloat16 when oneDNN has native bf16 on this CPU, else float64
   (``--move-dtype`` overrides). A frozen embedkit model must refuse the move (RuntimeError): the row then says
   whether it did. Only dtype moves are measured: device moves would need CUDA, which the output reports as
   (un)available.

Before each RSS sample the child runs ``gc.collect()``; ``--trim`` also calls glibc's ``malloc_trim(0)`` there, which
separates memory the allocator merely keeps cached from memory still referenced. MiB = 2**20 bytes throughout. The
printed table (one per ``--model``) has the ratio embedkit / ST for peak and last steady RSS (< 1: embedkit uses less).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Keep this module's top level light (no torch, no numpy): the children's baseline RSS must not depend on it.
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SETUPS = ("st", "embedkit", "embedkit-frozen")
PHASES = ("peak", "steady", "to")
RESULT_TAG = "@@inference_memory@@ "
FULL_COUNTS = {"mixed_encodes": 1000, "single_queries": 2000, "sample_every": 250, "growth_after": 500,
               "bulk_encodes": 100, "cycles": 5}


# ---------------------------------------------------------------------------------------------------------- child side

def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _mib(kb: int) -> float:
    return kb / 1024


class Sampler:
    """RSS readings of this process, after a gc pass (and malloc_trim with ``trim``)."""

    def __init__(self, trim: bool) -> None:
        self.trim: Callable[[int], int] | None = None
        if trim:
            import ctypes

            try:
                self.trim = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):
                print("malloc_trim not available: --trim ignored", file=sys.stderr)

    def rss(self) -> float:
        import gc

        gc.collect()
        if self.trim is not None:
            self.trim(0)
        return _mib(_status_kb("VmRSS"))


def load_texts(data: Path, max_docs: int = 600) -> dict[str, list[str]]:
    """STS-B test sentences (both columns) and the first ``max_docs`` SciFact documents (title. abstract)."""
    rows = (data / "stsb" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    sentences = [s for row in rows for s in row.split("\t")[:2]]
    docs = []
    with (data / "beir" / "scifact" / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            docs.append(f"{d['title']}. {d['text']}")
            if len(docs) >= max_docs:
                break
    return {"sentences": sentences, "docs": docs}


def mixed_plan(texts: dict[str, list[str]], n: int, seed: int) -> list[str | list[str]]:
    """``n`` encode calls: ~40% one STS-B sentence (a str), the rest batches of 2-32 texts (log-uniform sizes, so
    small batches are the common case), ~75% STS-B sentences and ~25% SciFact documents. The second call is always
    the worst case, 32 documents (truncated at max_seq_length), so that even a short plan reaches the activation peak
    of the largest batch."""
    rng = random.Random(seed)
    plan: list[str | list[str]] = []
    for _ in range(n):
        if rng.random() < 0.4:
            plan.append(rng.choice(texts["sentences"]))
        else:
            size = min(32, int(2 * 16 ** rng.random()))
            plan.append([rng.choice(texts["docs"] if rng.random() < 0.25 else texts["sentences"])
                         for _ in range(size)])
    if n >= 2:
        plan[1] = texts["docs"][:32]
    return plan


def _encode(model: Any, item: str | list[str]) -> None:
    model.encode(item, batch_size=32, show_progress_bar=False)


def _load_model(setup: str, path: str) -> tuple[Any, dict[str, Any]]:
    """The model of ``setup`` on the CPU, and notes about it. Raises ImportError / _Skip for a setup that cannot run."""
    info: dict[str, Any] = {}
    if setup == "st":
        from sentence_transformers import SentenceTransformer, __version__

        info["library"] = f"sentence-transformers {__version__}"
        return SentenceTransformer(path, device="cpu"), info
    sys.path.insert(0, str(ROOT))
    import embedkit
    from embedkit import SentenceTransformer

    info["library"] = f"embedkit {getattr(embedkit, '__version__', '?')} ({Path(embedkit.__file__).parent})"
    model = SentenceTransformer(path, device="cpu")
    if setup == "embedkit-frozen":
        if not hasattr(model, "optimize_for_inference"):
            raise _Skip("SentenceTransformer.optimize_for_inference does not exist in this embedkit")
        model = model.optimize_for_inference()
        info["optimized_for_inference"] = bool(getattr(model, "optimized_for_inference", False))
    return model, info


class _Skip(Exception):
    pass


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def _move_dtype(choice: str) -> str:
    import torch

    if choice != "auto":
        return choice
    try:
        native_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native_bf16 = False
    return "bfloat16" if native_bf16 else "float64"


def child(setup: str, phase: str, args: argparse.Namespace) -> dict[str, Any]:
    here = Path(__file__).resolve().parent  # benchmarks/ must not shadow any top-level module of the libraries
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    counts = {k: max(1, v // 10) if args.quick and k != "cycles" else v for k, v in FULL_COUNTS.items()}
    sampler = Sampler(args.trim)
    texts = load_texts(Path(args.data))
    plan_size = counts["mixed_encodes"] if phase == "peak" else counts["bulk_encodes"] if phase == "to" else 0
    plan = mixed_plan(texts, plan_size, args.seed)
    queries = random.Random(args.seed + 1).sample(texts["sentences"], len(texts["sentences"]))
    out: dict[str, Any] = {"setup": setup, "phase": phase, "counts": counts, "rss_baseline_mib": sampler.rss()}

    start = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    out["threads"] = torch.get_num_threads()
    out["torch"] = torch.__version__
    out["cuda_available"] = torch.cuda.is_available()
    try:
        model, info = _load_model(setup, args.model)
    except ImportError as exc:
        if setup != "st":  # embedkit comes from this checkout: failing to import it is an error, not a skip
            raise
        return out | {"skipped": f"not importable by {sys.executable}: {exc}"}
    except _Skip as exc:
        return out | {"skipped": str(exc)}
    out |= info
    out["load_seconds"] = time.perf_counter() - start
    out["rss_after_load_mib"] = sampler.rss()
    out["max_seq_length"] = model.max_seq_length

    if phase == "peak":
        start = time.perf_counter()
        for item in plan:
            _encode(model, item)
        out["encode_seconds"] = time.perf_counter() - start
        out["texts_encoded"] = sum(1 if isinstance(item, str) else len(item) for item in plan)
        out["rss_after_encodes_mib"] = sampler.rss()
    elif phase == "steady":
        samples: list[tuple[int, float]] = []
        start = time.perf_counter()
        for i in range(1, counts["single_queries"] + 1):
            _encode(model, queries[i % len(queries)])
            if i % counts["sample_every"] == 0:
                samples.append((i, sampler.rss()))
        out["encode_seconds"] = time.perf_counter() - start
        out["samples"] = samples
        at = dict(samples)
        out["steady_first_mib"], out["steady_last_mib"] = samples[0][1], samples[-1][1]
        ref = at.get(counts["growth_after"], samples[0][1])
        out["steady_growth_mib"] = samples[-1][1] - ref
    else:  # "to"
        dtype_name = _move_dtype(args.move_dtype)
        dtype = getattr(torch, dtype_name)
        out["move_dtype"] = dtype_name
        for item in plan:
            _encode(model, item)
        batch = next(item for item in plan if not isinstance(item, str))
        out["rss_before_cycles_mib"] = before = sampler.rss()
        cycles: list[float] = []
        frozen = setup == "embedkit-frozen" and bool(out.get("optimized_for_inference"))
        for _ in range(counts["cycles"]):
            try:
                model.to(dtype)
            except RuntimeError as exc:
                if not frozen:
                    raise
                out["move_refused"] = _first_line(exc)
                try:  # the refused move must leave a working model behind
                    _encode(model, batch)
                except Exception as broken:  # noqa: BLE001 - reported, not raised
                    out["broken_after_refusal"] = _first_line(broken)
                break
            if frozen:  # the design says a frozen model refuses dtype moves: record that this one did not
                out["move_refused"] = None
                try:
                    _encode(model, batch)
                except Exception as broken:  # noqa: BLE001 - reported, not raised
                    out["encode_after_accepted_move"] = _first_line(broken)
                break
            _encode(model, batch)
            _encode(model, queries[0])
            model.to(torch.float32)
            _encode(model, batch)
            _encode(model, queries[0])
            cycles.append(sampler.rss())
        out["cycles_mib"] = cycles
        out["to_growth_mib"] = (cycles[-1] - before) if cycles else None

    out["vmhwm_mib"] = _mib(_status_kb("VmHWM"))
    import resource

    out["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return out


# --------------------------------------------------------------------------------------------------------- parent side

def _default_model() -> str:
    sys.path.insert(0, str(ROOT))
    from embedkit.default_model import default_model_path

    return str(default_model_path())


def _importable(python: str, module: str) -> str | None:
    """None when ``python`` finds ``module``, else a one-line reason."""
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 3)"
    try:
        rc = subprocess.run([python, "-c", code], capture_output=True, timeout=120, check=False).returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    return None if rc == 0 else f"{module} is not importable by {python} (pass --python /root/venv6/bin/python)"


def run_child(setup: str, phase: str, model: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [args.python, str(Path(__file__).resolve()), "--child", setup, "--phase", phase, "--model", model,
           "--data", args.data, "--threads", str(args.threads), "--seed", str(args.seed),
           "--move-dtype", args.move_dtype] + (["--quick"] if args.quick else []) + (["--trim"] if args.trim else [])
    env = os.environ | {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
                        "TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": "0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
    return {"setup": setup, "phase": phase, "error": f"child exited with {proc.returncode}: {tail}",
            "stderr_tail": proc.stderr[-4000:]}


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(model: str, results: dict[str, dict[str, dict[str, Any]]]) -> None:
    print(f"\nmodel {model}")
    header = (f"{'setup':16} | {'peak RSS MiB':>12} {'maxrss':>7} | {'steady MiB first/last':>21} {'growth':>7} | "
              f"{'.to() growth':>12} | {'ratio ek/ST peak':>16} {'steady':>6}")
    print(header)
    print("-" * len(header))
    st_peak = results.get("st", {}).get("peak", {}).get("vmhwm_mib")
    st_last = results.get("st", {}).get("steady", {}).get("steady_last_mib")
    notes: list[str] = []
    for setup, phases in results.items():
        reasons = {r.get("skipped") or r.get("error") for r in phases.values() if "skipped" in r or "error" in r}
        if reasons and len(reasons) == 1 and all("skipped" in r for r in phases.values()):
            print(f"{setup:16} | skipped: {reasons.pop()}")
            continue
        for r in phases.values():
            if "error" in r:
                notes.append(f"{setup} {r['phase']}: {r['error']}")
            elif "skipped" in r:
                notes.append(f"{setup} {r['phase']}: skipped: {r['skipped']}")
        peak, steady, to = phases.get("peak", {}), phases.get("steady", {}), phases.get("to", {})
        first, last = steady.get("steady_first_mib"), steady.get("steady_last_mib")
        steady_txt = f"{_fmt(first)}/{_fmt(last)}" if first is not None else "-"
        if "move_refused" in to:
            to_txt = "refused" if to["move_refused"] else "ACCEPTED"
            notes.append(f"{setup} .to({to['move_dtype']}): " + (
                f"refused as designed ({to['move_refused']})" if to["move_refused"] else
                "a frozen model ACCEPTED the dtype move (the design says it raises); encode afterwards: "
                + to.get("encode_after_accepted_move", "worked")))
            if "broken_after_refusal" in to:
                notes.append(f"{setup} .to(): the model no longer encodes after the refusal: "
                             f"{to['broken_after_refusal']}")
        else:
            to_txt = _fmt(to.get("to_growth_mib"), "+.1f")
        ratio_peak = ratio_last = "-"
        if setup != "st" and st_peak and peak.get("vmhwm_mib"):
            ratio_peak = f"{peak['vmhwm_mib'] / st_peak:.2f}"
        if setup != "st" and st_last and last:
            ratio_last = f"{last / st_last:.2f}"
        print(f"{setup:16} | {_fmt(peak.get('vmhwm_mib')):>12} {_fmt(peak.get('ru_maxrss_mib')):>7} | "
              f"{steady_txt:>21} {_fmt(steady.get('steady_growth_mib'), '+.1f'):>7} | {to_txt:>12} | "
              f"{ratio_peak:>16} {ratio_last:>6}")
        if peak.get("rss_baseline_mib") is not None and "vmhwm_mib" in peak:
            notes.append(f"{setup} peak: baseline (python + texts) {peak['rss_baseline_mib']:.0f}, after load "
                         f"{peak['rss_after_load_mib']:.0f}, after encodes {peak['rss_after_encodes_mib']:.0f} MiB; "
                         f"{peak['texts_encoded']} texts in {peak['encode_seconds']:.1f} s")
        if to.get("cycles_mib"):
            notes.append(f"{setup} .to({to['move_dtype']}) cycles: before {to['rss_before_cycles_mib']:.0f}, after "
                         + ", ".join(f"{v:.0f}" for v in to["cycles_mib"]) + " MiB")
        if "optimized_for_inference" in peak and not peak["optimized_for_inference"]:
            notes.append(f"{setup}: optimize_for_inference() left the model on the default path "
                         "(optimized_for_inference is False: no oneDNN ops?)")
    for note in notes:
        print("  " + note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", help="model folder(s) (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the child processes")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--setups", nargs="+", choices=SETUPS, default=list(SETUPS))
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--move-dtype", choices=("auto", "bfloat16", "float64"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="counts divided by 10 (to check the script)")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) before every RSS sample")
    parser.add_argument("--json", help="write every child's raw results here")
    parser.add_argument("--child", choices=SETUPS, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        args.model = args.model[0]
        print(RESULT_TAG + json.dumps(child(args.child, args.phase, args)), flush=True)
        return

    models = [str(Path(m).expanduser()) for m in args.model] if args.model else [_default_model()]
    st_reason = _importable(args.python, "sentence_transformers") if "st" in args.setups else None
    print(f"interpreter {args.python}; {args.threads} threads; phases {', '.join(args.phases)}"
          + ("; --quick (counts / 10)" if args.quick else "") + ("; --trim" if args.trim else ""))
    if st_reason:
        print(f"st: skipped: {st_reason}")
    report: dict[str, Any] = {"python": args.python, "threads": args.threads, "quick": args.quick, "trim": args.trim,
                              "models": {}}
    cuda_seen: bool | None = None
    for model in models:
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for setup in args.setups:
            if setup == "st" and st_reason:
                results[setup] = {p: {"setup": setup, "phase": p, "skipped": st_reason} for p in args.phases}
                continue
            results[setup] = {}
            for phase in args.phases:
                print(f"  {Path(model).name}: {setup} / {phase} ...", file=sys.stderr, flush=True)
                r = results[setup][phase] = run_child(setup, phase, model, args)
                if "cuda_available" in r:
                    cuda_seen = r["cuda_available"]
                if "skipped" in r and setup != "st":  # e.g. no optimize_for_inference: same for every phase
                    for rest in args.phases[args.phases.index(phase) + 1:]:
                        results[setup][rest] = {"setup": setup, "phase": rest, "skipped": r["skipped"]}
                    break
        print_table(model, results)
        report["models"][model] = results
    move = next((r["move_dtype"] for m in report["models"].values() for s in m.values() for r in s.values()
                 if "move_dtype" in r), None)
    if move:
        print(f".to() cycles move to {move} and back to float32 on the CPU.")
    if cuda_seen is not None:
        print("CUDA: " + ("available, but device moves are not measured by this script" if cuda_seen else
                          "not available here: only CPU dtype moves were measured, no device (cuda) moves"))
    report["cuda_available"] = cuda_seen
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"raw results written to {args.json}")


if __name__ == "__main__":
    main()

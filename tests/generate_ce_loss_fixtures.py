"""Generate the golden values for the CrossEncoder losses from sentence-transformers 6.2 (run by hand, dev venv).

    /opt/dev/bin/python tests/generate_ce_loss_fixtures.py

For each case in ``build_cases()``: load the reference CrossEncoder from a committed tiny checkpoint
(``ce_bert1``; ``ce_bert3`` for CrossEntropyLoss), in eval mode (no dropout), give it the "spreading" classifier
below, build the loss, seed torch, compute the loss on the case's raw texts, backpropagate and record the value,
the total gradient L2 norm over the loss's parameters, the norms of two named groups (classifier, word
embeddings), ``get_config_dict()``, ``citation`` and, for MultipleNegativesRankingLoss, the in-batch negatives that
``torch.multinomial`` drew (tests/cross_encoder/test_losses.py seeds the same way and checks it draws the same).

Spreading classifier: the random tiny checkpoints give every pair nearly the same logit (std ~1e-4), which makes
ranking losses degenerate (sorting near-ties is arbitrary). The classifier's weights are replaced by a whitening of
the leading principal directions of the pooled outputs of all candidate pairs, so logits spread over about N(0, 1.5^2).
embedkit's BERT is bitwise equal to the reference on these inputs, so whitening does not amplify any difference.
Both sides load these weights from the fixture.

Output: ``tests/fixtures/ce_losses/ce_losses.json``.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).parent / "fixtures"
OUT = FIXTURES / "ce_losses" / "ce_losses.json"
MODELS = ("ce_bert1", "ce_bert3")
# Named parameter groups: role -> (suffix in sentence-transformers, suffix in embedkit).
PARAM_ROLES = {
    "classifier": ("classifier.weight", "classifier.out.weight"),
    "word_embeddings": ("embeddings.word_embeddings.weight", "embed.tok.weight"),
}
LOSS_NAMES = [
    "BinaryCrossEntropyLoss", "CrossEntropyLoss", "MSELoss", "MarginMSELoss", "MultipleNegativesRankingLoss",
    "CachedMultipleNegativesRankingLoss", "ListNetLoss", "ListMLELoss", "PListMLELoss", "LambdaLoss", "RankNetLoss",
    "ADRMSELoss",
]


def texts() -> list[str]:
    real = json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))["real"]
    out, seen = [], set()
    for t in real:  # drop the 280-word text (keeps the tests fast) and "   " (tokenized like "": exact score ties)
        if len(t) < 200 and t.strip() not in seen:
            seen.add(t.strip())
            out.append(t)
    return out


def all_pairs() -> list[list[str]]:
    t = texts()
    return [[a, b] for a in t[:16] for b in t[8:]]


# ----------------------------------------------------------------------------- cases
def _rng(seed: int) -> np.random.RandomState:
    return np.random.RandomState(seed)


def pair_columns(n_cols: int, b: int, offset: int = 0) -> list[list[str]]:
    t = texts()
    return [[t[(offset + c * b + i * 3 + c) % len(t)] for i in range(b)] for c in range(n_cols)]


def ranked_lists(lengths: list[int], seed: int) -> tuple[list[list[str]], list[list[float]]]:
    t, rng = texts(), _rng(seed)
    queries = [t[i] for i in rng.choice(8, size=len(lengths), replace=False)]
    docs = [[t[j] for j in rng.choice(np.arange(8, len(t)), size=n, replace=False)] for n in lengths]
    labels = [rng.randint(0, 4, size=n).astype(float).tolist() for n in lengths]
    return [queries, docs], labels


def case(name: str, loss: str, columns: list, labels=None, *, model: str = "ce_bert1", kwargs=None,
         dtype: str = "float", seed: int = 0) -> dict:
    return {"name": name, "loss": loss, "model": model, "kwargs": kwargs or {}, "columns": columns,
            "labels": labels, "labels_dtype": dtype, "seed": seed}


def module(name: str, **kw) -> dict:
    return {"module": name, "kwargs": kw}


def build_cases() -> list[dict]:
    b = 6
    rng = _rng(0)
    binary = rng.randint(0, 2, size=b).tolist()
    binary[0], binary[1] = 0, 1
    soft = rng.rand(b).round(3).tolist()
    scores = (rng.randn(b) * 2).round(3).tolist()
    lists, list_labels = ranked_lists([3, 5, 1, 4], seed=1)
    lists_b, list_labels_b = ranked_lists([2, 6, 4], seed=2)
    flat_list_labels = [[0.0, 2.0, 1.0], [1.0, 1.0, 0.0, 3.0, 0.0], [2.0], [0.0, 0.0, 1.0, 1.0]]  # ties
    cases = [
        case("bce", "BinaryCrossEntropyLoss", pair_columns(2, b), binary, dtype="long"),
        case("bce_soft_pos_weight", "BinaryCrossEntropyLoss", pair_columns(2, b, 1), soft,
             kwargs={"pos_weight": {"tensor": 2.5}}),
        case("bce_sigmoid", "BinaryCrossEntropyLoss", pair_columns(2, b, 2), binary, dtype="long",
             kwargs={"activation_fn": module("Sigmoid")}),
        case("cross_entropy_3", "CrossEntropyLoss", pair_columns(2, b), rng.randint(0, 3, size=b).tolist(),
             model="ce_bert3", dtype="long"),
        case("mse", "MSELoss", pair_columns(2, b, 3), scores),
        case("mse_sigmoid", "MSELoss", pair_columns(2, b, 4), soft, kwargs={"activation_fn": module("Sigmoid")}),
        case("margin_mse_triplets", "MarginMSELoss", pair_columns(3, b), (rng.randn(b) * 2).round(3).tolist()),
        case("margin_mse_2neg_raw", "MarginMSELoss", pair_columns(4, b, 5), (rng.randn(b, 3) * 2).round(3).tolist()),
        case("margin_mse_2neg_margins_sigmoid", "MarginMSELoss", pair_columns(4, b, 6),
             rng.rand(b, 2).round(3).tolist(), kwargs={"activation_fn": module("Sigmoid")}),
        case("mnrl_pairs_all_negatives", "MultipleNegativesRankingLoss", pair_columns(2, 4),
             kwargs={"num_negatives": None}),
        case("mnrl_pairs_sampled", "MultipleNegativesRankingLoss", pair_columns(2, b), seed=11),
        case("mnrl_triplets_sampled", "MultipleNegativesRankingLoss", pair_columns(3, 5, 2), seed=12,
             kwargs={"num_negatives": 3, "scale": 5.0}),
        case("mnrl_triplets_no_activation", "MultipleNegativesRankingLoss", pair_columns(3, 4, 4), seed=13,
             kwargs={"num_negatives": 2, "scale": 1.0, "activation_fn": None}),
        case("cmnrl_triplets_sampled", "CachedMultipleNegativesRankingLoss", pair_columns(3, 5, 2), seed=12,
             kwargs={"num_negatives": 3, "scale": 5.0, "mini_batch_size": 4}),
        case("listnet", "ListNetLoss", lists, list_labels),
        case("listnet_sigmoid_minibatch", "ListNetLoss", lists_b, list_labels_b,
             kwargs={"activation_fn": module("Sigmoid"), "mini_batch_size": 3}),
        case("listmle", "ListMLELoss", lists, list_labels),
        case("listmle_sorted_ties", "ListMLELoss", lists, flat_list_labels, kwargs={"respect_input_order": False}),
        case("plistmle", "PListMLELoss", lists, list_labels),
        case("plistmle_sorted_minibatch", "PListMLELoss", lists_b, list_labels_b,
             kwargs={"respect_input_order": False, "mini_batch_size": 5}),
        case("lambda_default", "LambdaLoss", lists, list_labels),
        case("lambda_no_weighting", "LambdaLoss", lists, list_labels,
             kwargs={"weighting_scheme": module("NoWeightingScheme")}),
        case("lambda_ndcg1", "LambdaLoss", lists, list_labels, kwargs={"weighting_scheme": module("NDCGLoss1Scheme")}),
        case("lambda_ndcg2", "LambdaLoss", lists, list_labels, kwargs={"weighting_scheme": module("NDCGLoss2Scheme")}),
        case("lambda_lambdarank", "LambdaLoss", lists, list_labels,
             kwargs={"weighting_scheme": module("LambdaRankScheme")}),
        case("lambda_ndcg2pp_k2_natural", "LambdaLoss", lists_b, list_labels_b,
             kwargs={"weighting_scheme": module("NDCGLoss2PPScheme", mu=5.0), "k": 2, "sigma": 2.0,
                     "reduction_log": "natural"}),
        case("lambda_ndcg1_ties", "LambdaLoss", lists, flat_list_labels,
             kwargs={"weighting_scheme": module("NDCGLoss1Scheme"), "k": 3}),
        case("ranknet", "RankNetLoss", lists, list_labels),
        case("ranknet_sigma_minibatch", "RankNetLoss", lists_b, list_labels_b,
             kwargs={"sigma": 0.5, "mini_batch_size": 4}),
        case("adrmse", "ADRMSELoss", lists, list_labels),
        case("adrmse_alpha_ties", "ADRMSELoss", lists, flat_list_labels, kwargs={"alpha": 2.0}),
    ]
    return cases


# ----------------------------------------------------------------------------- reference side
def spreading_classifier(name: str) -> dict[str, list]:
    """Classifier weights (L, H) whitening the k = max(2, L) leading principal directions of the pooled outputs."""
    from sentence_transformers.cross_encoder import CrossEncoder

    ce = CrossEncoder(str(FIXTURES / name), device="cpu")
    hf = ce[0].model.eval()
    with torch.no_grad():
        features = ce.preprocess(all_pairs())
        pooled = hf.bert(**features).pooler_output.double()  # (P, H)
    num_labels = hf.classifier.out_features
    k = max(2, num_labels)
    mean = pooled.mean(0)
    _, s, vt = torch.linalg.svd(pooled - mean, full_matrices=False)
    gen = torch.Generator().manual_seed(0)
    rotation = torch.linalg.qr(torch.randn(k, k, generator=gen, dtype=torch.float64))[0][:num_labels]  # (L, k)
    weight = 1.5 * len(pooled) ** 0.5 * rotation @ torch.diag(1 / s[:k]) @ vt[:k]  # (L, H)
    bias = -weight @ mean
    return {"weight": weight.float().tolist(), "bias": bias.float().tolist()}


def resolve_st(value):
    from sentence_transformers.cross_encoder import losses

    if not isinstance(value, dict):
        return value
    if "tensor" in value:
        return torch.tensor(value["tensor"])
    if "module" in value:
        cls = getattr(losses, value["module"], None) or getattr(torch.nn, value["module"])
        return cls(**value["kwargs"])
    raise ValueError(value)


def jsonable(obj):
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return f"<{type(obj).__name__}>"


def group_norms(named_params, suffix_index: int) -> tuple[float, dict[str, float]]:
    total, roles = 0.0, {}
    for name, p in named_params:
        if p.grad is None:
            continue
        sq = float(p.grad.double().pow(2).sum())
        total += sq
        for role, suffixes in PARAM_ROLES.items():
            if name.endswith(suffixes[suffix_index]):
                roles[role] = roles.get(role, 0.0) + sq
    return math.sqrt(total), {k: math.sqrt(v) for k, v in roles.items()}


def make_labels(spec: dict):
    if spec["labels"] is None:
        return None
    dtype = torch.long if spec["labels_dtype"] == "long" else torch.float32
    if isinstance(spec["labels"][0], list) and len({len(x) for x in spec["labels"]}) > 1 or spec["loss"] in (
            "ListNetLoss", "ListMLELoss", "PListMLELoss", "LambdaLoss", "RankNetLoss", "ADRMSELoss"):
        return [torch.tensor(row, dtype=dtype) for row in spec["labels"]]
    return torch.tensor(spec["labels"], dtype=dtype)


def run_case(spec: dict, heads: dict[str, dict]) -> dict:
    from sentence_transformers.cross_encoder import CrossEncoder, losses

    model = CrossEncoder(str(FIXTURES / spec["model"]), device="cpu")
    classifier = model[0].model.classifier
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor(heads[spec["model"]]["weight"]))
        classifier.bias.copy_(torch.tensor(heads[spec["model"]]["bias"]))
    model.eval()
    kwargs = {k: resolve_st(v) for k, v in spec["kwargs"].items()}
    loss = getattr(losses, spec["loss"])(model, **kwargs)
    draws = []
    real_multinomial = torch.multinomial

    def spy(*args, **kw):
        out = real_multinomial(*args, **kw)
        draws.append(out.tolist())
        return out

    torch.multinomial = spy
    try:
        torch.manual_seed(spec["seed"])
        out = loss(spec["columns"], make_labels(spec))
        out.backward()
    finally:
        torch.multinomial = real_multinomial
    grad_norm, roles = group_norms(loss.named_parameters(), 0)
    config = jsonable(loss.get_config_dict()) if hasattr(loss, "get_config_dict") else None
    return {**spec, "expected": {"value": float(out.detach()), "grad_norm": grad_norm, "param_grad_norms": roles,
                                 "config": config, "citation": getattr(loss, "citation", None),
                                 "draws": draws[0] if draws else None}}


def default_repr(value) -> str:
    if value is inspect.Parameter.empty:
        return "<required>"
    if isinstance(value, torch.nn.Module):
        return f"{type(value).__name__}()"
    return repr(value)


def signatures() -> dict[str, list[list[str]]]:
    from sentence_transformers.cross_encoder import losses

    out = {}
    for name in LOSS_NAMES:
        params = list(inspect.signature(getattr(losses, name).__init__).parameters.values())[1:]  # drop self
        out[name] = [[p.name, default_repr(p.default)] for p in params if p.kind is not p.VAR_KEYWORD]
    return out


def main() -> None:
    import sentence_transformers

    torch.set_num_threads(1)  # same reduction order as the tests
    heads = {name: spreading_classifier(name) for name in MODELS}
    cases = [run_case(spec, heads) for spec in build_cases()]
    payload = {"sentence_transformers_version": sentence_transformers.__version__, "torch_version": torch.__version__,
               "param_roles": PARAM_ROLES, "classifiers": heads, "signatures": signatures(), "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT} ({OUT.stat().st_size // 1024} KB)")
    for c in cases:
        e = c["expected"]
        print(f"  {c['name']:34s} value={e['value']:.6g} grad_norm={e['grad_norm']:.6g} draws={e['draws']}")


if __name__ == "__main__":
    main()

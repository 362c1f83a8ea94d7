"""Generate the golden values for tests/losses from sentence-transformers 6.2 (run by hand in the dev venv).

    /opt/dev/bin/python tests/generate_loss_fixtures.py

For every case in ``CASES`` this loads the reference SentenceTransformer from a committed tiny checkpoint, puts it
in eval mode (no dropout), builds the reference loss, tokenizes a fixed batch drawn from ``texts.json`` (6 rows),
computes the loss, backpropagates, and records: the value (and dict components), the total gradient L2 norm over
all parameters of the loss (model + trainable loss parameters), the norms of a few named parameter groups, the
loss's ``get_config_dict()`` and ``citation``. Trainable loss parameters that are randomly initialised (SoftmaxLoss
classifier, EmbedDistillLoss projection) are written to the fixture so that embedkit starts from the same weights.

Everything goes to ``tests/fixtures/losses/st_losses.json``; the tests rebuild each case with embedkit from the same
JSON (kwargs are encoded as names, see ``encode``/``resolve`` here and in ``tests/losses/helpers.py``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).parent / "fixtures"
OUT = FIXTURES / "losses" / "st_losses.json"
B = 6

# Named parameter groups compared one by one: role -> (suffix in sentence-transformers, suffix in embedkit).
PARAM_ROLES = {
    "word_embeddings": (".embeddings.word_embeddings.weight", ".embed.tok.weight"),
    "dense": ("2.linear.weight", "2.linear.weight"),
    "classifier": ("classifier.weight", "classifier.weight"),
    "projection": ("projection.weight", "projection.weight"),
    "logit_scale": ("logit_scale", "logit_scale"),
}


def _texts() -> list[str]:
    return json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))["real"]


def columns(n: int) -> list[list[str]]:
    real = _texts()
    return [real[i * B:(i + 1) * B] for i in range(n)]


def _labels(kind: str, seed: int, shape: tuple[int, ...]) -> list:
    rng = np.random.RandomState(seed)
    if kind == "score":
        return rng.rand(*shape).round(3).tolist()
    if kind == "ties":
        return rng.choice([0.0, 0.5, 1.0], size=shape).tolist()
    if kind == "binary":
        out = rng.randint(0, 2, size=shape)
        out.flat[0], out.flat[1] = 0, 1  # both kinds present
        return out.tolist()
    if kind == "classes3":
        return rng.randint(0, 3, size=shape).tolist()
    if kind == "groups":
        return rng.permutation([0, 0, 1, 1, 2, 2]).tolist()
    if kind == "normal":
        return rng.randn(*shape).round(4).tolist()
    raise ValueError(kind)


def case(name, loss, n_cols, *, model="tiny_bert_v6", kwargs=None, labels=None, dtype="float", cols=None):
    return {"name": name, "loss": loss, "model": model, "kwargs": kwargs or {},
            "columns": cols if cols is not None else columns(n_cols), "labels": labels, "labels_dtype": dtype}


def fn(name):
    return {"fn": name}


def metric(name):
    return {"metric": name}


def build_cases() -> list[dict]:
    real = _texts()
    ct_a = real[:B]
    ct_b = [real[0], real[7], real[2], real[9], real[10], real[5]]
    return [
        case("mnrl_pairs", "MultipleNegativesRankingLoss", 2),
        case("mnrl_1neg", "MultipleNegativesRankingLoss", 3),
        case("mnrl_3neg", "MultipleNegativesRankingLoss", 5),
        case("mnrl_3neg_mpnet", "MultipleNegativesRankingLoss", 5, model="tiny_mpnet_v6"),
        case("mnrl_gte_dot_allneg", "MultipleNegativesRankingLoss", 3, kwargs={
            "scale": 1.0, "similarity_fct": fn("dot_score"),
            "directions": ["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"],
            "hardness_mode": "all_negatives", "hardness_strength": 5.0}),
        case("mnrl_perdir_hardneg", "MultipleNegativesRankingLoss", 5, kwargs={
            "scale": 10.0, "directions": ["query_to_doc", "doc_to_query"], "partition_mode": "per_direction",
            "hardness_mode": "hard_negatives", "hardness_strength": 3.0}),
        case("mnrl_inbatch_hardness", "MultipleNegativesRankingLoss", 3, kwargs={
            "directions": ["query_to_doc", "doc_to_doc"], "hardness_mode": "in_batch_negatives",
            "hardness_strength": 2.0}),
        case("mnsrl", "MultipleNegativesSymmetricRankingLoss", 2, kwargs={"scale": 15.0}),
        case("gist_retok", "GISTEmbedLoss", 2, kwargs={"guide": {"model": "tiny_mpnet_v6"}, "temperature": 0.05}),
        case("gist_retok_neg", "GISTEmbedLoss", 3, kwargs={
            "guide": {"model": "tiny_mpnet_v6"}, "contrast_positives": False}),
        case("gist_same_tok_relative", "GISTEmbedLoss", 3, kwargs={
            "guide": {"model": "tiny_bert_v6"}, "temperature": 0.05, "margin_strategy": "relative", "margin": 0.1}),
        case("gist_same_tok", "GISTEmbedLoss", 3, kwargs={
            "guide": {"model": "tiny_bert_v6"}, "temperature": 0.1, "margin": 0.05, "contrast_anchors": False}),
        case("cosine_similarity", "CosineSimilarityLoss", 2, labels=_labels("score", 1, (B,))),
        case("cosine_similarity_l1", "CosineSimilarityLoss", 2, labels=_labels("score", 2, (B,)),
             kwargs={"loss_fct": {"module": "L1Loss"}}),
        case("cosent", "CoSENTLoss", 2, labels=_labels("score", 3, (B,))),
        case("cosent_ties_mpnet", "CoSENTLoss", 2, model="tiny_mpnet_v6", labels=_labels("ties", 4, (B,)),
             kwargs={"scale": 10.0}),
        case("angle", "AnglELoss", 2, labels=_labels("score", 5, (B,))),
        case("angle_triplets_nolabel", "AnglELoss", 4),
        case("contrastive", "ContrastiveLoss", 2, labels=_labels("binary", 6, (B,)), dtype="long"),
        case("contrastive_euclid_sum", "ContrastiveLoss", 2, labels=_labels("binary", 7, (B,)), dtype="long",
             kwargs={"distance_metric": metric("SiameseDistanceMetric.EUCLIDEAN"), "margin": 1.5,
                     "size_average": False}),
        case("online_contrastive", "OnlineContrastiveLoss", 2, labels=_labels("binary", 8, (B,)), dtype="long"),
        case("contrastive_tension", "ContrastiveTensionLoss", 2, cols=[ct_a, ct_b]),
        case("contrastive_tension_inbatch", "ContrastiveTensionLossInBatchNegatives", 1, kwargs={"scale": 10.0}),
        case("triplet", "TripletLoss", 3),
        case("triplet_cosine", "TripletLoss", 3,
             kwargs={"distance_metric": metric("TripletDistanceMetric.COSINE"), "triplet_margin": 0.3}),
        case("batch_all", "BatchAllTripletLoss", 1, labels=_labels("groups", 9, (B,)), dtype="long",
             kwargs={"margin": 0.5}),
        case("batch_hard", "BatchHardTripletLoss", 1, labels=_labels("groups", 10, (B,)), dtype="long"),
        case("batch_hard_cosine", "BatchHardTripletLoss", 1, labels=_labels("groups", 11, (B,)), dtype="long",
             kwargs={"distance_metric": metric("BatchHardTripletLossDistanceFunction.cosine_distance"),
                     "margin": 0.2}),
        case("batch_semi_hard", "BatchSemiHardTripletLoss", 1, labels=_labels("groups", 12, (B,)), dtype="long",
             kwargs={"margin": 0.5}),
        case("batch_hard_soft_margin", "BatchHardSoftMarginTripletLoss", 1, labels=_labels("groups", 13, (B,)),
             dtype="long"),
        case("mse", "MSELoss", 2, labels=_labels("normal", 14, (B, 16))),
        case("mse_projection", "MSELoss", 1, labels=_labels("normal", 15, (B, 8)), kwargs={"projection_dim": 8}),
        case("embed_distill_cosine_3d", "EmbedDistillLoss", 2, labels=_labels("normal", 16, (B, 2, 16))),
        case("embed_distill_l2_projection", "EmbedDistillLoss", 1, labels=_labels("normal", 17, (B, 24)),
             kwargs={"distance_metric": "l2", "projection_dim": 24}),
        case("margin_mse", "MarginMSELoss", 3, labels=_labels("normal", 18, (B,))),
        case("margin_mse_3neg_raw", "MarginMSELoss", 5, labels=_labels("normal", 19, (B, 4)),
             kwargs={"similarity_fct": fn("pairwise_cos_sim")}),
        case("distill_kl", "DistillKLDivLoss", 3, labels=_labels("normal", 20, (B, 2))),
        case("distill_kl_3neg_temps", "DistillKLDivLoss", 5, labels=_labels("normal", 21, (B, 4)),
             kwargs={"similarity_fct": fn("pairwise_cos_sim"), "temperature": 0.5, "teacher_temperature": 2.0}),
        case("softmax", "SoftmaxLoss", 2, labels=_labels("classes3", 22, (B,)), dtype="long",
             kwargs={"embedding_dimension": 16, "num_labels": 3}),
        case("softmax_mult", "SoftmaxLoss", 2, labels=_labels("classes3", 23, (B,)), dtype="long",
             kwargs={"embedding_dimension": 16, "num_labels": 3, "concatenation_sent_rep": False,
                     "concatenation_sent_multiplication": True}),
        case("mega_batch_margin", "MegaBatchMarginLoss", 2, kwargs={"use_mini_batched_version": False}),
        case("mega_batch_margin_mini", "MegaBatchMarginLoss", 2, kwargs={"mini_batch_size": 4}),
        case("gor", "GlobalOrthogonalRegularizationLoss", 2),
        case("gor_sum_mpnet", "GlobalOrthogonalRegularizationLoss", 3, model="tiny_mpnet_v6",
             kwargs={"mean_weight": 0.5, "second_moment_weight": 2.0, "aggregation": "sum"}),
    ]


# ----------------------------------------------------------------------------- reference side
def resolve_st(value, load_model):
    """Decode one encoded kwarg into the sentence-transformers object."""
    from sentence_transformers import util
    from sentence_transformers.sentence_transformer import losses

    if isinstance(value, list):
        return tuple(value)
    if not isinstance(value, dict):
        return value
    if "fn" in value:
        return getattr(util, value["fn"])
    if "metric" in value:
        owner, name = value["metric"].split(".")
        return getattr(getattr(losses, owner), name)
    if "module" in value:
        return getattr(torch.nn, value["module"])()
    if "model" in value:
        return load_model(value["model"])
    raise ValueError(value)


def jsonable(obj):
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return f"<{type(obj).__name__}>"  # e.g. the GIST guide model


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


def spreading_dense(name: str, k: int) -> dict[str, list]:
    """Weights of a Dense(H -> 16, tanh) layer that spreads the embeddings of the fixture model ``name`` out.

    The random tiny checkpoints map every text to nearly the same direction (pairwise cosine ~0.9997), which makes
    most losses degenerate (MNRL ~ log B, GIST masks everything, CoSENT ignores its scale). This layer whitens the k
    leading principal directions of the pooled outputs of all ``real`` texts into a random rotation of 16 outputs,
    giving cosine similarities spread over about [-0.7, 1]. Whitening amplifies float noise by up to
    ``1 / s_k``; embedkit's BERT is bitwise equal to the reference here (k=8), its MPNet differs by ~1e-7, so MPNet
    uses k=3 (the directions with singular values >= s_0 / 4). tiny_bert_v6 gets it as its own Dense layer's weights;
    tiny_mpnet_v6 (Transformer + Pooling only) gets it appended as a new module. Both sides load the same weights.
    """
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(FIXTURES / name), device="cpu").eval()
    with torch.no_grad():
        pooled = model[1](model[0](model.preprocess(_texts())))["sentence_embedding"].double()  # (32, H)
    mean = pooled.mean(0)
    _, s, vt = torch.linalg.svd(pooled - mean, full_matrices=False)
    gen = torch.Generator().manual_seed(0)
    rotation = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))[0][:, :k]  # (16, k)
    weight = 0.7 * len(pooled) ** 0.5 * rotation @ torch.diag(1 / s[:k]) @ vt[:k]  # (16, H)
    bias = -weight @ mean
    return {"weight": weight.float().tolist(), "bias": bias.float().tolist()}


def run_case(spec: dict, dense: dict[str, dict[str, list]]) -> dict:
    import warnings

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import losses

    def load_model(name):
        from sentence_transformers.base.modules.dense import Dense

        m = SentenceTransformer(str(FIXTURES / name), device="cpu")
        weight, bias = torch.tensor(dense[name]["weight"]), torch.tensor(dense[name]["bias"])
        if name == "tiny_bert_v6":
            with torch.no_grad():
                m[2].linear.weight.copy_(weight)
                m[2].linear.bias.copy_(bias)
        else:
            m.append(Dense(weight.shape[1], weight.shape[0], init_weight=weight, init_bias=bias))
        m.eval()
        return m

    torch.manual_seed(0)
    model = load_model(spec["model"])
    kwargs = {k: resolve_st(v, load_model) for k, v in spec["kwargs"].items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = getattr(losses, spec["loss"])(model, **kwargs)
    loss.eval()
    init = {}
    for attr in ("classifier", "projection"):
        layer = getattr(loss, attr, None)
        if isinstance(layer, torch.nn.Linear):
            init[attr] = {k: v.tolist() for k, v in layer.state_dict().items()}
    features = [model.preprocess(col) for col in spec["columns"]]
    labels = None
    if spec["labels"] is not None:
        labels = torch.tensor(spec["labels"], dtype=torch.long if spec["labels_dtype"] == "long" else torch.float32)
    out = loss(features, labels)
    components = None
    if isinstance(out, dict):
        components = {k: float(v.detach()) for k, v in out.items()}
        out = sum(out.values())
    out.backward()
    grad_norm, roles = group_norms(loss.named_parameters(), 0)
    result = {"value": float(out.detach()), "components": components, "grad_norm": grad_norm,
              "param_grad_norms": roles, "config": jsonable(loss.get_config_dict()),
              "citation": getattr(loss, "citation", None)}
    if spec["loss"] == "GISTEmbedLoss":
        result["must_retokenize"] = bool(loss.must_retokenize)
        if loss.must_retokenize:
            result["decoded"] = [loss.tokenizer.batch_decode(f["input_ids"], skip_special_tokens=True)
                                 for f in features]
    return {**spec, "init": init, "expected": result}


LOSS_NAMES = [
    "MultipleNegativesRankingLoss", "MultipleNegativesSymmetricRankingLoss", "GISTEmbedLoss", "CosineSimilarityLoss",
    "CoSENTLoss", "AnglELoss", "ContrastiveLoss", "OnlineContrastiveLoss", "ContrastiveTensionLoss",
    "ContrastiveTensionLossInBatchNegatives", "TripletLoss", "BatchAllTripletLoss", "BatchHardTripletLoss",
    "BatchSemiHardTripletLoss", "BatchHardSoftMarginTripletLoss", "MSELoss", "MarginMSELoss", "DistillKLDivLoss",
    "EmbedDistillLoss", "SoftmaxLoss", "MegaBatchMarginLoss", "GlobalOrthogonalRegularizationLoss",
]


def default_repr(value) -> str:
    """A comparable rendering of a constructor default (callables by name, modules by class name)."""
    import inspect

    if value is inspect.Parameter.empty:
        return "<required>"
    if isinstance(value, torch.nn.Module):
        return f"{type(value).__name__}()"
    if callable(value):
        from sentence_transformers.sentence_transformer import losses

        for owner in (losses.SiameseDistanceMetric, losses.TripletDistanceMetric):
            for key, member in vars(owner).items():
                if member is value:  # the lambdas of these Enum-style classes are plain functions
                    return f"{owner.__name__}.{key}"
        return getattr(value, "__qualname__", getattr(value, "__name__", repr(value)))
    return repr(list(value) if isinstance(value, tuple) else value)


def signatures() -> dict[str, list[list[str]]]:
    import inspect

    from sentence_transformers.sentence_transformer import losses

    out = {}
    for name in LOSS_NAMES:
        params = list(inspect.signature(getattr(losses, name).__init__).parameters.values())[1:]  # drop self
        out[name] = [[p.name, default_repr(p.default)] for p in params]
    return out


def main() -> None:
    import sentence_transformers

    torch.set_num_threads(1)  # same reduction order as the tests (tests/losses/conftest.py)
    dense = {"tiny_bert_v6": spreading_dense("tiny_bert_v6", k=8),
             "tiny_mpnet_v6": spreading_dense("tiny_mpnet_v6", k=3)}
    cases = [run_case(spec, dense) for spec in build_cases()]
    payload = {"sentence_transformers_version": sentence_transformers.__version__, "torch_version": torch.__version__,
               "batch_size": B, "param_roles": PARAM_ROLES, "spreading_dense": dense, "signatures": signatures(),
               "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT} ({OUT.stat().st_size // 1024} KB)")
    for c in cases:
        e = c["expected"]
        print(f"  {c['name']:32s} value={e['value']:.6g} grad_norm={e['grad_norm']:.6g}")


if __name__ == "__main__":
    main()

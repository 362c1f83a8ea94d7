"""Generate the golden values of tests/sparse_encoder/test_losses.py with sentence-transformers 6.2 (run by hand).

    /opt/dev/bin/python tests/generate_sparse_loss_fixtures.py

Writes under ``tests/fixtures/se_losses/``:
- ``csr_bert/``: a tiny CSR SparseEncoder saved by ST 6.2: Transformer (the BERT backbone of ``se_bert_v6``, no MLM
  head) + Pooling(mean) + SparseAutoEncoder(32 -> 128, k=8, k_aux=16), with random biases and a random
  ``stats_last_nonzero`` so that some latents are "dead" and the auxiliary term is not trivially zero;
- ``st_sparse_losses.json``: for every case of ``CASES`` (a sparse loss wrapped in SpladeLoss / CachedSpladeLoss /
  CSRLoss, or SparseMSELoss alone) the loss components, the total value and the total gradient L2 norm over the
  model's parameters, computed in train mode with all dropout probabilities at 0, on a fixed batch of 4 rows per
  column; the losses' ``get_config_dict()``/``citation``; ST's misuse error messages; and the warm-up callback's weights
  per step.

Teacher embeddings (SparseMSELoss labels) are drawn from ``torch.Generator().manual_seed(seed)`` on both sides
rather than stored.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import torch

FIXTURES = Path(__file__).parent / "fixtures"
OUT = FIXTURES / "se_losses"
B = 4


def texts(n_cols: int) -> list[list[str]]:
    real = json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))["real"]
    return [real[i * B:(i + 1) * B] for i in range(n_cols)]


def teacher(seed: int, shape: list[int]) -> torch.Tensor:
    """Sparse non-negative teacher embeddings, identical on both sides."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.rand(*shape, generator=gen)
    return values * (torch.rand(*shape, generator=gen) < 0.05)


REG = {"document_regularizer_weight": 3e-3, "query_regularizer_weight": 5e-3}
SCORES = [0.9, 0.1, 0.55, 0.3]


def case(name, inner, n_cols, *, outer="SpladeLoss", outer_kwargs=None, inner_kwargs=None, labels=None,
         model="se_bert_v6"):
    return {"name": name, "model": model, "inner": inner, "inner_kwargs": inner_kwargs or {}, "outer": outer,
            "outer_kwargs": REG if outer_kwargs is None else outer_kwargs, "columns": texts(n_cols),
            "labels": labels}


CASES = [
    case("splade_mnrl", "SparseMultipleNegativesRankingLoss", 2),
    case("splade_mnrl_hard_negative", "SparseMultipleNegativesRankingLoss", 3),
    case("splade_mnrl_symmetric", "SparseMultipleNegativesRankingLoss", 2,
         inner_kwargs={"scale": 0.5, "directions": ["query_to_doc", "doc_to_query"],
                       "partition_mode": "per_direction"}),
    case("splade_margin_mse", "SparseMarginMSELoss", 3, labels={"values": [1.5, -2.0, 0.5, 3.0]}),
    case("splade_cosent", "SparseCoSENTLoss", 2, labels={"values": SCORES}),
    case("splade_angle", "SparseAnglELoss", 2, labels={"values": SCORES}),
    case("splade_cosine_similarity", "SparseCosineSimilarityLoss", 2, labels={"values": SCORES}),
    case("splade_triplet", "SparseTripletLoss", 3),
    case("splade_distill_kl_div", "SparseDistillKLDivLoss", 3,
         labels={"values": [[4.0, 1.0], [2.0, 3.0], [5.0, 5.5], [1.0, -1.0]]}),
    case("splade_mse", "SparseMSELoss", 2, labels={"teacher_seed": 1, "per_column": True}),
    case("splade_thresholds", "SparseMultipleNegativesRankingLoss", 3,
         outer_kwargs={**REG, "document_regularizer_threshold": "median", "query_regularizer_threshold": "median"}),
    case("splade_document_only", "SparseMultipleNegativesRankingLoss", 3,
         outer_kwargs={"document_regularizer_weight": 3e-3, "use_document_regularizer_only": True}),
    case("splade_no_query_regularizer", "SparseMultipleNegativesRankingLoss", 2,
         outer_kwargs={"document_regularizer_weight": 3e-3}),
    case("cached_splade_mnrl", "SparseMultipleNegativesRankingLoss", 3, outer="CachedSpladeLoss",
         outer_kwargs={**REG, "mini_batch_size": 3}),
    case("cached_splade_margin_mse", "SparseMarginMSELoss", 3, outer="CachedSpladeLoss",
         outer_kwargs={**REG, "mini_batch_size": 1}, labels={"values": [1.5, -2.0, 0.5, 3.0]}),
    case("csr_default", None, 2, outer="CSRLoss", outer_kwargs={}, model="csr_bert"),
    case("csr_mnrl_hard_negative", "SparseMultipleNegativesRankingLoss", 3, outer="CSRLoss",
         outer_kwargs={"beta": 0.5, "gamma": 2.0}, model="csr_bert"),
    case("csr_cosent", "SparseCoSENTLoss", 2, outer="CSRLoss", outer_kwargs={}, labels={"values": SCORES},
         model="csr_bert"),
    case("mse_alone", "SparseMSELoss", 1, outer=None, labels={"teacher_seed": 2, "per_column": False}),
]


def make_csr_model() -> None:
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone = Transformer(str(FIXTURES / "se_bert_v6"), max_seq_length=64)
    sae = SparseAutoEncoder(input_dim=32, hidden_dim=128, k=8, k_aux=16, dead_threshold=30)
    with torch.no_grad():
        sae.pre_bias.normal_(0, 0.1)
        sae.latent_bias.normal_(0, 0.1)
        sae.stats_last_nonzero.copy_(torch.randint(0, 60, (128,)))
    model = SparseEncoder(modules=[backbone, Pooling(32, "mean"), sae], device="cpu")
    out = OUT / "csr_bert"
    shutil.rmtree(out, ignore_errors=True)
    model.save(str(out))


def load_st_model(name: str):
    from sentence_transformers.sparse_encoder import SparseEncoder

    folder = FIXTURES / name if name == "se_bert_v6" else OUT / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SparseEncoder(str(folder), device="cpu")
    # Train mode with every dropout at 0: deterministic, and ST's SpladePooling works in place (no backward) in eval
    # mode. In train mode the SparseAutoEncoder also updates its dead-latent statistics, column after column.
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def labels_for(spec: dict, vocab: int):
    """ST's labels (teacher embeddings as a per-column list: ST's SpladeLoss zips them with the columns)."""
    info = spec["labels"]
    if info is None:
        return None
    if "values" in info:
        return torch.tensor(info["values"], dtype=torch.float32)
    n_cols = len(spec["columns"])
    if info["per_column"]:
        return list(teacher(info["teacher_seed"], [B, n_cols, vocab]).unbind(1))
    return teacher(info["teacher_seed"], [B, vocab])


def resolve_thresholds(kwargs: dict, model, features) -> dict:
    """"median": the median number of active dims per row of the batch, so the threshold masks some rows."""
    kwargs = dict(kwargs)
    if "median" in kwargs.values():
        with torch.no_grad():
            emb = torch.cat([model(f)["sentence_embedding"] for f in features])
        median = int((emb != 0).sum(dim=1).median())
        kwargs = {k: (median if v == "median" else v) for k, v in kwargs.items()}
    return kwargs


def build_st(spec: dict, model, features):
    from sentence_transformers.sparse_encoder import losses

    inner_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["inner_kwargs"].items()}
    inner = getattr(losses, spec["inner"])(model, **inner_kwargs) if spec["inner"] else None
    if spec["outer"] is None:
        return inner, {}
    kwargs = resolve_thresholds(spec["outer_kwargs"], model, features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(losses, spec["outer"])(model, loss=inner, **kwargs), kwargs


def jsonable(obj):
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return type(obj).__name__


def run_case(spec: dict) -> dict:
    torch.manual_seed(0)
    model = load_st_model(spec["model"])
    features = [model.preprocess(col) for col in spec["columns"]]
    loss, resolved = build_st(spec, model, features)
    with torch.no_grad():
        vocab = model(model.preprocess(["x"]))["sentence_embedding"].shape[-1]
    labels = labels_for(spec, vocab)
    out = loss(features, labels)
    components = None
    if isinstance(out, dict):
        components = {k: float(v.detach()) for k, v in out.items()}
        out = sum(out.values())
    out.backward()
    squares = [float(p.grad.double().pow(2).sum()) for p in model.parameters() if p.grad is not None]
    return {**spec, "outer_kwargs_resolved": resolved, "expected": {
        "value": float(out.detach()), "components": components, "grad_norm": math.sqrt(sum(squares)),
        "config": jsonable(loss.get_config_dict()), "citation": getattr(loss, "citation", None),
        "inner_config": jsonable(loss.loss.get_config_dict()) if spec["outer"] and spec["inner"] else None,
        "inner_citation": getattr(loss.loss, "citation", None) if spec["outer"] and spec["inner"] else None,
    }}


def misuse_errors() -> dict:
    from sentence_transformers.sparse_encoder import losses

    model = load_st_model("se_bert_v6")
    features = [model.preprocess(col) for col in texts(2)]
    errors = {}
    for name in ("SparseMultipleNegativesRankingLoss", "SparseMarginMSELoss", "SparseCoSENTLoss", "SparseAnglELoss",
                 "SparseCosineSimilarityLoss", "SparseTripletLoss", "SparseDistillKLDivLoss", "FlopsLoss"):
        try:
            getattr(losses, name)(model)(features, None)
        except Exception as exc:  # noqa: BLE001 (recording what ST raises)
            errors[name] = [type(exc).__name__, str(exc)]
    try:
        losses.CSRReconstructionLoss(model)(features)
    except Exception as exc:  # noqa: BLE001
        errors["CSRReconstructionLoss"] = [type(exc).__name__, str(exc)]
    try:
        losses.SpladeLoss(model, loss=torch.nn.MSELoss(), document_regularizer_weight=1.0)
    except Exception as exc:  # noqa: BLE001
        errors["SpladeLoss_no_compute_loss_from_embeddings"] = [type(exc).__name__, str(exc)]
    from sentence_transformers.sparse_encoder.callbacks import SpladeRegularizerWeightSchedulerCallback

    try:
        SpladeRegularizerWeightSchedulerCallback(losses.SparseMSELoss(model))
    except Exception as exc:  # noqa: BLE001
        errors["callback_not_splade"] = [type(exc).__name__, str(exc)]
    return errors


def schedules() -> list[dict]:
    from sentence_transformers.sparse_encoder import losses
    from sentence_transformers.sparse_encoder.callbacks import SpladeRegularizerWeightSchedulerCallback
    from transformers import TrainerControl, TrainerState

    out = []
    for scheduler_type, warmup_ratio, max_steps, query_weight in [("quadratic", 1 / 3, 10, 5e-5),
                                                                   ("linear", 1 / 3, 10, 5e-5),
                                                                   ("quadratic", 0.5, 7, None),
                                                                   ("linear", 1.0, 4, 2.0),
                                                                   ("quadratic", 1 / 3, 2, 1.0)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss = losses.SpladeLoss(None, losses.SparseMultipleNegativesRankingLoss.__new__(
                losses.SparseMultipleNegativesRankingLoss), document_regularizer_weight=3e-5,
                query_regularizer_weight=query_weight)
        callback = SpladeRegularizerWeightSchedulerCallback(loss, scheduler_type=scheduler_type,
                                                            warmup_ratio=warmup_ratio)
        state = TrainerState(max_steps=max_steps)
        callback.on_train_begin(None, state, TrainerControl())
        weights = []
        for step in range(max_steps + 1):
            state.global_step = step
            callback.on_step_begin(None, state, TrainerControl())
            weights.append([loss.document_regularizer_weight, loss.query_regularizer_weight])
        out.append({"scheduler_type": scheduler_type, "warmup_ratio": warmup_ratio, "max_steps": max_steps,
                    "query_regularizer_weight": query_weight, "weights": weights})
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    make_csr_model()
    cases = [run_case(spec) for spec in CASES]
    payload = {"batch_size": B, "cases": cases, "errors": misuse_errors(), "schedules": schedules()}
    (OUT / "st_sparse_losses.json").write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
    for c in cases:
        print(f"{c['name']:32s} value={c['expected']['value']:.6g} grad_norm={c['expected']['grad_norm']:.6g} "
              f"{c['expected']['components']}")


if __name__ == "__main__":
    main()

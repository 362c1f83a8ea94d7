"""Generate golden values for the wrapper losses (Matryoshka, Matryoshka2d, AdaptiveLayer), the TSDAE loss and the
cached (GradCache) losses CachedMultipleNegativesRankingLoss, CachedMultipleNegativesSymmetricRankingLoss and
CachedGISTEmbedLoss.

    /opt/dev/bin/python tests/generate_loss_extra_fixtures.py

Same protocol as ``tests/generate_loss_fixtures.py``: the reference model is the committed ``tiny_bert_v6`` with the
spreading Dense layer recorded in ``tests/fixtures/losses/st_losses.json``, in eval mode (no dropout); each case
builds a sentence-transformers 6.2 loss, computes it on a fixed 6-row batch, backpropagates, and records the value,
the total gradient L2 norm over the loss's parameters, the word-embedding gradient norm, ``get_config_dict()`` and
``citation``. Cases that sample layers or dimensions seed Python's ``random`` right before the call (``seed``).
A kwarg ``{"model": name}`` is a guide model: the fixture ``name`` with the spreading Dense layer of
``st_losses.json`` (tiny_bert_v6: its own Dense layer; tiny_mpnet_v6: appended), as in ``generate_loss_fixtures.py``.
The cached cases use mini-batches that do not divide the batch, so the last mini-batch is padded differently.

DenoisingAutoEncoderLoss builds a transformers BERT decoder whose cross-attention and LM-head transform are
randomly initialised; those decoder-only weights are saved (HF names) to ``losses_extra/dae_decoder.safetensors``
so that embedkit's decoder starts from the same values.

Output: ``tests/fixtures/losses_extra/st_losses_extra.json`` (+ the safetensors file).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import torch

FIXTURES = Path(__file__).parent / "fixtures"
OUT = FIXTURES / "losses_extra"
B = 6
WORD_EMBEDDINGS = ".embeddings.word_embeddings.weight"


def _texts() -> list[str]:
    return json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))["real"]


def columns(n: int) -> list[list[str]]:
    real = _texts()
    return [real[i * B:(i + 1) * B] for i in range(n)]


def damaged(texts: list[str]) -> list[str]:
    """Deterministic TSDAE-style noise: keep every other word (at least one)."""
    return [" ".join(text.split()[::2]) or text for text in texts]


def labels_score(seed: int) -> list[float]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(B, generator=gen).round(decimals=3).tolist()


def labels_embeddings(seed: int, dim: int) -> list[list[float]]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(B, dim, generator=gen).round(decimals=4).tolist()


def inner(name: str, **kwargs) -> dict:
    return {"loss": name, "kwargs": kwargs}


def case(name, loss, kwargs, cols, *, labels=None, seed=None, n_modules=4, dropout_seed=None):
    """``n_modules``: keep this many leading modules of tiny_bert_v6 (2 = Transformer + Pooling, 32-d output).

    ``dropout_seed``: the model runs in training mode (dropout on; a guide stays in eval mode) and torch is seeded
    with this right before the call, so both libraries draw the same dropout masks (GradCache replays them).
    """
    spec = {"name": name, "loss": loss, "kwargs": kwargs, "columns": cols, "labels": labels, "seed": seed,
            "n_modules": n_modules}
    return spec if dropout_seed is None else {**spec, "dropout_seed": dropout_seed}


def build_cases() -> list[dict]:
    real = _texts()
    mnrl = inner("MultipleNegativesRankingLoss")
    cmnrl = inner("CachedMultipleNegativesRankingLoss", mini_batch_size=2)
    dims = {"matryoshka_dims": [16, 8, 4], "matryoshka_weights": [1.0, 0.5, 2.0]}
    return [
        case("matryoshka_mnrl", "MatryoshkaLoss", {"loss": mnrl, **dims}, columns(3)),
        case("matryoshka_cmnrl", "MatryoshkaLoss", {"loss": cmnrl, **dims}, columns(3)),
        case("matryoshka_cosent_unsorted", "MatryoshkaLoss",
             {"loss": inner("CoSENTLoss"), "matryoshka_dims": [6, 16]}, columns(2), labels=labels_score(1)),
        case("matryoshka_mse_label_truncation", "MatryoshkaLoss",
             {"loss": inner("MSELoss"), "matryoshka_dims": [16, 8], "matryoshka_weights": [1, 3]}, columns(1),
             labels=labels_embeddings(2, 16)),
        case("matryoshka_mnrl_sampled_dims", "MatryoshkaLoss", {"loss": mnrl, **dims, "n_dims_per_step": 2},
             columns(2), seed=3),
        case("matryoshka_cmnrl_sampled_dims", "MatryoshkaLoss", {"loss": cmnrl, **dims, "n_dims_per_step": 2},
             columns(2), seed=3),
        case("adaptive_mnrl_all_layers", "AdaptiveLayerLoss", {"loss": mnrl, "n_layers_per_step": -1}, columns(3)),
        case("adaptive_cosent_weights", "AdaptiveLayerLoss",
             {"loss": inner("CoSENTLoss"), "n_layers_per_step": -1, "last_layer_weight": 2.0,
              "prior_layers_weight": 0.5, "kl_div_weight": 3.0, "kl_temperature": 0.7, "layer_weighting": "linear"},
             columns(2), labels=labels_score(4)),
        case("adaptive_mnrl_sampled_no_kl", "AdaptiveLayerLoss",
             {"loss": mnrl, "kl_temperature": 0.0, "layer_weighting": "log"}, columns(2), seed=5),
        case("matryoshka2d_mnrl_all", "Matryoshka2dLoss",
             {"loss": mnrl, **dims, "n_layers_per_step": -1, "n_dims_per_step": -1}, columns(3)),
        case("matryoshka2d_mnrl_defaults", "Matryoshka2dLoss",
             {"loss": mnrl, "matryoshka_dims": [16, 8, 4]}, columns(2), seed=6),
        # The decoder cross-attends to the sentence embedding, which must have the encoder's hidden size.
        case("dae_tied", "DenoisingAutoEncoderLoss", {}, [damaged(real[:B]), real[:B]], n_modules=2),
        # GradCache losses on their own (appended last: the cases above stay byte-identical on a re-run).
        case("cached_mnrl_1neg", "CachedMultipleNegativesRankingLoss", {"mini_batch_size": 4}, columns(3)),
        case("cached_mnrl_3neg_all_directions", "CachedMultipleNegativesRankingLoss",
             {"mini_batch_size": 5, "scale": 10.0,
              "directions": ["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"],
              "partition_mode": "joint", "hardness_mode": "hard_negatives", "hardness_strength": 3.0},
             columns(5)),
        case("cached_mnrl_token_budget", "CachedMultipleNegativesRankingLoss",
             {"mini_batch_size": 6, "mini_batch_num_tokens": 40}, columns(2)),
        case("cached_mnsrl", "CachedMultipleNegativesSymmetricRankingLoss", {"mini_batch_size": 4, "scale": 15.0},
             columns(2)),
        case("cached_gist_retok", "CachedGISTEmbedLoss",
             {"guide": {"model": "tiny_mpnet_v6"}, "temperature": 0.05, "mini_batch_size": 4}, columns(3)),
        case("cached_gist_same_tok_relative", "CachedGISTEmbedLoss",
             {"guide": {"model": "tiny_bert_v6"}, "temperature": 0.05, "margin_strategy": "relative", "margin": 0.1,
              "contrast_anchors": False, "mini_batch_size": 4}, columns(3)),
        # Dropout on: the replayed mini-batches must draw the masks of the first pass.
        case("cached_mnrl_dropout", "CachedMultipleNegativesRankingLoss", {"mini_batch_size": 4}, columns(3),
             dropout_seed=7),
        case("cached_mnsrl_dropout", "CachedMultipleNegativesSymmetricRankingLoss", {"mini_batch_size": 4},
             columns(2), dropout_seed=8),
        case("cached_gist_retok_dropout", "CachedGISTEmbedLoss",
             {"guide": {"model": "tiny_mpnet_v6"}, "temperature": 0.05, "mini_batch_size": 4}, columns(3),
             dropout_seed=9),
    ]


# ----------------------------------------------------------------------------- reference side
def load_st_model(n_modules: int = 4):
    from sentence_transformers import SentenceTransformer

    dense = json.loads((FIXTURES / "losses" / "st_losses.json").read_text(encoding="utf-8"))["spreading_dense"]
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    with torch.no_grad():
        model[2].linear.weight.copy_(torch.tensor(dense["tiny_bert_v6"]["weight"]))
        model[2].linear.bias.copy_(torch.tensor(dense["tiny_bert_v6"]["bias"]))
    while len(model) > n_modules:
        del model[len(model) - 1]
    return model.eval()


def load_st_guide(name: str):
    """A guide model: tiny_bert_v6 as the main model, or tiny_mpnet_v6 with the spreading Dense layer appended."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.dense import Dense

    if name == "tiny_bert_v6":
        return load_st_model(4)
    dense = json.loads((FIXTURES / "losses" / "st_losses.json").read_text(encoding="utf-8"))["spreading_dense"][name]
    weight, bias = torch.tensor(dense["weight"]), torch.tensor(dense["bias"])
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    model.append(Dense(weight.shape[1], weight.shape[0], init_weight=weight, init_bias=bias))
    return model.eval()


def jsonable(obj):
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return f"<{type(obj).__name__}>"


def grad_norms(loss) -> tuple[float, float]:
    total, words = 0.0, 0.0
    for name, p in loss.named_parameters():
        if p.grad is None:
            continue
        sq = float(p.grad.double().pow(2).sum())
        total += sq
        if name.endswith(WORD_EMBEDDINGS):
            words += sq
    return math.sqrt(total), math.sqrt(words)


def save_decoder_only_weights(loss, model) -> None:
    from safetensors.torch import save_file

    shared = {p.data_ptr() for p in model.parameters()}
    own = {name: p.detach().clone().contiguous() for name, p in loss.decoder.named_parameters()
           if p.data_ptr() not in shared}
    save_file(own, str(OUT / "dae_decoder.safetensors"))


def run_case(spec: dict) -> dict:
    import warnings

    from sentence_transformers.sentence_transformer import losses

    model = load_st_model(spec["n_modules"])
    kwargs = dict(spec["kwargs"])
    if "loss" in kwargs:
        kwargs["loss"] = getattr(losses, kwargs["loss"]["loss"])(model, **kwargs["loss"]["kwargs"])
    for key, value in kwargs.items():
        if isinstance(value, dict) and "model" in value:
            kwargs[key] = load_st_guide(value["model"])
    torch.manual_seed(0)  # the DAE decoder's new cross-attention and LM-head weights are drawn from torch's RNG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = getattr(losses, spec["loss"])(model, **kwargs)
    loss.eval()
    if spec.get("dropout_seed") is not None:
        model.train()
    if spec["loss"] == "DenoisingAutoEncoderLoss":
        save_decoder_only_weights(loss, model)
    features = [model.preprocess(col) for col in spec["columns"]]
    labels = None if spec["labels"] is None else torch.tensor(spec["labels"], dtype=torch.float32)
    if spec["seed"] is not None:
        random.seed(spec["seed"])
    if spec.get("dropout_seed") is not None:
        torch.manual_seed(spec["dropout_seed"])
    out = loss(features, labels)
    out.backward()
    total, words = grad_norms(loss)
    config = jsonable(loss.get_config_dict())
    if "decoder_name_or_path" in config:  # no machine path in the golden: relative to the repository
        repo = FIXTURES.parent.parent
        config["decoder_name_or_path"] = Path(config["decoder_name_or_path"]).relative_to(repo).as_posix()
    return {**spec, "expected": {"value": float(out.detach()), "grad_norm": total, "word_embeddings_grad_norm": words,
                                 "config": config, "citation": getattr(loss, "citation", None)}}


LOSS_NAMES = ["MatryoshkaLoss", "Matryoshka2dLoss", "AdaptiveLayerLoss", "DenoisingAutoEncoderLoss",
              "CachedMultipleNegativesRankingLoss", "CachedMultipleNegativesSymmetricRankingLoss",
              "CachedGISTEmbedLoss"]


def default_repr(default) -> str:
    """``"<required>"``, a function by its name (its repr holds a memory address), else ``repr``."""
    import inspect

    if default is inspect.Parameter.empty:
        return "<required>"
    if inspect.isfunction(default):
        return default.__qualname__
    return repr(default)


def signatures() -> dict[str, list[list[str]]]:
    """Constructor parameters (after ``self``) with their defaults' repr, ``"<required>"`` for none."""
    import inspect

    from sentence_transformers.sentence_transformer import losses

    out = {}
    for name in LOSS_NAMES:
        params = list(inspect.signature(getattr(losses, name).__init__).parameters.values())[1:]
        out[name] = [[p.name, default_repr(p.default)] for p in params]
    return out


def st_cached_losses() -> dict[str, list[str]]:
    """The ``Cached*`` loss classes sentence-transformers exports, per model type (tests/losses/test_cached_goldens.py
    checks that embedkit exports the same ones and that each has a golden case)."""
    import importlib

    out = {}
    for kind in ("sentence_transformer", "cross_encoder", "sparse_encoder"):
        module = importlib.import_module(f"sentence_transformers.{kind}.losses")
        out[kind] = sorted(name for name in dir(module) if name.startswith("Cached"))
    return out


def main() -> None:
    import sentence_transformers

    torch.set_num_threads(1)  # same reduction order as the tests (tests/losses/conftest.py)
    OUT.mkdir(parents=True, exist_ok=True)
    cases = [run_case(spec) for spec in build_cases()]
    payload = {"sentence_transformers_version": sentence_transformers.__version__, "torch_version": torch.__version__,
               "batch_size": B, "signatures": signatures(), "cases": cases, "st_cached_losses": st_cached_losses()}
    path = OUT / "st_losses_extra.json"
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {path} ({path.stat().st_size // 1024} KB)")
    for c in cases:
        e = c["expected"]
        print(f"  {c['name']:34s} value={e['value']:.6g} grad_norm={e['grad_norm']:.6g}")


if __name__ == "__main__":
    main()

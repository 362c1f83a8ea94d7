"""Golden values for "one embedkit trainer step == one sentence-transformers trainer step" (run by hand).

    python tests/generate_trainer_fixtures.py      # needs the dev extra (sentence-transformers, transformers)

For each case it copies tests/fixtures/tiny_bert_v6 with dropout disabled in config.json (so both trainers see the
same forward), runs ST's trainer for exactly one optimizer step and stores the embeddings of fixed probe texts
before and after in tests/fixtures/trainer_step.npz.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

PROBES = ["a cat sits on the mat", "stock markets fell", "the river is wide", "music in the park", "x"]
PAIRS = {
    "anchor": ["a cat on a mat", "stocks fell today", "a wide river", "bread and butter", "rain again",
               "a quick fox", "the chair broke", "music tonight"],
    "positive": ["a kitten on a rug", "markets dropped", "a broad stream", "toast with jam", "more showers",
                 "a fast fox", "the seat is broken", "a concert this evening"],
}
SCORES = [0.9, 0.8, 0.7, 0.2, 0.5, 0.95, 0.6, 0.4]
CASES = {
    "mnrl": dict(loss="MultipleNegativesRankingLoss", batch=8, accum=1, data="pairs"),
    "cosine_accum": dict(loss="CosineSimilarityLoss", batch=4, accum=2, data="scores"),
    "cosent": dict(loss="CoSENTLoss", batch=8, accum=1, data="scores"),
    # a loss with its own weights (the classifier), plain SGD so that clipping shows in the update: transformers
    # clips (and reports) the gradient norm of the model's parameters only, the classifier's gradient is not clipped
    "softmax_sgd_clipped": dict(loss="SoftmaxLoss", batch=8, accum=1, data="labels",
                                loss_kwargs={"num_labels": 3}, args={"optim": "sgd", "learning_rate": 0.5,
                                                                     "max_grad_norm": 0.05}),
}
LABELS = [0, 1, 2, 0, 1, 2, 0, 1]
ARGS = dict(max_steps=1, learning_rate=1e-3, warmup_ratio=0.0, seed=42, save_strategy="no", report_to="none",
            logging_steps=1)


def no_dropout_copy(target: Path) -> Path:
    shutil.copytree(HERE / "fixtures" / "tiny_bert_v6", target)
    config = json.loads((target / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (target / "config.json").write_text(json.dumps(config))
    return target


def data_for(kind: str) -> dict[str, list]:
    if kind == "pairs":
        return dict(PAIRS)
    if kind == "labels":
        return {"sentence1": PAIRS["anchor"], "sentence2": PAIRS["positive"], "label": LABELS}
    return {"sentence1": PAIRS["anchor"], "sentence2": PAIRS["positive"], "score": SCORES}


def loss_for(losses, case: dict, model):
    kwargs = dict(case.get("loss_kwargs", {}))
    if case["loss"] == "SoftmaxLoss":
        kwargs["embedding_dimension"] = model.get_embedding_dimension()
    return getattr(losses, case["loss"])(model, **kwargs)


def own_parameters(loss, model) -> dict[str, np.ndarray]:
    """The loss's parameters that are not the model's (SoftmaxLoss's classifier), by name."""
    model_ids = {id(p) for p in model.parameters()}
    return {n: p.detach().cpu().numpy().copy() for n, p in loss.named_parameters() if id(p) not in model_ids}


def main() -> None:
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )

    out = {}
    for name, case in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            model = SentenceTransformer(str(no_dropout_copy(Path(tmp) / "m")), device="cpu")
            out[f"{name}_before"] = model.encode(PROBES)
            args = SentenceTransformerTrainingArguments(output_dir=tmp + "/out",
                                                        per_device_train_batch_size=case["batch"],
                                                        gradient_accumulation_steps=case["accum"],
                                                        **{**ARGS, **case.get("args", {})})
            loss = loss_for(losses, case, model)
            for key, value in own_parameters(loss, model).items():
                out[f"{name}_loss.{key}_before"] = value
            trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(
                data_for(case["data"])), loss=loss)
            trainer.train()
            out[f"{name}_after"] = model.encode(PROBES)
            for key, value in own_parameters(loss, model).items():
                out[f"{name}_loss.{key}_after"] = value
            out[f"{name}_grad_norm"] = np.array([h["grad_norm"] for h in trainer.state.log_history
                                                 if "grad_norm" in h])
            moved = np.abs(out[f"{name}_after"] - out[f"{name}_before"]).max()
            print(f"{name}: ST step moved probe embeddings by up to {moved:.2e}")
    np.savez_compressed(HERE / "fixtures" / "trainer_step.npz", **out)


if __name__ == "__main__":
    main()

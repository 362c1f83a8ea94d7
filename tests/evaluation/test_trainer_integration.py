"""Evaluators inside SentenceTransformerTrainer: metrics arrive with the ``eval_`` prefix and
``metric_for_best_model`` can name one of them."""

from __future__ import annotations

from embedkit import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from embedkit.sentence_transformer import evaluation as ev
from tests.training.helpers import CosineMSE, sts_rows, tiny_model


def test_trainer_reports_evaluator_metrics(tmp_path):
    model = tiny_model(dropout=False)
    data = sts_rows(16)
    evaluator = ev.SequentialEvaluator([
        ev.EmbeddingSimilarityEvaluator(data["sentence1"], data["sentence2"], data["score"], name="sts-dev"),
        ev.TripletEvaluator(data["sentence1"][:4], data["sentence2"][:4], data["sentence2"][4:8], name="trip"),
    ])
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=8, eval_strategy="steps", eval_steps=1,
        save_strategy="no", disable_tqdm=True, report_to=[], metric_for_best_model="eval_sts-dev_spearman_cosine")
    trainer = SentenceTransformerTrainer(model, args, train_dataset=data, loss=CosineMSE(model), evaluator=evaluator)
    trainer.train()
    metrics = trainer.evaluate()
    assert {"eval_sts-dev_pearson_cosine", "eval_sts-dev_spearman_cosine", "eval_trip_cosine_accuracy",
            "eval_sequential_score"} <= set(metrics)
    assert metrics["eval_sequential_score"] == metrics["eval_trip_cosine_accuracy"]

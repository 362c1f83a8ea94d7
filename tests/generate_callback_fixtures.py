"""Record the order in which sentence-transformers 6.2's trainer (transformers 5.25) calls its callbacks (run by
hand; tests never import either).

    /root/venv6/bin/python tests/generate_callback_fixtures.py

Writes ``fixtures/callback_events.json``: for each run in :data:`RUNS` (training arguments, plus what a callback asks
of the loop through ``control`` at given steps), the list of ``[event, global_step]`` a recording callback saw.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
EVENTS = ("on_init_end", "on_train_begin", "on_epoch_begin", "on_step_begin", "on_substep_end",
          "on_pre_optimizer_step", "on_optimizer_step", "on_step_end", "on_epoch_end", "on_log", "on_evaluate",
          "on_save", "on_train_end")
BASE = dict(per_device_train_batch_size=4, num_train_epochs=2, disable_tqdm=True, report_to="none")
RUNS = {
    "accumulation_epoch_eval": (dict(gradient_accumulation_steps=2, eval_strategy="epoch", save_strategy="steps",
                                     save_steps=3, logging_steps=1), {}),
    "control_flags": (dict(eval_strategy="no", save_strategy="no", logging_steps=100),
                      {"1": ["should_save", "should_evaluate", "should_log"], "3": ["should_epoch_stop"],
                       "6": ["should_training_stop"]}),
    # 8 steps with every interval 3: the last step is evaluated and saved although 8 is not a multiple of 3
    "steps_not_dividing": (dict(eval_strategy="steps", eval_steps=3, save_strategy="steps", save_steps=3,
                                logging_steps=2), {}),
}


def sts_rows(n: int) -> dict[str, list]:
    """The rows of ``tests.training.helpers.sts_rows`` (same generator, without importing embedkit)."""
    import torch

    g = torch.Generator().manual_seed(0)
    words = ["cat", "dog", "car", "tree", "music", "rain", "bread", "river", "phone", "chair", "light", "stone"]
    s1 = [" ".join(words[i] for i in torch.randint(0, 12, (4,), generator=g).tolist()) for _ in range(n)]
    s2 = [" ".join(words[i] for i in torch.randint(0, 12, (5,), generator=g).tolist()) for _ in range(n)]
    return {"sentence1": s1, "sentence2": s2, "score": torch.rand(n, generator=g).tolist()}


def recording_callback(base: type, flags: dict[str, list[str]]) -> object:
    """A ``base`` (a TrainerCallback class) instance that appends ``[event, global_step]`` to ``.events`` for every
    event in :data:`EVENTS` and, in ``on_step_end``, sets the ``control`` flags ``flags`` lists for that step."""

    class Recorder(base):
        pass

    def hook(event: str):
        def record(self, args, state, control, **kwargs):
            self.events.append([event, state.global_step])
            if event == "on_step_end":
                for flag in flags.get(str(state.global_step), []):
                    setattr(control, flag, True)
        return record

    for event in EVENTS:
        setattr(Recorder, event, hook(event))
    recorder = Recorder()
    recorder.events = []
    return recorder


def main() -> None:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Args
    from sentence_transformers.losses import CosineSimilarityLoss
    from transformers import TrainerCallback

    out = {}
    for name, (extra, flags) in RUNS.items():
        recorder = recording_callback(TrainerCallback, flags)
        model = SentenceTransformer(str(FIX / "tiny_bert_v6"), device="cpu")
        args = Args(output_dir=tempfile.mkdtemp(), **BASE, **extra)
        trainer = SentenceTransformerTrainer(model, args, train_dataset=Dataset.from_dict(sts_rows(16)),
                                             eval_dataset=Dataset.from_dict(sts_rows(4)),
                                             loss=CosineSimilarityLoss(model), callbacks=[recorder])
        trainer.train()
        out[name] = recorder.events
        out.setdefault("log_keys", {})[name] = [sorted(entry) for entry in trainer.state.log_history]
    (FIX / "callback_events.json").write_text(json.dumps(out) + "\n")
    print({name: len(events) for name, events in out.items()}, file=sys.stderr)


if __name__ == "__main__":
    main()

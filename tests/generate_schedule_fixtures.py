"""Generate ``fixtures/schedule_golden.json``: the learning rate transformers' ``get_scheduler`` gives at every
optimizer step for each schedule embedkit supports (run by hand with transformers 5.x; tests never import it).

    /root/venv6/bin/python tests/generate_schedule_fixtures.py

Each case: a schedule name, the run's total steps, warmup steps and ``lr_scheduler_kwargs``; the base learning rate is
2e-3 and the lr is read after each ``scheduler.step()`` from step 0 to total + 2.
"""

from __future__ import annotations

import json
from pathlib import Path

BASE_LR = 2e-3
CASES = [
    ("linear", 10, 3, {}),
    ("cosine", 10, 2, {}),
    ("cosine", 12, 0, {"num_cycles": 1.5}),
    ("cosine_with_restarts", 12, 2, {"num_cycles": 3}),
    ("polynomial", 10, 2, {"power": 2.0, "lr_end": 1e-4}),
    ("constant", 5, 0, {}),
    ("constant_with_warmup", 6, 3, {}),
    ("inverse_sqrt", 12, 3, {}),
    ("inverse_sqrt", 12, 0, {"timescale": 4}),
    ("cosine_with_min_lr", 10, 2, {"min_lr": 1e-4}),
    ("cosine_with_min_lr", 10, 0, {"min_lr_rate": 0.2, "num_cycles": 1.0}),
    ("cosine_warmup_with_min_lr", 10, 3, {"min_lr_rate": 0.1}),
    ("cosine_warmup_with_min_lr", 10, 3, {"min_lr": 2e-4, "warmup_lr_rate": 0.3}),
    ("warmup_stable_decay", 12, 2, {"num_decay_steps": 4}),
    ("warmup_stable_decay", 12, 3, {"num_decay_steps": 3, "warmup_type": "cosine", "decay_type": "1-sqrt",
                                    "min_lr_ratio": 0.1}),
    ("warmup_stable_decay", 12, 2, {"num_decay_steps": 2, "num_stable_steps": 4, "warmup_type": "1-sqrt",
                                    "decay_type": "linear"}),
]


def main() -> None:
    import torch
    from transformers import get_scheduler

    out = []
    for name, total, warmup, kwargs in CASES:
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR)
        scheduler = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total,
                                  scheduler_specific_kwargs=dict(kwargs))
        lrs = []
        for _ in range(total + 3):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        out.append({"name": name, "total": total, "warmup": warmup, "kwargs": kwargs, "lrs": lrs})
    path = Path(__file__).parent / "fixtures" / "schedule_golden.json"
    path.write_text(json.dumps({"base_lr": BASE_LR, "cases": out}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

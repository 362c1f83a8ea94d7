"""Learning-rate schedules against transformers 5.25's ``get_scheduler`` (golden from
``tests/generate_schedule_fixtures.py``): every schedule embedkit supports, with and without warmup and with their
``lr_scheduler_kwargs``, the lr at every optimizer step and past the end."""

from __future__ import annotations

import json

import pytest
import torch

from embedkit.base.training_args import SCHEDULERS
from embedkit.schedules import build_scheduler
from tests.conftest import FIXTURES

GOLDEN = json.loads((FIXTURES / "schedule_golden.json").read_text(encoding="utf-8"))


def test_every_supported_schedule_has_a_case():
    # reduce_lr_on_plateau follows eval metrics, not steps: tests/training/test_trainer_flow.py covers it
    assert {case["name"] for case in GOLDEN["cases"]} == set(SCHEDULERS) - {"reduce_lr_on_plateau"}


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"{c['name']}-{c['warmup']}-{sorted(c['kwargs'])}")
def test_schedule_matches_transformers_at_every_step(case):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=GOLDEN["base_lr"])
    scheduler = build_scheduler(optimizer, case["name"], case["total"], case["warmup"], **case["kwargs"])
    lrs = []
    for _ in case["lrs"]:
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx(case["lrs"], rel=1e-12, abs=1e-15)


def test_schedule_kwargs_errors_are_transformers():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="One of min_lr or min_lr_rate should be set"):
        build_scheduler(optimizer, "cosine_with_min_lr", 10, 0)
    with pytest.raises(ValueError, match="Only one of min_lr or min_lr_rate should be set"):
        build_scheduler(optimizer, "cosine_with_min_lr", 10, 0, min_lr=0.1, min_lr_rate=0.1)
    with pytest.raises(ValueError, match="num_decay_steps"):
        build_scheduler(optimizer, "warmup_stable_decay", 10, 0)
    with pytest.raises(ValueError, match="Unknown decay type: cubic"):
        build_scheduler(optimizer, "warmup_stable_decay", 10, 0, num_decay_steps=2, decay_type="cubic")

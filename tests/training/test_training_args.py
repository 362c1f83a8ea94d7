"""Training arguments: sentence-transformers' conventions for warmup, JSON dict arguments, enums and workers."""

from __future__ import annotations

import logging
import multiprocessing

import pytest

from embedkit.base.sampler import BatchSamplers
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args


def test_warmup_ratio_moves_into_warmup_steps_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        args = Args(output_dir="x", warmup_ratio=0.25)
    assert args.warmup_steps == 0.25 and args.warmup_ratio is None
    assert any("`warmup_ratio` argument is deprecated" in m for m in caplog.messages)
    assert Args(output_dir="x", warmup_steps=7).warmup_steps == 7


def test_dict_arguments_accept_json_and_refuse_other_strings():
    args = Args(output_dir="x", router_mapping='{"q": "query"}', learning_rate_mapping='{"a": 0.1}', prompts="p: ")
    assert args.router_mapping == {"q": "query"} and args.learning_rate_mapping == {"a": 0.1} and args.prompts == "p: "
    for name in ("router_mapping", "learning_rate_mapping"):
        with pytest.raises(ValueError, match=name):
            Args(output_dir="x", **{name: "not json"})


def test_enums_callables_and_to_dict():
    assert (Args(output_dir="x", batch_sampler="no_duplicates_hashed").batch_sampler
            is BatchSamplers.NO_DUPLICATES_HASHED)
    with pytest.raises(ValueError, match="please select one of"):
        Args(output_dir="x", batch_sampler="nope")
    # str / format as sentence-transformers 6.2's string enums (recorded from it); equal to their values
    member = BatchSamplers.NO_DUPLICATES
    assert (str(member), f"{member}", member == "no_duplicates") == ("BatchSamplers.NO_DUPLICATES",
                                                                     "BatchSamplers.NO_DUPLICATES", True)
    custom = Args(output_dir="x", batch_sampler=lambda *a, **k: None)
    assert ("batch_sampler" not in custom.to_dict()
            and Args(output_dir="x").to_dict()["batch_sampler"] == "batch_sampler")


def test_spawned_workers_warning_without_fixing_the_start_method(monkeypatch, caplog):
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda allow_none=False: None)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn", "fork"])
    with caplog.at_level(logging.WARNING):
        Args(output_dir="x", dataloader_num_workers=2)
        Args(output_dir="x", dataloader_num_workers=2, dataloader_persistent_workers=True)
    assert sum("dataloader_persistent_workers=True" in m for m in caplog.messages) == 1

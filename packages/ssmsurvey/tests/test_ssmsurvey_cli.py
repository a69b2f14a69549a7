"""CLI tests: fit smoke run, one-line errors, bad inputs, data generators, the quick reproduction and the full one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from paperzoo.core import checked_config, run_jobs
from paperzoo.ssmsurvey.cli import main
from paperzoo.ssmsurvey.data import IGNORE, SyntheticTasks, make_batch, vocab_size
from paperzoo.ssmsurvey.experiment import Run, train_and_evaluate
from paperzoo.ssmsurvey.model import SequenceModel, build_mixer
from paperzoo.ssmsurvey.module import SSMSurveyModule


def test_fit_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--trainer.fast_dev_run=true", "--trainer.enable_progress_bar=false"]) == 0


@pytest.mark.parametrize("mixer", ["lti", "s4d", "s5", "mamba2", "transformer", "lstm"])
def test_fit_every_mixer(tmp_path, monkeypatch, mixer):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--trainer.fast_dev_run=true", "--trainer.enable_progress_bar=false", f"--model.mixer={mixer}"]
    if mixer == "s4d":
        args.append("--model.mixer_kwargs={l_max: 128}")
    assert main(args) == 0


def test_bench_unknown_names_one_line(capsys):
    assert main(["bench", "--task", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "selective_copy" in err
    assert "mqar" in err
    assert main(["bench", "--models", "s4d,rnn"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "rnn" in err
    assert "mamba2" in err


def test_bad_config_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--data.task=sorting", "--trainer.fast_dev_run=true"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "copy_memory" in err


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="expected one of"):
        build_mixer("rnn", 8)
    model = SequenceModel("s4d", 10, 8, 1, {"l_max": 32})
    with pytest.raises(ValueError, match="l_max = 32"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[batch, length\]"):
        model(torch.zeros(2, 3, 4, dtype=torch.long))


@pytest.mark.parametrize("task", ["selective_copy", "copy_memory", "induction_heads", "mqar", "parity", "listops_lite"])
def test_tasks_are_well_formed(task):
    gen = torch.Generator().manual_seed(0)
    tokens, targets = make_batch(task, 8, gen)
    assert tokens.shape == targets.shape
    assert tokens.dtype == torch.long
    V = vocab_size(task)
    assert tokens.max() < V
    assert targets[targets != IGNORE].max() < V
    assert (targets != IGNORE).any()


def test_selective_copy_positions_are_random_and_answers_in_order():
    tokens, targets = make_batch("selective_copy", 64, torch.Generator().manual_seed(0), length=32, n_data=4)
    data_positions = [tuple((row[:32] > 1).nonzero().flatten().tolist()) for row in tokens]
    assert len(set(data_positions)) > 50
    for row, tgt in zip(tokens, targets, strict=True):
        assert row[:32][row[:32] > 1].tolist() == tgt[32:].tolist()


def test_report_without_results_is_one_line(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path)]) == 2
    assert "reproduce" in capsys.readouterr().err


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    assert main(["reproduce", "--seeds", "0", "1", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    failed = [c["id"] for c in data["claims"] if not c["passed"]]
    assert not failed, failed


def test_reproduce_rejects_no_workers(tmp_path, capsys):
    assert main(["reproduce", "--workers", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--workers" in err
    assert len(err.strip().splitlines()) == 1


def test_training_in_a_worker_process_gives_the_same_model():
    """``reproduce --workers 2`` trains in spawned processes; a run seeds itself, so it must not matter where."""
    run = Run("tiny", "mamba", "selective_copy", {"length": 16, "n_data": 4, "n_tokens": 4}, 15, d_model=16)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count, so that float reductions round alike
    try:
        here = train_and_evaluate(run, 3, eval_size=64)
    finally:
        torch.set_num_threads(threads)
    # Two jobs, so that run_jobs starts its worker processes (a single job runs in this process).
    there = run_jobs(train_and_evaluate, [(run, 3, 64), (run, 4, 64)], workers=2)
    assert there[0] == here
    assert there[1] != here  # another seed is another model: the comparison can fail


def test_cached_run_reuses_its_weights_and_a_new_budget_retrains(tmp_path, monkeypatch):
    """``reproduce`` caches each trained model: the second call evaluates the stored weights without training."""
    from paperzoo.ssmsurvey import experiment

    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path))
    run = Run("tiny", "mamba", "selective_copy", {"length": 16, "n_data": 4, "n_tokens": 4}, 15, d_model=16)
    first = train_and_evaluate(run, 3, eval_size=64, cache=True)
    assert len(list((tmp_path / "ssmsurvey" / "runs").glob("*.ckpt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run must not train again")

    monkeypatch.setattr(experiment, "quiet_trainer", no_training)
    assert train_and_evaluate(run, 3, eval_size=64, cache=True) == first
    with pytest.raises(AssertionError, match="must not train"):  # another budget is another model
        train_and_evaluate(dataclasses.replace(run, steps=16), 3, eval_size=64, cache=True)
    with pytest.raises(AssertionError, match="must not train"):  # and without the cache it always trains
        train_and_evaluate(run, 3, eval_size=64)


@pytest.mark.parametrize(("name", "length", "layers"), [("tiny", 64, 2), ("gpu", 4096, 4)])
def test_configs_build(name, length, layers):
    """Each config's keys match the classes and its model builds (on the meta device) with the vocabulary the
    datamodule gives it; the GPU config is the Mamba paper's selective copying at length 4096."""
    cfg = checked_config(main, Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml")
    data = SyntheticTasks(**cfg["data"])
    assert data.task_kwargs["length"] == length
    with torch.device("meta"):
        module = SSMSurveyModule(**{**cfg["model"], "vocab_size": data.vocab_size})
    assert len(module.model.mixers) == layers
    assert sum(p.numel() for p in module.parameters()) > 0

"""CLI tests: fit smoke runs, the typed configs, one-line errors, bad inputs, data generators, the training runs
(in a worker process, from the cache) and the full reproduction."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from paperzoo.core import checked_config, config_hash, run_jobs, warmup_cosine
from paperzoo.ssmsurvey import PAPER
from paperzoo.ssmsurvey.cli import demo_runs, main
from paperzoo.ssmsurvey.config import MIXER_NAMES, ModelConfig, Run, run_optim
from paperzoo.ssmsurvey.data import IGNORE, SyntheticTasks, make_batch, vocab_size
from paperzoo.ssmsurvey.experiment import CACHE_VERSION, train_and_evaluate
from paperzoo.ssmsurvey.model import MIXERS, SequenceModel, build_mixer
from paperzoo.ssmsurvey.module import SSMSurveyModule
from paperzoo.ssmsurvey.reproduce import runs
from paperzoo.testing import assert_one_line_error

TINY_RUN = Run(
    "tiny", ModelConfig("mamba", d_model=16), "selective_copy", {"length": 16, "n_data": 4, "n_tokens": 4}, 15
)


def test_fit_fast_dev_run_and_checkpoint_reloads(tmp_path, monkeypatch):
    """``fit`` with the tiny config writes a checkpoint that ``load_from_checkpoint`` rebuilds from its configs."""
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(PAPER.config("tiny")), "--trainer.max_steps=2", "--trainer.val_check_interval=2"]
    assert main([*args, "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false"]) == 0
    (ckpt,) = tmp_path.glob("runs/ssmsurvey/*/checkpoints/*.ckpt")
    module = SSMSurveyModule.load_from_checkpoint(ckpt)
    assert module.cfg == ModelConfig("mamba", vocab_size=10, d_model=32)
    assert module.optim == run_optim(600, lr=5e-3)  # the tiny config's AdamW: warm-up 60 of 600 steps
    state = torch.load(ckpt, weights_only=False)["state_dict"]
    assert all(torch.equal(state[k], v) for k, v in module.state_dict().items())
    tokens = make_batch("selective_copy", 2, torch.Generator().manual_seed(0), length=64, n_data=8)[0]
    assert module(tokens).shape == (2, 72, 10)


@pytest.mark.parametrize("mixer", ["lti", "s4d", "s5", "mamba2", "transformer", "lstm"])
def test_fit_every_mixer(tmp_path, monkeypatch, mixer):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(PAPER.config("tiny")), "--trainer.fast_dev_run=true"]
    args += ["--trainer.enable_progress_bar=false", f"--model.model.mixer={mixer}"]
    if mixer == "s4d":
        args.append("--model.model.mixer_kwargs={l_max: 128}")
    assert main(args) == 0


def test_print_config_shows_the_nested_configs(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(PAPER.config("tiny")), "--print_config"])
    printed = capsys.readouterr().out
    assert "optim:" in printed
    assert "mixer: mamba" in printed
    assert "warmup_steps: 60" in printed


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("--model.model.d_model=0", "d_model"),
        ("--model.model.mixer=rnn", "mamba2"),
        ("--model.model.mixer_kwargs={init: lin}", "init"),
        ("--model.optim.lr=0", "optim.lr"),
        ("--data.task=sorting", "copy_memory"),
    ],
)
def test_bad_config_value_is_one_line(capsys, tmp_path, monkeypatch, option, fragment):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(main, ["fit", option, "--trainer.fast_dev_run=true"], capsys, fragment)


def test_bench_unknown_names_one_line(capsys):
    assert_one_line_error(main, ["bench", "--task", "nope"], capsys, "selective_copy", "mqar")
    assert_one_line_error(main, ["bench", "--models", "s4d,rnn"], capsys, "rnn", "mamba2")


def test_configs_name_every_mixer():
    assert tuple(MIXERS) == MIXER_NAMES
    with pytest.raises(ValueError, match="d_model"):
        ModelConfig(d_model=0)
    with pytest.raises(ValueError, match="steps"):
        Run("r", ModelConfig(), "mqar", {}, 0)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="expected one of"):
        build_mixer("rnn", 8)
    with pytest.raises(ValueError, match="has no option"):
        build_mixer("lstm", 8, d_state=4)
    with pytest.raises(ValueError, match="vocab_size"):
        SequenceModel(ModelConfig("lstm", d_model=8))
    model = SequenceModel(ModelConfig("s4d", vocab_size=10, d_model=8, n_layers=1, mixer_kwargs={"l_max": 32}))
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
    assert_one_line_error(main, ["report", "--results", str(tmp_path)], capsys, "reproduce")


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    assert main(["reproduce", "--seeds", "0", "1", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    failed = [c["id"] for c in data["claims"] if not c["passed"]]
    assert not failed, failed


def test_reproduce_writes_every_claim_from_its_table(tmp_path, monkeypatch):
    """The reproduction's plumbing on tiny runs and stand-in timings: every claim, the per-seed table, the plots."""
    from paperzoo.ssmsurvey import reproduce as rep

    tiny = []
    for r in rep.runs(True):  # the experiment's runs, 2 steps at d = 8 on a short selective-copying task
        model = dataclasses.replace(r.model, d_model=8)
        if model.mixer == "s4d":
            model.mixer_kwargs["l_max"] = 32
        tiny.append(dataclasses.replace(TINY_RUN, name=r.name, model=model, steps=2, optim=None))
    monkeypatch.setattr(rep, "runs", lambda quick: tiny)
    monkeypatch.setattr(rep, "forward_times", lambda names, lengths, **kw: {n: [1.0, 2.0] for n in names})
    monkeypatch.setattr(rep, "decode_times", lambda contexts, **kw: {"mamba": [1.0, 1.1], "transformer": [1.0, 3.0]})
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "cache"))
    assert rep.reproduce(seeds=[0, 1], out=tmp_path / "out", quick=True) == 0
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    claims = {c["id"]: c for c in data["claims"]}
    assert len(claims) == 16
    assert claims["ssm-linear-mamba"]["per_seed"]["mamba"] == pytest.approx([1.0, 1.0])  # twice the time at 2x L
    assert claims["decode-flat"]["per_seed"] == {"mamba_step_max_over_min": [1.1, 1.1]}
    assert claims["kv-cache-grows"]["method_value"] == 3.0
    assert set(claims["selective-copies"]["per_seed"]) == {r.name for r in tiny}
    assert claims["structured-long-memory"]["metric"] == "recall token accuracy"
    table = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert table["seeds"] == [0, 1]
    assert table["systems"]["transformer"]["decode_s_T2048"] == [3.0, 3.0]
    for name in ("forward-time.png", "decode-step.png", "eras.md", "claim-mamba-mqar.png"):
        assert (tmp_path / "out" / name).is_file()
    assert "| 3 selective SSM | mamba_fixed |" in (tmp_path / "out" / "eras.md").read_text()


def test_reproduce_rejects_no_workers(tmp_path, capsys):
    assert_one_line_error(main, ["reproduce", "--workers", "0", "--out", str(tmp_path)], capsys, "--workers")


def test_training_in_a_worker_process_gives_the_same_model():
    """``reproduce --workers 2`` trains in spawned processes; a run seeds itself, so it must not matter where."""
    run = TINY_RUN
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
    run = TINY_RUN
    first = train_and_evaluate(run, 3, eval_size=64, cache=True)
    assert len(list((tmp_path / "ssmsurvey" / "runs").glob("*.ckpt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run must not train again")

    monkeypatch.setattr(experiment, "quiet_trainer", no_training)
    assert train_and_evaluate(run, 3, eval_size=64, cache=True) == first
    with pytest.raises(AssertionError, match="must not train"):  # another budget is another model
        train_and_evaluate(dataclasses.replace(run, steps=16, optim=None), 3, eval_size=64, cache=True)
    with pytest.raises(AssertionError, match="must not train"):  # and so is another optimiser
        train_and_evaluate(dataclasses.replace(run, optim=run_optim(15, 3e-3 * 2)), 3, eval_size=64, cache=True)
    other = dataclasses.replace(run.optim, betas=(0.9, 0.999))
    with pytest.raises(AssertionError, match="must not train"):
        train_and_evaluate(dataclasses.replace(run, optim=other), 3, eval_size=64, cache=True)
    with pytest.raises(AssertionError, match="must not train"):  # and without the cache it always trains
        train_and_evaluate(run, 3, eval_size=64)


def test_cache_keys_of_the_committed_runs_are_the_ones_before_the_typed_configs():
    """The experiment's runs keep the cache keys of the flat run records they replaced (hashes computed with the
    code before the typed configs), so cached trained models stay valid."""
    before = {
        "mamba": "1ecf6caaa30f930a",
        "mamba_mqar": "833cbf6444042f21",
        "s4d_no_gate": "810a864c0587c801",
        "mamba_fixed": "fc999c5226285dd6",
        "s4d_hippo": "627112cfae6f71fd",
        "lti_dense": "0ee9d4cbd01c6bd8",
    }
    keys = {r.name: config_hash({"run": r.cache_key(), "seed": 0, "version": CACHE_VERSION}) for r in runs(False)}
    assert keys == before


def test_module_schedule_is_warmup_cosine_with_the_warmup_capped_at_half_the_run():
    """The module's warm-up is capped at half the run (a 20-step warm-up over 30 steps warms up 15)."""
    module = SSMSurveyModule(ModelConfig("lstm", vocab_size=4, d_model=4, n_layers=1), max_steps=30)
    assert module.optim.warmup_steps == 20
    scheduler = module.configure_optimizers()["lr_scheduler"]["scheduler"]
    expected = warmup_cosine(15, 30)
    assert [scheduler.lr_lambdas[0](s) for s in range(40)] == [expected(s) for s in range(40)]
    assert scheduler.lr_lambdas[0](14) == 1.0
    assert scheduler.lr_lambdas[0](15) == 1.0
    assert scheduler.lr_lambdas[0](22) == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 15)))
    groups = scheduler.optimizer.param_groups
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert all(g["betas"] == (0.9, 0.98) for g in groups)


def test_tiny_config_trains_the_demo_model():
    """configs/tiny.yaml trains the demo's Mamba (the tiny config is a short selective-copying task of 64
    positions; the demo's is 256): same backbone, same AdamW but for the warm-up, which follows the run's length."""
    cfg = checked_config(main, PAPER.config("tiny"))
    demo = demo_runs()[0]
    assert ModelConfig(**cfg["model"]["model"]) == demo.model
    optim = run_optim(cfg["trainer"]["max_steps"], lr=cfg["model"]["optim"]["lr"])
    assert dataclasses.asdict(optim) == {**cfg["model"]["optim"], "betas": tuple(cfg["model"]["optim"]["betas"])}
    assert dataclasses.replace(optim, warmup_steps=demo.optim.warmup_steps) == demo.optim


@pytest.mark.parametrize(("name", "length", "layers"), [("tiny", 64, 2), ("gpu", 4096, 4)])
def test_configs_build(name, length, layers):
    """Each config's keys match the classes and its model builds (on the meta device) with the vocabulary the
    datamodule gives it; the GPU config is the Mamba paper's selective copying at length 4096."""
    cfg = checked_config(main, PAPER.config(name))
    data = SyntheticTasks(**cfg["data"])
    assert data.task_kwargs["length"] == length
    model = {**cfg["model"]["model"], "vocab_size": data.vocab_size}
    with torch.device("meta"):
        module = SSMSurveyModule(model=model, optim=cfg["model"]["optim"], max_steps=cfg["model"]["max_steps"])
    assert len(module.model.mixers) == layers
    assert sum(p.numel() for p in module.parameters()) > 0

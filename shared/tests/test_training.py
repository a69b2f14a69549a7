"""Stage helpers of ``reproduce``: the quiet trainer, the step-following progress callback, parallel runs."""

from __future__ import annotations

import io
import operator

import lightning.pytorch as pl
import pytest
import torch
from rich.console import Console
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.core import StageProgress, StepProgress, quiet_trainer, run_jobs


class _Regression(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return DataLoader(TensorDataset(x, y), batch_size=8)


def test_step_progress_advances_once_per_step_and_keeps_the_losses():
    calls = []
    callback = StepProgress(lambda: calls.append(1))
    quiet_trainer(max_steps=12, callbacks=[callback]).fit(_Regression(), _loader())
    assert len(calls) == 12
    assert len(callback.losses) == 12
    # The losses are the real training losses: plain SGD on a noiseless linear target must reduce them.
    assert sum(callback.losses[-3:]) < sum(callback.losses[:3])


def test_stage_bar_completes_with_the_trainer(capsys):
    with StageProgress("toy", disable=True) as progress:
        with progress.stage("fit", 5) as advance:
            quiet_trainer(max_steps=5, callbacks=[StepProgress(advance)]).fit(_Regression(), _loader())
        (task,) = progress.progress.tasks
    assert task.completed == 5
    assert task.finished


def test_stages_print_lines_when_the_output_is_not_a_terminal():
    out = io.StringIO()
    with StageProgress("toy", console=Console(file=out, force_terminal=False, width=200)) as progress:
        with progress.stage("seed 0: fit", 3) as advance:
            for _ in range(3):
                advance()
        for _ in progress.track(["a", "b"], "seed 0: models"):
            pass
    lines = [line for line in out.getvalue().splitlines() if line.startswith("toy: ")]
    assert lines[0] == "toy: seed 0: fit: started"
    assert lines[1].startswith("toy: seed 0: fit: done in ")
    assert lines[1].endswith(" s")
    assert [line.split(" (")[0] for line in lines[2:]] == ["toy: seed 0: models: 1/2", "toy: seed 0: models: 2/2"]


def test_stages_print_no_lines_on_a_terminal_or_when_disabled():
    for terminal, disable in ((True, False), (False, True)):
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=200)
        with StageProgress("toy", disable=disable, console=console) as progress, progress.stage("fit", 2) as advance:
            advance(2)
        assert "toy: fit: started" not in out.getvalue()
        assert "done in" not in out.getvalue()


def test_run_jobs_in_order_in_this_process():
    done = []
    out = run_jobs(operator.mul, [(3, 3), (1, 1), (2, 2)], workers=1, on_done=lambda i, r: done.append(i))
    assert out == [9, 1, 4]
    assert done == [0, 1, 2]


def test_run_jobs_in_worker_processes_keeps_job_order():
    # Job functions are pickled by name, so they come from importable modules (not from this test file).
    done = []
    out = run_jobs(operator.mul, [(x, x) for x in range(6)], workers=2, on_done=lambda i, r: done.append(i))
    assert out == [x * x for x in range(6)]
    assert sorted(done) == list(range(6))
    # Each worker is a separate process with its own thread count.
    assert run_jobs(torch.get_num_threads, [(), ()], workers=2, threads_per_worker=3) == [3, 3]


def test_run_jobs_rejects_no_workers():
    with pytest.raises(ValueError, match="workers: expected a positive"):
        run_jobs(operator.mul, [(1, 1)], workers=0)

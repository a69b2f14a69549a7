"""Training helpers for the stages of ``reproduce``: quiet trainers, one progress display, parallel runs."""

from __future__ import annotations

import logging
import multiprocessing
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, TypeVar

import lightning.pytorch as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from paperzoo.core.callbacks import NonFiniteLossStop

T = TypeVar("T")


def quiet_trainer(
    max_steps: int = -1,
    max_epochs: int | None = None,
    accelerator: str = "cpu",
    callbacks: list[pl.Callback] | None = None,
    **kwargs: Any,
) -> pl.Trainer:
    """A Trainer for one stage of an experiment: no logger, no checkpoint files, no bar, no summary.

    The stage's own progress is shown by :class:`StageProgress`; a non-finite loss still stops it.

    Args:
        max_steps: optimiser steps (-1: bounded by ``max_epochs``).
        max_epochs: epochs, when ``max_steps`` is -1.
        accelerator: ``"cpu"`` keeps tiny runs repeatable; ``"auto"`` uses a GPU when there is one.
        callbacks: extra callbacks.
        **kwargs: any other Trainer argument.
    """
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    options: dict[str, Any] = {
        "accelerator": accelerator,
        "devices": 1,
        "max_steps": max_steps,
        "max_epochs": max_epochs,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "callbacks": [NonFiniteLossStop(), *(callbacks or [])],
    }
    options.update(kwargs)
    return pl.Trainer(**options)


class StageProgress:
    """One rich progress display for a whole ``reproduce`` run: a bar per stage, advanced by the caller.

    On a terminal the bars redraw in place. Written to a file or a pipe (a cluster job, ``nohup``, CI),
    rich draws nothing until the run ends, so each stage instead prints a line when it starts and when it
    ends, with its elapsed time.

    Args:
        package: the name shown in front of every bar and line.
        disable: show nothing (tests, nested runs).
        console: where to draw (default: rich's console on standard output).

    Example:
        >>> with StageProgress("vamba") as progress:
        ...     for seed in progress.track([0, 1, 2], "train vamba"):
        ...         pass
    """

    def __init__(self, package: str, disable: bool = False, console: Console | None = None) -> None:
        self.package = package
        self.progress = Progress(
            TextColumn(f"[bold]{package}[/bold]"),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=disable,
            console=console,
        )
        self._lines = not disable and not self.progress.console.is_terminal

    def __enter__(self) -> StageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _line(self, text: str) -> None:
        if self._lines:
            self.progress.console.print(f"{self.package}: {text}", highlight=False)

    def track(self, items: list, description: str) -> Iterator:
        """Iterate over ``items`` with a bar named ``description``."""
        task = self.progress.add_task(description, total=len(items))
        start = time.perf_counter()
        for i, item in enumerate(items):
            yield item
            self.progress.advance(task)
            self._line(f"{description}: {i + 1}/{len(items)} ({time.perf_counter() - start:.0f} s)")

    @contextmanager
    def stage(self, description: str, total: int) -> Iterator[Callable]:
        """A bar of ``total`` units; the context yields a function that advances it by one (or ``n``)."""
        task = self.progress.add_task(description, total=total)
        self._line(f"{description}: started")
        start = time.perf_counter()
        yield lambda n=1: self.progress.advance(task, n)
        self.progress.update(task, completed=total)
        self._line(f"{description}: done in {time.perf_counter() - start:.0f} s")

    def log(self, message: str) -> None:
        """Print a line above the bars."""
        self.progress.console.print(message)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_jobs(
    fn: Callable[..., T],
    jobs: Sequence[tuple],
    workers: int = 1,
    threads_per_worker: int = 1,
    on_done: Callable[[int, T], None] | None = None,
) -> list[T]:
    """``[fn(*job) for job in jobs]``, in ``workers`` processes when ``workers > 1``.

    Independent training runs of an experiment (models x seeds) fill the cores this way; each worker is a
    fresh ``spawn`` process with ``threads_per_worker`` torch threads, so runs do not share state and give
    the results they give in sequence when they seed themselves (up to float rounding from the thread count).
    Timings are not run here: measure them afterwards, when no worker is left to compete for the cores.

    Args:
        fn: a module-level function (it is pickled by name for the workers).
        jobs: argument tuples, one per call.
        workers: processes; 1 runs everything in this process, in order.
        threads_per_worker: torch threads in each worker process.
        on_done: called as ``on_done(index, result)`` when a job finishes, in completion order.

    Returns:
        The results in the order of ``jobs``.
    """
    if workers < 1:
        raise ValueError(f"workers: expected a positive number of processes, got {workers}")
    results: list[Any] = [None] * len(jobs)
    if workers == 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            results[i] = fn(*job)
            if on_done is not None:
                on_done(i, results[i])
        return results
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(threads_per_worker,)
    ) as pool:
        futures = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            if on_done is not None:
                on_done(i, results[i])
    return results

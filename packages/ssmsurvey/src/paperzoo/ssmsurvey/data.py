"""Synthetic tasks that isolate what each SSM era claims to add, generated on the fly from a seed.

Every generator returns ``(tokens [B, L] int64, targets [B, L] int64)``; targets are ``IGNORE`` except at
the answer positions. Token 0 is noise/blank, token 1 a marker; data tokens start at 2.

- ``selective_copy``: data tokens at random positions in noise, recalled in order (needs content selection).
- ``copy_memory``: data tokens, a lag of ``lag`` blanks, then recall (needs long memory; fixed positions).
- ``induction_heads``: after a trigger, recall the token that followed the trigger's first occurrence.
- ``mqar``: multi-query associative recall over key-value pairs.
- ``parity``: running parity of a bit sequence.
- ``listops_lite``: nested MAX/MIN/SUM-mod-10 expressions over digits, answer at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

IGNORE = -100


def selective_copy(
    batch: int, gen: torch.Generator, length: int = 256, n_data: int = 16, n_tokens: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """``length`` positions of noise holding ``n_data`` tokens at random positions, then ``n_data`` markers.

    Returns:
        tokens and targets ``[B, length + n_data]``; the targets are the data tokens in order, at the markers.
    """
    if n_data > length:
        raise ValueError(f"n_data: at most length = {length}, got {n_data}")
    data = torch.randint(2, 2 + n_tokens, (batch, n_data), generator=gen)
    pos = torch.rand(batch, length, generator=gen).argsort(dim=1)[:, :n_data].sort(dim=1).values
    tokens = torch.zeros(batch, length + n_data, dtype=torch.long)
    tokens.scatter_(1, pos, data)
    tokens[:, length:] = 1
    targets = torch.full_like(tokens, IGNORE)
    targets[:, length:] = data
    return tokens, targets


def copy_memory(
    batch: int, gen: torch.Generator, lag: int = 128, n_data: int = 8, n_tokens: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_data`` tokens, ``lag`` blanks, ``n_data`` markers at which the tokens are recalled in order.

    Returns:
        tokens and targets ``[B, 2 n_data + lag]``.
    """
    data = torch.randint(2, 2 + n_tokens, (batch, n_data), generator=gen)
    tokens = torch.zeros(batch, 2 * n_data + lag, dtype=torch.long)
    tokens[:, :n_data] = data
    tokens[:, n_data + lag :] = 1
    targets = torch.full_like(tokens, IGNORE)
    targets[:, n_data + lag :] = data
    return tokens, targets


def induction_heads(
    batch: int, gen: torch.Generator, length: int = 64, n_tokens: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random tokens with the trigger (1) once at a random position followed by a value; the trigger ends it.

    Returns:
        tokens and targets ``[B, length]``; the target at the last position is the value.
    """
    tokens = torch.randint(2, 2 + n_tokens, (batch, length), generator=gen)
    pos = torch.randint(0, length - 2, (batch,), generator=gen)
    rows = torch.arange(batch)
    tokens[rows, pos] = 1
    tokens[:, -1] = 1
    targets = torch.full_like(tokens, IGNORE)
    targets[:, -1] = tokens[rows, pos + 1]
    return tokens, targets


def mqar(
    batch: int, gen: torch.Generator, n_pairs: int = 8, n_keys: int = 32, n_values: int = 32, gap: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``k1 v1 ... kP vP``, ``gap`` blanks, then every key queried once in a random order.

    Keys are ``2 .. n_keys + 1``, values ``n_keys + 2 .. n_keys + n_values + 1``, unique keys per sequence.

    Returns:
        tokens and targets ``[B, 3 n_pairs + gap]``; at each query the target is its value.
    """
    if n_pairs > n_keys:
        raise ValueError(f"n_pairs: at most n_keys = {n_keys}, got {n_pairs}")
    keys = torch.rand(batch, n_keys, generator=gen).argsort(dim=1)[:, :n_pairs] + 2
    values = torch.randint(0, n_values, (batch, n_pairs), generator=gen) + n_keys + 2
    order = torch.rand(batch, n_pairs, generator=gen).argsort(dim=1)
    tokens = torch.zeros(batch, 3 * n_pairs + gap, dtype=torch.long)
    tokens[:, 0 : 2 * n_pairs : 2] = keys
    tokens[:, 1 : 2 * n_pairs : 2] = values
    tokens[:, 2 * n_pairs + gap :] = keys.gather(1, order)
    targets = torch.full_like(tokens, IGNORE)
    targets[:, 2 * n_pairs + gap :] = values.gather(1, order)
    return tokens, targets


def parity(batch: int, gen: torch.Generator, length: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Bits (tokens 2, 3); the target at each position is the parity of the prefix (2 even, 3 odd)."""
    bits = torch.randint(0, 2, (batch, length), generator=gen)
    return bits + 2, torch.cumsum(bits, dim=1) % 2 + 2


LISTOPS = {"MAX": 12, "MIN": 13, "SM": 14}
OPEN, CLOSE = 15, 16


def _listops_expr(gen: torch.Generator, depth: int, max_args: int) -> tuple[list[int], int]:
    if depth == 0 or torch.rand(1, generator=gen).item() < 0.3:
        d = int(torch.randint(0, 10, (1,), generator=gen))
        return [d + 2], d
    op = list(LISTOPS)[int(torch.randint(0, 3, (1,), generator=gen))]
    n = int(torch.randint(2, max_args + 1, (1,), generator=gen))
    toks, vals = [OPEN, LISTOPS[op]], []
    for _ in range(n):
        t, v = _listops_expr(gen, depth - 1, max_args)
        toks += t
        vals.append(v)
    value = max(vals) if op == "MAX" else min(vals) if op == "MIN" else sum(vals) % 10
    return [*toks, CLOSE], value


def listops_lite(
    batch: int, gen: torch.Generator, length: int = 64, depth: int = 2, max_args: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nested ListOps expressions (left-padded with 0 to ``length - 1``), then the marker; answer at the end.

    Digits are tokens 2..11, MAX/MIN/SM 12..14, brackets 15/16; the target is the value's digit token.
    """
    tokens = torch.zeros(batch, length, dtype=torch.long)
    targets = torch.full_like(tokens, IGNORE)
    for b in range(batch):
        toks, value = _listops_expr(gen, depth, max_args)
        while len(toks) > length - 1:
            toks, value = _listops_expr(gen, depth, max_args)
        tokens[b, length - 1 - len(toks) : length - 1] = torch.tensor(toks)
        targets[b, -1] = value + 2
    tokens[:, -1] = 1
    return tokens, targets


TASKS = {
    "selective_copy": selective_copy,
    "copy_memory": copy_memory,
    "induction_heads": induction_heads,
    "mqar": mqar,
    "parity": parity,
    "listops_lite": listops_lite,
}


def vocab_size(task: str, **kwargs: Any) -> int:
    """The vocabulary a task's tokens and targets live in."""
    check_task(task)
    if task in ("selective_copy", "copy_memory"):
        return 2 + kwargs.get("n_tokens", 8)
    if task == "induction_heads":
        return 2 + kwargs.get("n_tokens", 16)
    if task == "mqar":
        return 2 + kwargs.get("n_keys", 32) + kwargs.get("n_values", 32)
    if task == "parity":
        return 4
    return 17


def check_task(task: str) -> None:
    """Raise ValueError naming the valid tasks unless ``task`` is one."""
    if task not in TASKS:
        raise ValueError(f"task: unknown {task!r}; expected one of {', '.join(TASKS)}")


def make_batch(task: str, batch: int, gen: torch.Generator, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch of ``task`` drawn from ``gen``."""
    check_task(task)
    return TASKS[task](batch, gen, **kwargs)


class TaskStream(IterableDataset):
    """``n_batches`` batches of a task from a generator seeded with ``seed`` (the same batches every epoch
    for validation; training streams pass a new seed per epoch through ``epoch``)."""

    def __init__(self, task: str, task_kwargs: dict, batch_size: int, n_batches: int, seed: int) -> None:
        self.task, self.task_kwargs = task, task_kwargs
        self.batch_size, self.n_batches, self.seed = batch_size, n_batches, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        for _ in range(self.n_batches):
            yield make_batch(self.task, self.batch_size, gen, **self.task_kwargs)


class SyntheticTasks(pl.LightningDataModule):
    """A synthetic task as a LightningDataModule; training data is fresh every epoch, validation fixed.

    Args:
        task: one of :data:`TASKS`.
        task_kwargs: the generator's options (e.g. ``{"length": 256, "n_data": 16}``).
        batch_size: sequences per batch.
        train_batches: batches per training epoch.
        val_batches: batches of the fixed validation (and test) set.
        seed: data seed.
    """

    def __init__(
        self,
        task: str = "selective_copy",
        task_kwargs: dict | None = None,
        batch_size: int = 32,
        train_batches: int = 100,
        val_batches: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_task(task)
        if batch_size < 1 or train_batches < 1 or val_batches < 1:
            raise ValueError("batch_size, train_batches, val_batches: expected positive integers")
        self.task, self.task_kwargs = task, dict(task_kwargs or {})
        self.batch_size, self.train_batches, self.val_batches, self.seed = batch_size, train_batches, val_batches, seed
        make_batch(task, 1, torch.Generator().manual_seed(0), **self.task_kwargs)  # fail early on bad options
        self.vocab_size = vocab_size(task, **self.task_kwargs)
        self.train_stream = TaskStream(task, self.task_kwargs, batch_size, train_batches, seed)

    def _loader(self, stream: TaskStream) -> DataLoader:
        return DataLoader(stream, batch_size=None)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_stream)

    def val_dataloader(self) -> DataLoader:
        return self._loader(
            TaskStream(self.task, self.task_kwargs, self.batch_size, self.val_batches, 10**6 + self.seed)
        )

    def test_dataloader(self) -> DataLoader:
        return self._loader(
            TaskStream(self.task, self.task_kwargs, self.batch_size, self.val_batches, 2 * 10**6 + self.seed)
        )

    def predict_dataloader(self) -> DataLoader:
        return self._loader(TaskStream(self.task, self.task_kwargs, self.batch_size, 1, 3 * 10**6 + self.seed))

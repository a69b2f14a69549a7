"""The commands of ``paperzoo-vamba`` beyond fit/validate/test/predict and reproduce: bench, convert and demo.

``main`` runs the whole command line (:meth:`paperzoo.core.paper.Paper.main` of the package's ``PAPER``).
"""

from __future__ import annotations

from pathlib import Path

from paperzoo.core import CliError
from paperzoo.vamba import PAPER


def parse_frames(frames: str) -> list[int]:
    """``"16,64,256"`` -> ``[16, 64, 256]``; raises CliError for anything but positive integers."""
    try:
        values = [int(f) for f in frames.replace(" ", "").split(",") if f]
    except ValueError as err:
        raise CliError(
            f"--frames: expected comma-separated positive integers such as 16,64,256, got {frames!r}"
        ) from err
    if not values or any(v < 1 for v in values):
        raise CliError(f"--frames: frame counts must be positive integers, got {frames!r}")
    return values


def bench(frames: str = "16,64,256,1024", repeats: int = 1, device: str = "cpu", scale: str = "tiny") -> int:
    """Time, peak memory and FLOPs of Vamba vs the same-size Transformer (forward + backward, batch 1).

    Args:
        frames: comma-separated frame counts.
        repeats: timed repetitions per point (after one warm-up).
        device: ``cpu`` (peak memory = live tensor bytes, from a fresh process) or ``cuda`` (bf16 autocast, the
            Triton scan, peak = allocated memory; an arch that runs out of memory stops there).
        scale: ``tiny`` (the acceptance experiment's model) or ``gpu`` (``configs/gpu.yaml``'s model).
    """
    counts = parse_frames(frames)
    if repeats < 1:
        raise CliError(f"--repeats: expected a positive integer, got {repeats}")
    if device not in ("cpu", "cuda"):
        raise CliError(f"--device: expected cpu or cuda, got {device!r}")
    if scale not in ("tiny", "gpu"):
        raise CliError(f"--scale: expected tiny or gpu, got {scale!r}")
    import torch

    if device == "cuda":
        if not torch.cuda.is_available():
            raise CliError("--device cuda: no CUDA device is available here")
        return _bench_cuda(counts, repeats, scale)
    if scale != "tiny":
        raise CliError("--scale gpu: the paper-like model is for --device cuda (it would take hours on a CPU)")
    from paperzoo.vamba.efficiency import attention_backend, sweep

    print(f"attention backend: {attention_backend()}")
    print(f"{'arch':<12}{'frames':>7}{'M':>7}{'time s':>10}{'peak MiB':>10}{'RSS MiB':>10}{'GFLOP fwd':>11}")

    def show(arch: str, T: int, row: dict) -> None:
        print(
            f"{arch:<12}{T:>7}{16 * T:>7}{row['time_s']:>10.3f}{row['peak_mib']:>10.1f}"
            f"{row['rss_peak_mib']:>10.1f}{row['flops'] / 1e9:>11.2f}"
        )

    sweep(counts, repeats=repeats, on_result=show)
    return 0


def _bench_cuda(counts: list[int], repeats: int, scale: str) -> int:
    import torch

    from paperzoo.vamba.efficiency import sweep_on_device

    print(f"{torch.cuda.get_device_name()}, {scale} model, bf16 autocast, forward + backward, batch 1")
    print(f"{'arch':<12}{'frames':>7}{'M':>8}{'time s':>10}{'peak MiB':>11}{'GFLOP fwd':>11}")

    def show(arch: str, T: int, row: dict) -> None:
        cost = "out of memory".rjust(21) if row["oom"] else f"{row['time_s']:>10.3f}{row['peak_mib']:>11.0f}"
        print(f"{arch:<12}{T:>7}{int(row['tokens']):>8}{cost}{row['flops'] / 1e9:>11.0f}", flush=True)

    sweep_on_device(counts, torch.device("cuda"), scale, repeats=repeats, on_result=show)
    return 0


def convert(source: str, out: str) -> int:
    """Convert a Transformer LMM checkpoint into Vamba (SA weights copied into cross-attention).

    Args:
        source: a checkpoint saved as ``{"cfg": dict, "state_dict": ...}`` of a full Transformer LMM.
        out: where to write the Vamba checkpoint.
    """
    if not Path(source).is_file():
        raise CliError(f"--source: no such file {source!r}")
    from paperzoo.vamba.convert import convert_checkpoint

    convert_checkpoint(source, out)
    print(f"wrote {out}")
    return 0


def demo(seed: int = 0, steps: int = 60) -> int:
    """Train a tiny Vamba briefly, then show a SynthHour video's question, answer and the model's guess.

    Args:
        seed: data and model seed.
        steps: training steps before answering.
    """
    if steps < 0:
        raise CliError(f"--steps: expected a non-negative integer, got {steps}")
    import torch

    from paperzoo.core import quiet_trainer, seed_all
    from paperzoo.core.optim import OptimConfig
    from paperzoo.vamba.data import WORDS, SynthHourDataModule, make_sample
    from paperzoo.vamba.module import VambaModule

    vocab = [*WORDS, *[str(d) for d in range(10)]]
    seed_all(seed)
    dm = SynthHourDataModule(seed=seed, batch_size=8)
    module = VambaModule(arch="vamba", optim=OptimConfig(lr=2e-3, weight_decay=0.01, warmup_steps=20))
    if steps:
        trainer = quiet_trainer(max_steps=steps, gradient_clip_val=1.0, limit_val_batches=0)
        trainer.fit(module, train_dataloaders=dm.train_dataloader())
    sample = make_sample(dm.cfg, seed, "test", 0)
    module.model.eval()
    with torch.no_grad():
        logits, states = module.model(sample["frames"][None], sample["text"][None], return_video=True)
    guess = vocab[int(logits[0, -1].argmax())]
    print("question:", " ".join(vocab[i] for i in sample["text"].tolist()))
    print(f"answer: {vocab[int(sample['answer'])]}   Vamba after {steps} steps: {guess}")
    print(f"video tokens: {sample['frames'].shape[0]} frames x 16 patches = {states[-1].shape[1]} kept in every layer")
    return 0


main = PAPER.main

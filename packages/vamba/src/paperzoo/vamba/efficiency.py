"""Cost of Vamba against the same-size Transformer as the video grows: wall time, peak memory, FLOPs.

The analytic counter gives forward matmul FLOPs (2 per multiply-add) term by term, following the paper's
complexity analysis:

- Transformer: self-attention over ``L = M + N`` tokens, ``4 d L^2`` per layer, plus projections and MLP
  over all ``L`` tokens (``O(d^2 L)``);
- Vamba: text self-attention ``4 d N^2``, cross-attention ``4 d M N``, and per video token the Mamba-2
  projections and the chunked SSD scan (``O(d^2 M)``; the scan's intra-chunk products are ``O(M * chunk)``),
  while the MLP runs on the ``N`` text tokens only.

Elementwise work (norms, the depthwise conv, gates) is not counted, as in ``torch.utils.flop_counter``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from paperzoo.core.config import as_config
from paperzoo.eval import median_time
from paperzoo.vamba import PAPER
from paperzoo.vamba.baselines import build_model
from paperzoo.vamba.config import ModelConfig
from paperzoo.vamba.data import VOCAB_SIZE


def _attn_proj(cfg: ModelConfig, n_query: int, n_key: int) -> float:
    d, kvd = cfg.d_model, cfg.n_kv_heads * (cfg.d_model // cfg.n_heads)
    return 4.0 * d * d * n_query + 4.0 * d * kvd * n_key


def vision_flops(cfg: ModelConfig, frames: int) -> float:
    """Frame encoder: patch embedding, ViT blocks (attention inside each frame), projector."""
    P, vd = cfg.patches_per_frame, cfg.vit_dim
    tokens = frames * P
    per_token = 2.0 * cfg.channels * cfg.patch_size**2 * vd + 2.0 * vd * cfg.d_model
    per_token += cfg.vit_layers * (16.0 * vd * vd + 4.0 * P * vd)
    return tokens * per_token


def scan_flops(cfg: ModelConfig, M: int) -> float:
    """Matmuls of the chunked SSD scan over ``M`` steps (intra-chunk, chunk states, carried states)."""
    E, N, G = cfg.expand * cfg.d_model, cfg.d_state, cfg.ngroups
    chunk = min(cfg.chunk_size, M)
    Lp = math.ceil(M / chunk) * chunk
    return 2.0 * Lp * chunk * N * G + 2.0 * Lp * chunk * E + 4.0 * Lp * E * N


def analytic_flops(arch: str, cfg: ModelConfig, frames: int, n_text: int) -> dict[str, float]:
    """Forward FLOPs of one sample, by term.

    Returns:
        ``{"vision", "attention_scores", "projections", "mlp", "mixer", "head", "total"}``; for the
        Transformer ``attention_scores = 4 d (M + N)^2`` per layer, for Vamba ``4 d (N^2 + M N)``.
    """
    d, hidden, V = cfg.d_model, cfg.mlp_hidden, cfg.vocab_size
    M, N = frames * cfg.patches_per_frame, n_text
    out = {"vision": vision_flops(cfg, frames), "head": 2.0 * d * V * N, "mixer": 0.0}
    layers = cfg.n_layers
    if arch in ("transformer", "pooled", "question_only"):
        vid = {"transformer": M, "pooled": frames, "question_only": 0}[arch]
        if arch == "question_only":
            out["vision"] = 0.0
        L = vid + N
        out["attention_scores"] = layers * 4.0 * d * L * L
        out["projections"] = layers * _attn_proj(cfg, L, L)
        out["mlp"] = layers * 6.0 * d * hidden * L
    elif arch in ("vamba", "ca_only"):
        out["attention_scores"] = layers * 4.0 * d * (N * N + M * N)
        out["projections"] = layers * (_attn_proj(cfg, N, N) + _attn_proj(cfg, N, M))
        out["mlp"] = layers * 6.0 * d * hidden * N
        if arch == "vamba":
            E, H = cfg.expand * d, cfg.expand * d // cfg.headdim
            in_out = 2.0 * d * (2 * E + 2 * cfg.ngroups * cfg.d_state + H) + 2.0 * E * d
            out["mixer"] = layers * (M * in_out + scan_flops(cfg, M))
    else:
        raise ValueError(f"arch: unknown {arch!r}")
    out["total"] = sum(out.values())
    return out


def bench_config(frames: int, base: ModelConfig | None = None) -> ModelConfig:
    """The acceptance experiment's model sizes, allowing ``frames`` frames."""
    base = base or ModelConfig(vocab_size=VOCAB_SIZE)
    return dataclasses.replace(base, max_frames=max(base.max_frames, frames))


def sample_inputs(cfg: ModelConfig, frames: int, n_text: int = 10, batch: int = 1) -> dict[str, torch.Tensor]:
    """Random frames ``[batch, frames, C, S, S]`` and text ``[batch, n_text]``."""
    g = torch.Generator().manual_seed(0)
    return {
        "frames": torch.rand(batch, frames, cfg.channels, cfg.frame_size, cfg.frame_size, generator=g),
        "text": torch.randint(0, cfg.vocab_size, (batch, n_text), generator=g),
    }


def measured_flops(arch: str, cfg: ModelConfig, frames: int, n_text: int = 10) -> float:
    """Forward FLOPs of the real model counted by ``torch.utils.flop_counter.FlopCounterMode``."""
    model = build_model(arch, cfg)
    inputs = sample_inputs(cfg, frames, n_text)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**inputs)
    return float(counter.get_total_flops())


def _rss_mib(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_tensor_memory(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> float:
    """Peak bytes (MiB) of tensors alive at once during one forward + backward, above those alive before it.

    Every allocation and free of PyTorch's CPU allocator during the step is recorded by the profiler
    (``profile_memory=True``); replayed in time order, their running sum is the memory held by the step's
    tensors (activations, saved tensors, gradients, temporaries), and its maximum is the peak. Weights and
    inputs, allocated before the step, are not counted; nor is memory outside the allocator (the interpreter,
    libraries, allocator caches), which dominates the resident size of a model this small.
    """
    from torch.profiler import ProfilerActivity, profile

    model.zero_grad(set_to_none=True)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(**inputs).float().pow(2).mean().backward()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak / 2**20


def peak_memory_child(arch: str, frames: int) -> None:
    """Run in a fresh process: print the peak memory of one forward + backward (MiB), measured two ways.

    ``rss_peak_mib``: the resident high-water mark (``VmHWM``) above the resident size before the first step
    (a fresh process has no freed-but-resident memory from earlier steps); ``peak_mib``: the peak of the live
    tensor bytes of a second step (:func:`peak_tensor_memory`), the figure the memory claim uses.
    """
    torch.set_num_threads(1)
    cfg = bench_config(frames)
    torch.manual_seed(0)
    model = build_model(arch, cfg)
    inputs = sample_inputs(cfg, frames)
    base = _rss_mib("VmRSS")
    _reset_peak()
    model(**inputs).float().pow(2).mean().backward()
    peak = _rss_mib("VmHWM")
    rss = float("nan") if peak is None or base is None else peak - base
    print(json.dumps({"rss_peak_mib": rss, "peak_mib": peak_tensor_memory(model, inputs)}))


def peak_memory(arch: str, frames: int) -> dict[str, float]:
    """Peak memory (MiB) of one forward + backward of batch 1, measured in a fresh Python process.

    Returns:
        ``{"peak_mib": live tensor bytes, "rss_peak_mib": resident high-water mark}`` (NaN on failure).
    """
    code = f"from paperzoo.vamba.efficiency import peak_memory_child; peak_memory_child({arch!r}, {frames})"
    env_out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    try:
        row = json.loads(env_out.stdout.strip().splitlines()[-1])
        return {"peak_mib": float(row["peak_mib"]), "rss_peak_mib": float(row["rss_peak_mib"])}
    except (IndexError, ValueError, KeyError):
        return {"peak_mib": float("nan"), "rss_peak_mib": float("nan")}


def bench_one(arch: str, cfg: ModelConfig, frames: int, repeats: int = 2) -> dict[str, float]:
    """Forward + backward of batch 1: median wall time (s) after a warm-up, and peak memory (MiB).

    Peak memory comes from a fresh process (:func:`peak_memory`): ``peak_mib`` is the peak of the step's live
    tensor bytes (the same allocator accounting for every model), ``rss_peak_mib`` the resident high-water
    mark above the start of the step (NaN where ``/proc`` cannot tell, i.e. not Linux).
    """
    torch.manual_seed(0)
    model = build_model(arch, cfg)
    inputs = sample_inputs(cfg, frames)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(**inputs).float().pow(2).mean().backward()

    # One warm-up step (first-touch allocations, kernel selection); a step takes far longer than the time the
    # shared warm-up is there to cover.
    return {"time_s": median_time(step, repeats, warmup=1, min_warmup_s=0.0), **peak_memory(arch, frames)}


def attention_backend() -> str:
    """Which SDPA kernel PyTorch picks for these shapes on CPU (recorded with the results)."""
    q = torch.randn(1, 4, 64, 24, requires_grad=True)
    with torch.profiler.profile() as prof:
        torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
    names = [e.name for e in prof.events() if "attention" in e.name]
    return next((n for n in names if "flash" in n or "math" in n or "efficient" in n), names[0] if names else "?")


def sweep(
    frames: list[int],
    archs: tuple[str, ...] = ("vamba", "transformer"),
    repeats: int = 2,
    base: ModelConfig | None = None,
    on_result=None,
) -> dict[str, dict[int, dict[str, float]]]:
    """Time, peak memory, analytic and measured FLOPs of each arch at each frame count.

    Returns:
        ``{arch: {frames: {"time_s", "peak_mib", "flops", "flops_measured"}}}``.
    """
    out: dict[str, dict[int, dict[str, float]]] = {a: {} for a in archs}
    for arch in archs:
        for T in frames:
            cfg = bench_config(T, base)
            row = bench_one(arch, cfg, T, repeats)
            row["flops"] = analytic_flops(arch, cfg, T, 10)["total"]
            row["flops_measured"] = measured_flops(arch, cfg, T)
            out[arch][T] = row
            if on_result is not None:
                on_result(arch, T, row)
    return out


def gpu_scale_config(frames: int) -> ModelConfig:
    """The model that ``fit --config configs/gpu.yaml`` trains (its ``model.model`` block), for ``frames``."""
    import yaml

    model = yaml.safe_load(PAPER.config("gpu").read_text())["model"]["model"]
    return bench_config(frames, as_config(ModelConfig, {"vocab_size": VOCAB_SIZE, **model}))


def bench_on_device(
    arch: str, cfg: ModelConfig, frames: int, device: torch.device, repeats: int = 1, autocast: bool = True
) -> dict[str, float]:
    """Forward + backward of batch 1 on ``device`` (bf16 autocast on CUDA): median time after a warm-up and,
    on CUDA, the peak of allocated memory above the weights and inputs (``torch.cuda.max_memory_allocated``).

    Returns:
        ``{"time_s", "peak_mib", "oom"}``; ``oom`` is 1.0 when CUDA ran out of memory (time and peak NaN).
        ``peak_mib`` is NaN off CUDA (the CPU figure is :func:`peak_memory`'s, from a fresh process).
    """
    cuda = device.type == "cuda"
    nan = float("nan")
    row = {"time_s": nan, "peak_mib": nan, "oom": 0.0}
    try:
        torch.manual_seed(0)
        model = build_model(arch, cfg).to(device)
        inputs = {k: v.to(device) for k, v in sample_inputs(cfg, frames).items()}
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)

        def step() -> None:
            model.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda and autocast):
                loss = model(**inputs).float().pow(2).mean()
            loss.backward()
            if cuda:  # kernels run asynchronously: the step ends when the device is done
                torch.cuda.synchronize(device)

        # One warm-up step: it compiles and selects the kernels.
        row["time_s"] = median_time(step, repeats, warmup=1, min_warmup_s=0.0)
        if cuda:
            row["peak_mib"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    except torch.cuda.OutOfMemoryError:
        row["oom"] = 1.0
    # Drop every reference before the next point, so the allocator can hand the memory back.
    model = inputs = step = None
    if cuda:
        torch.cuda.empty_cache()
    return row


def sweep_on_device(
    frames: list[int],
    device: torch.device,
    scale: str = "tiny",
    archs: tuple[str, ...] = ("vamba", "transformer"),
    repeats: int = 1,
    on_result=None,
) -> dict[str, dict[int, dict[str, float]]]:
    """:func:`bench_on_device` at growing frame counts, both archs at each count before the next one.

    An arch that ran out of memory is not run at larger counts (its rows say ``oom``), so the sweep ends at
    the point where only Vamba still fits. ``scale`` is ``"tiny"`` (the acceptance experiment's sizes) or
    ``"gpu"`` (``configs/gpu.yaml``'s).
    """
    if scale not in ("tiny", "gpu"):
        raise ValueError(f"scale: expected 'tiny' or 'gpu', got {scale!r}")
    out: dict[str, dict[int, dict[str, float]]] = {a: {} for a in archs}
    for T in sorted(frames):
        cfg = gpu_scale_config(T) if scale == "gpu" else bench_config(T)
        for arch in archs:
            if any(row["oom"] for row in out[arch].values()):
                row = {"time_s": float("nan"), "peak_mib": float("nan"), "oom": 1.0}
            else:
                row = bench_on_device(arch, cfg, T, device, repeats)
            row["tokens"] = float(T * (cfg.frame_size // cfg.patch_size) ** 2)
            row["flops"] = analytic_flops(arch, cfg, T, 10)["total"]
            out[arch][T] = row
            if on_result is not None:
                on_result(arch, T, row)
    return out

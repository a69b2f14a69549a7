"""``paperzoo-flowtok``'s own command beyond fit/validate/test/predict, ``reproduce`` and ``demo``: ``bench``."""

from __future__ import annotations

from paperzoo.core import CliError
from paperzoo.flowtok import PAPER

main = PAPER.main


def bench(batch: int = 512, steps: int = 20, width: int = 128, depth: int = 4, heads: int = 4, repeats: int = 5) -> int:
    """Sampling throughput of FlowTok vs the text-as-condition baseline at equal width and depth.

    Both run from caption ids to image tokens (text encoder, then 20 guided Euler steps by default); the
    weights are random, since the cost does not depend on them. FlowTok's DiT sees N tokens, the baseline's 2N.

    Args:
        batch: captions per call.
        steps: Euler steps (at least 1).
        width: DiT width of both.
        depth: DiT depth of both.
        heads: attention heads of both.
        repeats: timed calls per method, alternating (the median counts).
    """
    for name, value in {"batch": batch, "steps": steps, "width": width, "depth": depth, "repeats": repeats}.items():
        if isinstance(value, bool) or value < 1:
            raise CliError(f"--{name}: expected an integer >= 1, got {value}")
    import torch

    from paperzoo.flowtok.config import FlowConfig, ModelConfig
    from paperzoo.flowtok.data import all_combinations, generate
    from paperzoo.flowtok.module import CondFlowBaselineModule, FlowTokT2IModule
    from paperzoo.flowtok.reproduce import sampling_throughput
    from paperzoo.flowtok.text_encoder import TextEncoder

    try:
        model, flow = ModelConfig(width=width, depth=depth, heads=heads), FlowConfig(steps=steps)
    except ValueError as err:
        raise CliError(f"bench: {err}") from err
    modules = {
        "flowtok": FlowTokT2IModule(model, flow, pretrained=False),
        "baseline": CondFlowBaselineModule(model, flow, pretrained=False),
    }
    attrs = all_combinations(batch // 64 + 1)[:batch]  # every combination, in turn
    tokens = generate(batch, torch.Generator().manual_seed(0), attrs).tokens
    text_encoder = TextEncoder(model.text_dim).eval()
    speed = sampling_throughput({k: m.eval() for k, m in modules.items()}, text_encoder, tokens, repeats)
    for name, value in speed.items():
        print(f"{name:<10}{value:>10.1f} samples/s")
    print(f"speed-up  {speed['flowtok'] / speed['baseline']:>10.2f}x  ({steps} Euler steps, batch {batch})")
    return 0

"""``paperzoo-flowtok``: fit/validate/test/predict (LightningCLI), ``reproduce``, ``demo`` and ``bench``."""

from __future__ import annotations

import sys
from pathlib import Path

from paperzoo.core import CliError, run_cli
from paperzoo.flowtok.data import ShapesCaptionDataModule
from paperzoo.flowtok.demo import demo
from paperzoo.flowtok.module import FlowTokT2IModule
from paperzoo.flowtok.reproduce import reproduce

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "tiny.yaml"


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

    from paperzoo.flowtok.data import all_combinations, generate
    from paperzoo.flowtok.module import CondFlowBaselineModule
    from paperzoo.flowtok.reproduce import sampling_throughput
    from paperzoo.flowtok.text_encoder import TextEncoder

    try:
        shared = {"width": width, "depth": depth, "heads": heads, "steps": steps, "pretrained": False}
        modules = {"flowtok": FlowTokT2IModule(**shared), "baseline": CondFlowBaselineModule(**shared)}
    except (ValueError, AssertionError) as err:
        raise CliError(f"bench: {err}") from err
    attrs = all_combinations(batch // 64 + 1)[:batch]  # every combination, in turn
    tokens = generate(batch, torch.Generator().manual_seed(0), attrs).tokens
    speed = sampling_throughput({k: m.eval() for k, m in modules.items()}, TextEncoder(64).eval(), tokens, repeats)
    for name, value in speed.items():
        print(f"{name:<10}{value:>10.1f} samples/s")
    print(f"speed-up  {speed['flowtok'] / speed['baseline']:>10.2f}x  ({steps} Euler steps, batch {batch})")
    return 0


def main(args: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    return run_cli(
        "flowtok",
        FlowTokT2IModule,
        ShapesCaptionDataModule,
        {"reproduce": reproduce, "demo": demo, "bench": bench},
        default_config=DEFAULT_CONFIG,
        args=args,
    )


if __name__ == "__main__":
    sys.exit(main())

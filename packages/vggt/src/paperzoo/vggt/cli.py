"""``paperzoo-vggt``: fit/validate/test/predict (LightningCLI) plus evaluate, ablate, reproduce and demo."""

from __future__ import annotations

import sys
from pathlib import Path

from paperzoo.core import run_cli
from paperzoo.vggt.data import SyntheticSceneDataModule
from paperzoo.vggt.demo import ablate, demo, evaluate_checkpoint
from paperzoo.vggt.module import VGGTModule
from paperzoo.vggt.reproduce import reproduce

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "tiny.yaml"
# The datamodule checks the image size against the model's patch early (before rendering): one option sets both.
LINKS = {"model.patch_size": "data.patch_size"}


def main(args: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    commands = {"reproduce": reproduce, "demo": demo, "evaluate": evaluate_checkpoint, "ablate": ablate}
    return run_cli(
        "vggt", VGGTModule, SyntheticSceneDataModule, commands, default_config=DEFAULT_CONFIG, args=args, links=LINKS
    )


if __name__ == "__main__":
    sys.exit(main())

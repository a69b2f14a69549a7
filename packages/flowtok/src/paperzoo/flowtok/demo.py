"""``paperzoo-flowtok demo``: draw a caption with a small FlowTok and save the samples as a PNG."""

from __future__ import annotations

from pathlib import Path

import torch

from paperzoo.core import CliError, load_stage, quiet_trainer, save_stage
from paperzoo.eval import save_figure
from paperzoo.flowtok import stages
from paperzoo.flowtok.config import ExperimentConfig
from paperzoo.flowtok.data import COLOURS, QUADRANTS, SHAPES, decode_tokens, encode_caption
from paperzoo.flowtok.module import FlowTokT2IModule


def demo(
    caption: str = "a red circle in the top left",
    samples: int = 8,
    steps: int = 20,
    train_steps: int = 1000,
    out: Path = Path("flowtok-demo.png"),
) -> int:
    """Draw one caption several times with a tiny FlowTok (trained once, then cached) and save a PNG.

    Args:
        caption: the caption, in the dataset's words (e.g. "a blue cross at bottom right").
        samples: how many images to draw.
        steps: Euler steps (at least 1).
        train_steps: flow training steps when no cached model exists.
        out: the PNG to write.
    """
    try:
        tokens = encode_caption(caption)
    except ValueError as err:
        raise CliError(str(err)) from err
    if steps < 1:
        raise CliError(f"--steps: expected an integer >= 1, got {steps}")
    if samples < 1:
        raise CliError(f"--samples: expected an integer >= 1, got {samples}")
    # The acceptance experiment's recipe: the reference code's KL form at the paper's γ1, lr 2e-3.
    cfg = ExperimentConfig()
    text_encoder, tokenizer = stages.front_ends(0, cfg=cfg.stages, log=print)
    oracle = stages.oracle(0, cfg.stages, log=print)
    module = FlowTokT2IModule(cfg.model, cfg.flow, cfg.optim, pretrained=False)
    key = {"demo": 1, "train_steps": train_steps, "hparams": dict(module.hparams)}
    state = load_stage("flowtok/demo", key)
    if state is None:
        print(f"training a tiny FlowTok ({train_steps} steps; cached afterwards)")
        data = stages.train_data(0, cfg.stages)
        with torch.no_grad():
            z = torch.cat([tokenizer.to_tokens(data.images[i : i + 512]) for i in range(0, len(data.images), 512)])
            text = torch.cat([text_encoder(data.tokens[i : i + 512]) for i in range(0, len(data.tokens), 512)])
        dataset = torch.utils.data.TensorDataset(z, text)
        loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True)
        quiet_trainer(max_steps=train_steps).fit(module, loader)
        save_stage("flowtok/demo", key, module.state_dict())
    else:
        module.load_state_dict(state)
    module.eval()
    with torch.no_grad():
        text = text_encoder(tokens[None].repeat(samples, 1))
        images = tokenizer.from_tokens(module.generate(text, torch.Generator().manual_seed(0), steps=steps))
    attrs, sizes, _ = oracle.predict(images)
    print(f"caption: {decode_tokens(tokens)}")
    for i, (a, s) in enumerate(zip(attrs, sizes)):
        v, h = QUADRANTS[a[2]]
        print(f"  sample {i}: oracle sees a {COLOURS[a[1]]} {SHAPES[a[0]]} at {v} {h}, size {float(s):.2f} px")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, samples, figsize=(1.4 * samples, 1.6), squeeze=False)
    for ax, image in zip(axes[0], images):
        ax.imshow(image.permute(1, 2, 0).numpy())
        ax.axis("off")
    fig.suptitle(decode_tokens(tokens), fontsize=9)
    fig.set_dpi(110)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out)
    print(f"saved {out}")
    return 0

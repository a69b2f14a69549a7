"""Training and evaluation of one model on one task, and the equivalence checks of the acceptance experiment."""

from __future__ import annotations

import dataclasses

import torch

from paperzoo.core import load_stage, quiet_trainer, save_stage, seed_all
from paperzoo.ssmsurvey.config import Run
from paperzoo.ssmsurvey.data import SyntheticTasks, make_batch
from paperzoo.ssmsurvey.layers import S4D, Mamba
from paperzoo.ssmsurvey.layers.discretize import zoh, zoh_diagonal
from paperzoo.ssmsurvey.module import SSMSurveyModule, answer_accuracy

# Bump when a change to the layers or the training loop makes earlier cached models stale.
CACHE_VERSION = 1


def train_and_evaluate(run: Run, seed: int, eval_size: int = 512, cache: bool = False) -> tuple[float, int]:
    """Train ``run`` with ``seed`` and return (answer token accuracy on fresh sequences, parameter count).

    Args:
        run: the model, task and budget.
        seed: seeds the initialisation and the training stream.
        eval_size: held-out sequences for the accuracy.
        cache: keep the trained weights under ``$PAPERZOO_CACHE/ssmsurvey/runs`` (keyed by
            :meth:`Run.cache_key <paperzoo.ssmsurvey.config.Run.cache_key>`, ``seed`` and :data:`CACHE_VERSION`)
            and reuse them instead of training again. The evaluation always runs. ``reproduce`` uses it so that a
            long run that is interrupted resumes where it stopped.
    """
    seed_all(seed)
    data = SyntheticTasks(run.task, run.task_kwargs, run.batch_size, train_batches=run.steps, val_batches=1, seed=seed)
    if run.model.vocab_size not in (None, data.vocab_size):
        raise ValueError(f"vocab_size: task {run.task} needs {data.vocab_size}, got {run.model.vocab_size}")
    model = dataclasses.replace(run.model, vocab_size=data.vocab_size)
    module = SSMSurveyModule(model, run.optim, max_steps=run.steps)
    key = {"run": run.cache_key(), "seed": seed, "version": CACHE_VERSION}
    state = load_stage("ssmsurvey/runs", key) if cache else None
    if state is not None:
        module.load_state_dict(state)
    else:
        trainer = quiet_trainer(max_steps=run.steps, limit_val_batches=0, gradient_clip_val=1.0)
        trainer.fit(module, datamodule=data)
        if cache:
            save_stage("ssmsurvey/runs", key, module.state_dict())
    gen = torch.Generator().manual_seed(7_000_000 + seed)
    tokens, targets = make_batch(run.task, eval_size, gen, **run.task_kwargs)
    module.eval()
    with torch.no_grad():
        acc = answer_accuracy(module(tokens), targets)[0].item()
    return acc, module.model.num_parameters()["total"]


def equivalence_checks(seed: int) -> dict[str, float]:
    """Max abs differences of the equivalences the experiment checks, on seeded random layers.

    Returns:
        ``s4d_conv_vs_recurrent_f64``, ``s4d_conv_vs_recurrent_f32``, ``zoh_vs_matrix_exp``,
        ``scan_vs_loop``, ``nonselective_mamba_vs_lti``.
    """
    seed_all(seed)
    out: dict[str, float] = {}
    u = torch.randn(2, 200, 8, dtype=torch.float64)
    for dtype, key in ((torch.float64, "f64"), (torch.float32, "f32")):
        layer = S4D(8, d_state=16, l_max=256, dt_min=0.01, dt_max=0.1).to(dtype)
        with torch.no_grad():
            diff = (layer.ssm(u.to(dtype), mode="conv") - layer.ssm(u.to(dtype), mode="recurrent")).abs().max()
        out[f"s4d_conv_vs_recurrent_{key}"] = diff.item()
    # Dense ZOH against the block matrix exponential exp([[A, B], [0, 0]] Δ) = [[Ā, B̄], [0, I]].
    A = torch.randn(6, 6, dtype=torch.float64) - 2 * torch.eye(6, dtype=torch.float64)
    B = torch.randn(6, 1, dtype=torch.float64)
    dt = torch.tensor(0.3, dtype=torch.float64)
    Ad, Bd = zoh(A, B, dt)
    M = torch.zeros(7, 7, dtype=torch.float64)
    M[:6, :6], M[:6, 6:] = A, B
    E = torch.linalg.matrix_exp(dt * M)
    diag = torch.complex(-torch.rand(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64))
    Ad_diag, _ = zoh_diagonal(diag, torch.ones_like(diag), torch.full((3,), 0.3, dtype=torch.float64))
    out["zoh_vs_matrix_exp"] = max(
        (Ad - E[:6, :6]).abs().max().item(),
        (Bd - E[:6, 6:]).abs().max().item(),
        (Ad_diag - torch.linalg.matrix_exp(0.3 * torch.diag_embed(diag)).diagonal(dim1=-2, dim2=-1)).abs().max().item(),
    )
    out["scan_vs_loop"] = scan_vs_loop(seed)
    out["nonselective_mamba_vs_lti"] = nonselective_vs_lti(seed)
    return out


def sequential_selective_scan(u, delta, A, B, C, D):
    """The selective recurrence as a plain loop over time (float64): ``[b, d, L]`` in, ``[b, d, L]`` out."""
    h = torch.zeros(u.shape[0], u.shape[1], A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(u.shape[2]):
        h = torch.exp(delta[:, :, t, None] * A) * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        ys.append((h * C[:, None, :, t]).sum(-1) + D * u[:, :, t])
    return torch.stack(ys, dim=-1)


def scan_vs_loop(seed: int) -> float:
    """Max abs difference between the shared chunked ``selective_scan`` and :func:`sequential_selective_scan`."""
    from paperzoo.kernels.selective_scan import selective_scan

    gen = torch.Generator().manual_seed(seed)
    b, d, L, N = 2, 6, 77, 5
    u = torch.randn(b, d, L, generator=gen, dtype=torch.float64)
    delta = torch.rand(b, d, L, generator=gen, dtype=torch.float64) * 0.5
    A = -torch.rand(d, N, generator=gen, dtype=torch.float64) - 0.1
    B = torch.randn(b, N, L, generator=gen, dtype=torch.float64)
    C = torch.randn(b, N, L, generator=gen, dtype=torch.float64)
    D = torch.randn(d, generator=gen, dtype=torch.float64)
    y = selective_scan(u, delta, A, B, C, D)
    return (y - sequential_selective_scan(u, delta, A, B, C, D)).abs().max().item()


def nonselective_vs_lti(seed: int) -> float:
    """Mamba's SSM with constant Δ, B, C against the LTI convolution ``K_l = Σ_n C_n exp(ΔA_n)^l Δ B_n``."""
    from paperzoo.kernels.selective_scan import selective_scan

    seed_all(seed)
    block = Mamba(8, d_state=4, selective=False).double()
    x = torch.randn(2, block.d_inner, 50, dtype=torch.float64)
    delta, B, C = block.ssm_params(x)
    A = -torch.exp(block.A_log)
    y = selective_scan(x, delta, A, B, C, block.D, delta_bias=block.dt_bias, delta_softplus=True)
    dt = torch.nn.functional.softplus(block.dt_bias)  # [d]
    pos = torch.arange(50, dtype=torch.float64)
    K = torch.einsum("n,dnl->dl", block.C_const * block.B_const, torch.exp(dt[:, None, None] * A[:, :, None] * pos))
    K = K * dt[:, None]  # [d, L]
    y_lti = torch.stack([(K[:, : t + 1].flip(-1) * x[:, :, : t + 1]).sum(-1) for t in range(50)], dim=-1)
    return (y - (y_lti + block.D[:, None] * x)).detach().abs().max().item()

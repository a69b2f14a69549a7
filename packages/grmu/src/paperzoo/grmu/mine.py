"""MINE: the critic T_ψ(z, onehot(g)), the Donsker–Varadhan bound with the EMA-corrected gradient, tuning.

Î(Z; G) = E_{(z,g)}[T(z, g)] − log E_{(z, g̃)}[e^{T(z, g̃)}], where the marginal pairs each z with a group
g̃ drawn uniformly at random, which decouples z from g. The gradient of the log term is biased on
mini-batches; MINE replaces its denominator with an exponential moving average of E[e^T] (α = 0.01).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn


class MineCritic(nn.Module):
    """T_ψ: Linear(|Z| + |G| → hidden), ReLU, Linear(hidden → 1).

    Args:
        feat_dim: |Z|.
        n_groups: |G|.
        hidden: hidden width (512 in the paper).
    """

    def __init__(self, feat_dim: int, n_groups: int, hidden: int = 512) -> None:
        super().__init__()
        self.feat_dim, self.n_groups = feat_dim, n_groups
        self.net = nn.Sequential(nn.Linear(feat_dim + n_groups, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """T(z, g). ``[B, feat_dim], [B] (int) -> [B]``."""
        if z.dim() != 2 or z.shape[1] != self.feat_dim:
            raise ValueError(f"z: expected shape [B, {self.feat_dim}], got {list(z.shape)}")
        if g.shape != z.shape[:1]:
            raise ValueError(f"g: expected shape [{z.shape[0]}], got {list(g.shape)}")
        return self.net(torch.cat([z, F.one_hot(g, self.n_groups).to(z.dtype)], dim=1)).squeeze(1)


class _EmaLogMeanExp(torch.autograd.Function):
    """log mean e^t whose backward uses the running mean of e^t (``log_ema``, in log space) instead of the
    batch mean: MINE's bias correction."""

    @staticmethod
    def forward(ctx, t: torch.Tensor, log_ema: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(t, log_ema)
        return torch.logsumexp(t, 0) - math.log(t.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        t, log_ema = ctx.saved_tensors
        # d/dt log E[e^t] = e^t / (N E[e^t]); E[e^t] is replaced by its EMA. Log space avoids overflow.
        return grad * torch.exp(t - math.log(t.shape[0]) - log_ema), None


class MutualInformation(nn.Module):
    """A MINE estimator: a critic and the EMA of E[e^T] (kept as its log) that corrects its gradient.

    Args:
        feat_dim: |Z|.
        n_groups: |G|.
        hidden: critic width.
        alpha: EMA rate (0.01 in MINE).
    """

    def __init__(self, feat_dim: int, n_groups: int, hidden: int = 512, alpha: float = 0.01) -> None:
        super().__init__()
        self.critic = MineCritic(feat_dim, n_groups, hidden)
        self.n_groups, self.alpha = n_groups, alpha
        self.register_buffer("log_ema", torch.tensor(float("nan")))

    def marginal_groups(self, g: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """g̃ ~ Uniform(G), independent of z. ``[B] -> [B]``."""
        return torch.randint(0, self.n_groups, g.shape, generator=generator, device=g.device)

    def forward(
        self, z: torch.Tensor, g: torch.Tensor, generator: torch.Generator | None = None, update_ema: bool = True
    ) -> torch.Tensor:
        """The DV bound Î(Z; G) on a batch (a scalar), differentiable in z and ψ with the EMA-corrected gradient.

        Args:
            z: features ``[B, feat_dim]``.
            g: groups ``[B]`` (int).
            generator: the source of the marginal's groups.
            update_ema: update the running E[e^T] (off when only the model, not ψ, is trained).
        """
        joint = self.critic(z, g).mean()
        t_marg = self.critic(z, self.marginal_groups(g, generator))  # [B]
        with torch.no_grad():
            log_batch = torch.logsumexp(t_marg.detach(), 0) - math.log(t_marg.shape[0])
            if torch.isnan(self.log_ema):
                log_ema = log_batch
            else:
                # log((1 − α)·ema + α·batch_mean), in log space.
                log_ema = torch.logaddexp(self.log_ema + math.log(1 - self.alpha), log_batch + math.log(self.alpha))
            if update_ema:
                self.log_ema.copy_(log_ema)
        return joint - _EmaLogMeanExp.apply(t_marg, log_ema)


def tune(
    estimator: MutualInformation,
    features: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    lr: float,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
) -> torch.optim.Optimizer:
    """Maximise the DV bound over ψ on the given batches; the feature extractor does not move.

    Args:
        estimator: the MINE estimator to tune.
        features: x -> Z (called under no_grad).
        batches: ``(x, g)`` pairs.
        lr: SGD learning rate (momentum 0.9).
        optimizer: an optimizer to continue with (keeps momentum across epochs), or None for a new one.
        generator: the source of the marginal's groups.

    Returns:
        the optimizer, to pass back next time.
    """
    opt = optimizer or torch.optim.SGD(estimator.parameters(), lr=lr, momentum=0.9)
    estimator.train()
    for x, g in batches:
        with torch.no_grad():
            z = features(x)
        loss = -estimator(z, g, generator)
        opt.zero_grad()
        loss.backward()
        # A rare large e^T makes the corrected gradient spike; clipping keeps the ascent stable.
        torch.nn.utils.clip_grad_norm_(estimator.parameters(), 10.0)
        opt.step()
    return opt


@torch.no_grad()
def estimate(
    estimator: MutualInformation, z: torch.Tensor, g: torch.Tensor, generator: torch.Generator, repeats: int = 8
) -> float:
    """The DV bound on a whole set (averaging the marginal over ``repeats`` draws of g̃), in nats."""
    joint = estimator.critic(z, g).mean()
    t_marg = torch.cat([estimator.critic(z, estimator.marginal_groups(g, generator)) for _ in range(repeats)])
    return float(joint - (torch.logsumexp(t_marg, 0) - math.log(t_marg.shape[0])))


def gaussian_mixture_mi(means: torch.Tensor, n_samples: int, generator: torch.Generator) -> float:
    """Monte-Carlo I(Z; G) for G uniform over the rows of ``means`` and Z | G ~ N(μ_g, I), in nats.

    Args:
        means: ``[G, D]`` group means.
        n_samples: Monte-Carlo samples.
        generator: the source of randomness.
    """
    n_groups = means.shape[0]
    g = torch.randint(0, n_groups, (n_samples,), generator=generator)
    z = means[g] + torch.randn(n_samples, means.shape[1], generator=generator)
    log_lik = -0.5 * torch.cdist(z, means).pow(2)  # [N, G], up to a constant shared by all groups
    log_cond = log_lik[torch.arange(n_samples), g]
    log_marg = torch.logsumexp(log_lik, 1) - math.log(n_groups)
    return float((log_cond - log_marg).mean())


def gaussian_check(
    seed: int, steps: int = 2000, n_groups: int = 4, dim: int = 8, separation: float = 2.0, lr: float = 0.05
) -> tuple[float, float]:
    """Tune a MINE estimator on Z | G ~ N(μ_g, I) with G uniform; return (DV estimate, Monte-Carlo true MI).

    The means are ``separation`` times orthonormal directions. The estimate is the DV bound on 20k fresh
    samples after ``steps`` batches (256) of DV ascent with the EMA-corrected gradient.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    means = separation * torch.linalg.qr(torch.randn(dim, n_groups, generator=gen)).Q.T  # [G, D]

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.randint(0, n_groups, (n,), generator=gen)
        return means[g] + torch.randn(n, dim, generator=gen), g

    estimator = MutualInformation(dim, n_groups)
    tune(estimator, lambda z: z, (sample(256) for _ in range(steps)), lr, generator=gen)
    z, g = sample(20000)
    return estimate(estimator, z, g, gen), gaussian_mixture_mi(means, 200000, gen)

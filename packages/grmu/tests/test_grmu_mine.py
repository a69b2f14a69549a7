"""MINE: the DV bound, the decoupled marginal, the EMA-corrected gradient, and the Gaussian check (claim E)."""

import math

import pytest
import torch

from paperzoo.grmu.mine import MineCritic, MutualInformation, estimate, gaussian_check, gaussian_mixture_mi


def test_critic_shapes_and_errors():
    critic = MineCritic(6, 4, hidden=16)
    assert critic(torch.randn(5, 6), torch.randint(0, 4, (5,))).shape == (5,)
    with pytest.raises(ValueError, match=r"z: expected shape \[B, 6\]"):
        critic(torch.randn(5, 7), torch.randint(0, 4, (5,)))
    with pytest.raises(ValueError, match=r"g: expected shape \[5\]"):
        critic(torch.randn(5, 6), torch.randint(0, 4, (4,)))


def test_dv_bound_matches_its_formula():
    torch.manual_seed(0)
    est = MutualInformation(3, 4, hidden=8)
    z, g = torch.randn(64, 3), torch.randint(0, 4, (64,))
    value = est(z, g, torch.Generator().manual_seed(1))
    g_marg = torch.randint(0, 4, (64,), generator=torch.Generator().manual_seed(1))
    expected = est.critic(z, g).mean() - torch.log(est.critic(z, g_marg).exp().mean())
    torch.testing.assert_close(value, expected)


def test_gradient_uses_the_ema_of_e_to_the_t():
    torch.manual_seed(0)
    est = MutualInformation(3, 4, hidden=8, alpha=0.01)
    est.log_ema.fill_(math.log(5.0))
    z, g = torch.randn(32, 3), torch.randint(0, 4, (32,))
    gen = torch.Generator().manual_seed(2)
    w = est.critic.net[2].bias
    value = est(z, g, gen)
    (grad,) = torch.autograd.grad(value, w)
    t_marg = est.critic(z, torch.randint(0, 4, (32,), generator=torch.Generator().manual_seed(2))).detach()
    batch_mean = t_marg.exp().mean()
    ema = 0.99 * 5.0 + 0.01 * batch_mean
    # d/db of E[T_joint] is 1; of log E[e^T] with the EMA denominator, batch_mean / ema (not 1).
    torch.testing.assert_close(grad, (1 - batch_mean / ema).reshape(1), rtol=1e-4, atol=1e-5)
    assert abs(float(grad)) > 1e-3
    torch.testing.assert_close(est.log_ema, ema.log())


def test_independent_z_and_g_give_near_zero_mi():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    est = MutualInformation(4, 4, hidden=32)
    opt = torch.optim.SGD(est.parameters(), lr=0.05, momentum=0.9)
    for _ in range(300):
        loss = -est(torch.randn(128, 4, generator=gen), torch.randint(0, 4, (128,), generator=gen), gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    value = estimate(est, torch.randn(8000, 4, generator=gen), torch.randint(0, 4, (8000,), generator=gen), gen)
    assert abs(value) < 0.05


def test_monte_carlo_true_mi_limits():
    gen = torch.Generator().manual_seed(0)
    assert abs(gaussian_mixture_mi(torch.zeros(4, 3), 20000, gen)) < 1e-6
    assert gaussian_mixture_mi(50 * torch.eye(4), 20000, gen) == pytest.approx(math.log(4), abs=1e-3)


def test_dv_estimate_within_15_percent_of_true_mi():
    estimate_, true = gaussian_check(seed=7, steps=2000)
    assert 0.3 < true < 1.3
    assert abs(estimate_ - true) / true <= 0.15

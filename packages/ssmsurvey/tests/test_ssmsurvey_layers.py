"""Unit tests of the equations: discretisation, S4D/LTI conv = recurrence, S5 scan, Mamba selectivity."""

from __future__ import annotations

import pytest
import torch

from paperzoo.ssmsurvey.experiment import nonselective_vs_lti, scan_vs_loop, sequential_selective_scan
from paperzoo.ssmsurvey.layers import LTISSM, S4D, S5, Mamba, Mamba2, hippo_legs, zoh
from paperzoo.ssmsurvey.layers.discretize import bilinear, zoh_diagonal
from paperzoo.ssmsurvey.layers.s4d import s4d_init
from paperzoo.ssmsurvey.layers.s5 import parallel_linear_scan


def test_zoh_matches_matrix_exp_block():
    torch.manual_seed(0)
    A = torch.randn(5, 5, dtype=torch.float64) - 2 * torch.eye(5, dtype=torch.float64)
    B = torch.randn(5, 2, dtype=torch.float64)
    dt = torch.tensor(0.2, dtype=torch.float64)
    Ad, Bd = zoh(A, B, dt)
    M = torch.zeros(7, 7, dtype=torch.float64)
    M[:5, :5], M[:5, 5:] = A, B
    E = torch.linalg.matrix_exp(dt * M)
    torch.testing.assert_close(Ad, E[:5, :5], rtol=0, atol=1e-12)
    torch.testing.assert_close(Bd, E[:5, 5:], rtol=0, atol=1e-12)


def test_diagonal_zoh_matches_dense_and_bilinear_is_second_order():
    A = torch.complex(-torch.rand(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64))
    dt = torch.tensor([0.1, 0.01], dtype=torch.float64)
    Ad, _ = zoh_diagonal(A, torch.ones_like(A), dt)
    dense = torch.linalg.matrix_exp(dt[:, None, None] * torch.diag_embed(A)).diagonal(dim1=-2, dim2=-1)
    torch.testing.assert_close(Ad, dense, rtol=0, atol=1e-12)
    # Bilinear agrees with ZOH up to O(Δ^3) per step.
    Ab, _ = bilinear(torch.diag_embed(A[1]), torch.ones(3, 1, dtype=A.dtype), dt[1])
    assert (Ab.diagonal() - Ad[1]).abs().max() < 1e-5


def test_hippo_legs_entries():
    A = hippo_legs(4)
    assert A[2, 1] == pytest.approx(-(5**0.5) * 3**0.5)
    assert A[2, 2] == -3
    assert A[1, 2] == 0


def test_s4d_inits():
    lin = s4d_init("lin", 8)
    assert lin.shape == (4,)
    assert torch.allclose(lin.real, torch.full((4,), -0.5))
    assert lin.imag[2].item() == pytest.approx(2 * torch.pi)
    inv = s4d_init("inv", 8)
    assert inv.imag[0].item() == pytest.approx(4 / torch.pi * (4 - 1))
    real = s4d_init("real", 4)
    assert torch.equal(real.real, -torch.arange(1.0, 5.0))
    assert real.imag.abs().max() == 0
    with pytest.raises(ValueError, match="init"):
        s4d_init("random", 8)


@pytest.mark.parametrize("init", ["lin", "inv", "real", "legs"])
@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_s4d_conv_equals_recurrent(init, disc):
    torch.manual_seed(0)
    layer = S4D(6, d_state=8, l_max=128, init=init, discretization=disc, dt_min=0.01, dt_max=0.1)
    u = torch.randn(2, 97, 6)
    with torch.no_grad():
        y32 = (layer.ssm(u, mode="conv") - layer.ssm(u, mode="recurrent")).abs().max()
        layer64 = layer.double()
        y64 = (layer64.ssm(u.double(), mode="conv") - layer64.ssm(u.double(), mode="recurrent")).abs().max()
    assert y64 < 1e-5
    assert y32 < 1e-3


def test_s4d_rejects_longer_than_l_max():
    layer = S4D(4, d_state=8, l_max=16)
    with pytest.raises(ValueError, match="l_max = 16"):
        layer(torch.randn(1, 17, 4))
    with pytest.raises(ValueError, match=r"\[batch, length, 4\]"):
        layer(torch.randn(1, 8, 5))


@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_lti_kernel_equals_recurrence_and_previous_state_flag(disc):
    torch.manual_seed(0)
    layer = LTISSM(3, d_state=5, discretization=disc, dt_min=0.05, dt_max=0.2).double()
    u = torch.randn(2, 40, 3, dtype=torch.float64)
    with torch.no_grad():
        rec = layer.ssm(u, mode="recurrent")
        conv = layer.ssm(u, mode="conv")
        layer.output_from_previous_state = True
        prev = layer.ssm(u, mode="recurrent")
    torch.testing.assert_close(conv, rec, rtol=0, atol=1e-10)
    # The pre-update variant reads the state one step earlier: y'_k - D u_k = y_{k-1} - D u_{k-1}.
    D = layer.D
    torch.testing.assert_close(prev[:, 1:] - D * u[:, 1:], rec[:, :-1] - D * u[:, :-1], rtol=0, atol=1e-10)
    torch.testing.assert_close(prev[:, 0], D * u[:, 0], rtol=0, atol=1e-12)


def test_s5_parallel_scan_equals_loop():
    a = torch.complex(torch.rand(5) * 0.9, torch.rand(5) * 0.1)
    b = torch.randn(2, 37, 5, dtype=torch.complex64)
    x, ref = torch.zeros(2, 5, dtype=torch.complex64), []
    for t in range(37):
        x = a * x + b[:, t]
        ref.append(x)
    torch.testing.assert_close(parallel_linear_scan(a, b), torch.stack(ref, 1), rtol=1e-4, atol=1e-5)
    assert S5(8, d_state=8)(torch.randn(2, 9, 8)).shape == (2, 9, 8)


def test_chunked_selective_scan_equals_loop():
    assert scan_vs_loop(0) < 1e-10


def test_nonselective_mamba_is_exactly_lti():
    assert nonselective_vs_lti(0) < 1e-10


@pytest.mark.parametrize("gated", [True, False])
def test_nonselective_mamba_conv_mode_equals_scan_and_step(gated):
    # The LTI ablation trains through its convolution kernel; it must be the same block as the scan and the
    # recurrent decode step, values and gradients.
    torch.manual_seed(0)
    conv = Mamba(8, d_state=4, selective=False, gated=gated).double()
    scan = Mamba(8, d_state=4, selective=False, gated=gated, lti_mode="scan").double()
    scan.load_state_dict(conv.state_dict())
    x = torch.randn(2, 30, 8, dtype=torch.float64, requires_grad=True)
    y_conv, y_scan = conv(x), scan(x)
    # The scan path computes A = -exp(A_log) in float32 (as in training); the conv path in x's dtype.
    torch.testing.assert_close(y_conv, y_scan, rtol=1e-6, atol=1e-8)
    g_conv = torch.autograd.grad(y_conv.square().sum(), [x, conv.B_const, conv.A_log, conv.dt_bias])
    g_scan = torch.autograd.grad(y_scan.square().sum(), [x, scan.B_const, scan.A_log, scan.dt_bias])
    for a, b in zip(g_conv, g_scan, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
    with torch.no_grad():
        state, steps = tuple(s_.double() for s_ in conv.init_state(2)), []
        for t in range(30):
            y, state = conv.step(x[:, t], state)
            steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), y_conv.detach(), rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="lti_mode"):
        Mamba(8, selective=False, lti_mode="fft")


def test_mamba_parameters_depend_on_input():
    torch.manual_seed(0)
    block = Mamba(16, d_state=4)
    x1, x2 = torch.randn(1, block.d_inner, 10), torch.randn(1, block.d_inner, 10)
    d1, B1, C1 = block.ssm_params(x1)
    d2, B2, C2 = block.ssm_params(x2)
    assert (d1 - d2).abs().max() > 1e-3
    assert (B1 - B2).abs().max() > 1e-3
    assert (C1 - C2).abs().max() > 1e-3
    # Changing one position changes Δ, B, C at that position only (they are per-token functions).
    x3 = x1.clone()
    x3[..., 4] += 1.0
    d3, _, _ = block.ssm_params(x3)
    changed = (d3 - d1).abs().amax(dim=1)[0] > 1e-6
    assert changed.tolist() == [i == 4 for i in range(10)]
    fixed = Mamba(16, d_state=4, selective=False)
    fd1, fB1, fC1 = fixed.ssm_params(x1)
    fd2, fB2, fC2 = fixed.ssm_params(x2)
    assert torch.equal(fd1, fd2)
    assert torch.equal(fB1, fB2)
    assert torch.equal(fC1, fC2)


@pytest.mark.parametrize("gated", [True, False])
def test_mamba_step_matches_forward(gated):
    torch.manual_seed(0)
    block = Mamba(8, d_state=4, gated=gated)
    x = torch.randn(2, 12, 8)
    with torch.no_grad():
        full = block(x)
        state, steps = block.init_state(2), []
        for t in range(12):
            y, state = block.step(x[:, t], state)
            steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=1e-4, atol=1e-5)


def test_sequential_loop_is_the_recurrence():
    u = torch.ones(1, 1, 3, dtype=torch.float64)
    delta = torch.full((1, 1, 3), 0.5, dtype=torch.float64)
    A = torch.tensor([[-1.0]], dtype=torch.float64)
    B = torch.ones(1, 1, 3, dtype=torch.float64)
    y = sequential_selective_scan(u, delta, A, B, B, torch.zeros(1, dtype=torch.float64))
    a = torch.exp(torch.tensor(-0.5, dtype=torch.float64))
    expected = [0.5, 0.5 * a + 0.5, (0.5 * a + 0.5) * a + 0.5]
    torch.testing.assert_close(y[0, 0], torch.tensor(expected, dtype=torch.float64))


def test_mamba2_runs_and_chunk_size_does_not_matter():
    torch.manual_seed(0)
    block = Mamba2(16, headdim=8, chunk_size=4)
    x = torch.randn(2, 11, 16)
    y = block(x)
    block.chunk_size = 64
    torch.testing.assert_close(block(x), y, rtol=1e-4, atol=1e-5)


def test_decode_times_give_one_median_per_context_and_the_kv_cache_costs_grow():
    from paperzoo.ssmsurvey.efficiency import decode_times

    contexts = [16, 8192]
    # Wall-clock ratios are only as steady as the machine: beside a training test in the other pytest-xdist
    # worker, with both workers running two OpenMP threads on two cores (before conftest.py), two CI runs read
    # 64 ms at both contexts for a step that takes 0.2 ms alone. So the growth is measured up to three times
    # and must show in one of them; a step that ignored its cache never would (alone, the step at 8192 takes
    # 20-50x the one at 16).
    for _ in range(3):
        out = decode_times(contexts, batch=4, d_model=64, steps=5)
        assert sorted(out) == ["mamba", "transformer"]
        assert all(len(ts) == len(contexts) and min(ts) > 0 for ts in out.values())
        if out["transformer"][1] > 2 * out["transformer"][0]:  # the step reads 512x more cached keys
            break
    else:
        raise AssertionError(f"a KV-cache step at 8192 keys was never 2x one at 16: {out['transformer']}")

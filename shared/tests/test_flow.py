"""Tests of paperzoo.kernels.flow on analytic flows (t = 0 is the source x0, t = 1 the target)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from paperzoo.kernels.flow import (
    guided,
    guided_euler_step,
    interpolate,
    sample,
    sample_training_time,
    shift_time,
    time_grid,
    velocity_target,
)
from paperzoo.testing import rel_rms

METHODS = ("euler", "heun", "midpoint")
# grids of every kind: uniform, shifted, irregular, partial, and decreasing (integration from 1 to 0)
GRIDS = {
    "uniform": time_grid(8),
    "shifted": time_grid(5, shift=3.0),
    "irregular": [0.0, 0.1, 0.15, 0.6, 1.0],
    "partial": [0.3, 0.9],
    "one_to_zero": time_grid(7, 1.0, 0.0),
    "decreasing_irregular": [0.9, 0.8, 0.35, 0.3, 0.0],
}


@pytest.fixture(params=["reference", "torch"])
def impl(request, monkeypatch):
    """Run the test on the reference loop and on the PyTorch runtime path."""
    monkeypatch.setenv("PAPERZOO_KERNELS", request.param)
    return request.param


def as_list(grid) -> list[float]:
    return grid.tolist() if isinstance(grid, torch.Tensor) else list(grid)


# ----------------------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("grid_name", sorted(GRIDS))
@pytest.mark.parametrize("method", METHODS)
def test_constant_field_is_exact(impl, method, grid_name):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    c = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    grid = as_list(GRIDS[grid_name])
    out = sample(lambda x, t: c, x0, GRIDS[grid_name], method)
    torch.testing.assert_close(out, x0 + c * (grid[-1] - grid[0]), rtol=0, atol=1e-13)


def _linear(x, t):
    return -1.3 * x


def _linear_exact(x0, a, b):
    return x0 * math.exp(-1.3 * (b - a))


def _time_dependent(x, t):
    return (1 + 2 * t)[:, None] * x  # dx/dt = (1 + 2t) x


def _time_dependent_exact(x0, a, b):
    return x0 * math.exp((b + b * b) - (a + a * a))


@pytest.mark.parametrize(("start", "end"), [(0.0, 1.0), (1.0, 0.0)])
@pytest.mark.parametrize(
    ("field", "exact"), [(_linear, _linear_exact), (_time_dependent, _time_dependent_exact)], ids=["ax", "time"]
)
@pytest.mark.parametrize(("method", "order_ratio"), [("euler", 2.0), ("heun", 4.0), ("midpoint", 4.0)])
def test_error_falls_with_the_method_order(impl, method, order_ratio, field, exact, start, end):
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    target = exact(x0, start, end)
    errors = [rel_rms(sample(field, x0, time_grid(n, start, end), method), target) for n in (64, 128)]
    ratio = errors[0] / errors[1]
    assert abs(ratio - order_ratio) < 0.05 * order_ratio, (errors, ratio)


@pytest.mark.parametrize("grid_name", sorted(GRIDS))
@pytest.mark.parametrize("method", METHODS)
def test_time_polynomial_fields_give_each_quadrature_rule(impl, method, grid_name):
    """dx/dt = p(t): Euler is the left Riemann sum, Heun the trapezoid rule, midpoint the midpoint rule."""
    grid = as_list(GRIDS[grid_name])
    x0 = torch.zeros(2, 3, dtype=torch.float64)
    field = lambda x, t: (3 * t * t)[:, None].expand_as(x)  # integral b^3 - a^3
    rules = {
        "euler": lambda a, b: 3 * a * a,
        "heun": lambda a, b: 1.5 * (a * a + b * b),
        "midpoint": lambda a, b: 3 * ((a + b) / 2) ** 2,
    }
    expected = sum((b - a) * rules[method](a, b) for a, b in itertools.pairwise(grid))
    out = sample(field, x0, GRIDS[grid_name], method)
    torch.testing.assert_close(out, torch.full_like(x0, expected), rtol=0, atol=1e-13)
    if method != "euler":
        # the trapezoid and midpoint rules are exact for a field linear in t
        linear = sample(lambda x, t: (2 * t + 1)[:, None].expand_as(x), x0, GRIDS[grid_name], method)
        exact = (grid[-1] ** 2 + grid[-1]) - (grid[0] ** 2 + grid[0])
        torch.testing.assert_close(linear, torch.full_like(x0, exact), rtol=0, atol=1e-13)


@pytest.mark.parametrize("grid_name", ["irregular", "decreasing_irregular", "shifted"])
@pytest.mark.parametrize("method", METHODS)
def test_field_is_called_at_the_method_times(impl, method, grid_name):
    grid = as_list(GRIDS[grid_name])
    x0 = torch.randn(5, 2, generator=torch.Generator().manual_seed(2))
    calls: list[torch.Tensor] = []

    def field(x, t):
        assert t.shape == (5,)
        assert t.dtype == x0.dtype
        assert x.shape == x0.shape
        calls.append(t.clone())
        return torch.sin(x) + t[:, None]

    sample(field, x0, GRIDS[grid_name], method)
    expected = []
    for a, b in itertools.pairwise(grid):
        expected += {"euler": [a], "heun": [a, b], "midpoint": [a, (a + b) / 2]}[method]
    assert len(calls) == len(expected)
    for t, e in zip(calls, expected):
        torch.testing.assert_close(t, torch.full((5,), e, dtype=x0.dtype), rtol=0, atol=1e-7)


def test_first_call_sees_x0_and_input_is_not_modified(impl):
    x0 = torch.randn(3, 4, generator=torch.Generator().manual_seed(3))
    kept = x0.clone()
    seen = []
    sample(lambda x, t: seen.append(x.clone()) or x, x0, [0.0, 0.5, 1.0], "heun", return_trajectory=True)
    torch.testing.assert_close(seen[0], kept, rtol=0, atol=0)
    torch.testing.assert_close(x0, kept, rtol=0, atol=0)
    # dx/dt = x (the field returns its input itself): aliasing must not double-count
    out = sample(lambda x, t: x, x0, time_grid(4), "euler")
    torch.testing.assert_close(out, x0 * 1.25**4)


def _mlp_field(dim: int, dtype: torch.dtype, requires_grad: bool = False):
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(dim, generator=gen, dtype=torch.float64).to(dtype).requires_grad_(requires_grad)
    b = torch.randn(dim, generator=gen, dtype=torch.float64).to(dtype).requires_grad_(requires_grad)

    def field(x, t):
        return torch.tanh(x * w.to(x.dtype) + b.to(x.dtype)) * (1 + t[:, None]) - 0.5 * x

    return field, (w, b)


@pytest.mark.parametrize("return_trajectory", [False, True])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float16, 5e-3)])
@pytest.mark.parametrize("method", METHODS)
def test_torch_path_matches_float64_reference(monkeypatch, method, dtype, tol, return_trajectory):
    field, _ = _mlp_field(63, dtype)
    x0 = torch.randn(7, 63, generator=torch.Generator().manual_seed(5)).to(dtype)
    grid = time_grid(9, 1.0, 0.0, shift=2.0)
    monkeypatch.setenv("PAPERZOO_KERNELS", "reference")
    expected = sample(field, x0.double(), grid, method, return_trajectory)
    monkeypatch.setenv("PAPERZOO_KERNELS", "torch")
    with torch.no_grad():
        out = sample(field, x0, grid, method, return_trajectory)
    assert out.dtype == dtype
    assert out.shape == ((10, 7, 63) if return_trajectory else (7, 63))
    assert not torch.isnan(out).any()
    assert rel_rms(out, expected) < tol


@pytest.mark.parametrize("grad_mode", ["no_grad", "grad"])
@pytest.mark.parametrize("method", METHODS)
def test_trajectory_holds_every_grid_state(impl, method, grad_mode):
    field, _ = _mlp_field(5, torch.float64)
    x0 = torch.randn(3, 5, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    grid = as_list(GRIDS["decreasing_irregular"])
    with torch.set_grad_enabled(grad_mode == "grad"):
        trajectory = sample(field, x0, grid, method, return_trajectory=True)
    assert trajectory.shape == (len(grid), 3, 5)
    assert not torch.isnan(trajectory).any()
    torch.testing.assert_close(trajectory[0], x0, rtol=0, atol=0)
    for k in range(1, len(grid)):
        torch.testing.assert_close(trajectory[k], sample(field, x0, grid[: k + 1], method), rtol=0, atol=1e-14)


@pytest.mark.parametrize("return_trajectory", [False, True])
@pytest.mark.parametrize("method", METHODS)
def test_gradients_match_reference(monkeypatch, method, return_trajectory):
    grads = {}
    for name in ("reference", "torch"):
        monkeypatch.setenv("PAPERZOO_KERNELS", name)
        field, params = _mlp_field(11, torch.float64, requires_grad=True)
        x0 = torch.randn(4, 11, generator=torch.Generator().manual_seed(7), dtype=torch.float64, requires_grad=True)
        out = sample(field, x0, time_grid(6, shift=0.5), method, return_trajectory)
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
        (out * weights).sum().backward()
        grads[name] = [x0.grad, *(p.grad for p in params)]
    for ref, got in zip(grads["reference"], grads["torch"]):
        assert ref is not None
        assert ref.abs().sum() > 0
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def test_gradient_through_the_field_parameters_only(impl):
    """x0 does not require grad, the field's parameters do: the trajectory must still be differentiable."""
    field, (w, _) = _mlp_field(4, torch.float64, requires_grad=True)
    x0 = torch.randn(2, 4, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    trajectory = sample(field, x0, time_grid(3), "heun", return_trajectory=True)
    trajectory[-1].sum().backward()
    assert w.grad is not None
    assert w.grad.abs().sum() > 0

    # the same derivative by central finite differences on one coordinate of w
    with torch.no_grad():
        eps = 1e-6
        w[0] += eps
        up = sample(field, x0, time_grid(3), "heun").sum()
        w[0] -= 2 * eps
        down = sample(field, x0, time_grid(3), "heun").sum()
        w[0] += eps
    assert abs(w.grad[0].item() - (up - down).item() / (2 * eps)) < 1e-6


def test_state_keeps_the_dtype_of_x0(impl):
    x0 = torch.randn(2, 3, generator=torch.Generator().manual_seed(10))
    out = sample(lambda x, t: x.double(), x0, [0.0, 0.5, 1.0], "midpoint", return_trajectory=True)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[-1], x0 * 1.625**2)


def test_guided_field_sample_equals_guided_euler_loop(impl):
    gen = torch.Generator().manual_seed(11)
    a_cond, a_uncond = torch.randn(6, generator=gen), torch.randn(6, generator=gen)
    v_cond = lambda x, t: torch.tanh(x * a_cond) + t[:, None]
    v_uncond = lambda x, t: torch.tanh(x * a_uncond)
    x0 = torch.randn(3, 6, generator=gen)
    grid = as_list(time_grid(5, 1.0, 0.0, shift=3.0))
    out = sample(lambda x, t: guided(v_cond(x, t), v_uncond(x, t), 4.5), x0, grid, "euler")
    x = x0
    for a, b in itertools.pairwise(grid):
        t = torch.full((3,), a)
        x = guided_euler_step(x, v_cond(x, t), v_uncond(x, t), 4.5, b - a)
    torch.testing.assert_close(out, x, rtol=1e-6, atol=1e-6)


BAD_GRIDS = {
    "repeated": [0.0, 0.5, 0.5, 1.0],
    "not_monotone": [0.0, 0.6, 0.4, 1.0],
    "one_point": [0.5],
    "empty": [],
    "two_dimensional": [[0.0, 1.0], [1.0, 2.0]],
    "nan": [0.0, float("nan"), 1.0],
    "not_numbers": "abc",
}


@pytest.mark.parametrize("name", sorted(BAD_GRIDS))
def test_bad_grid_raises(impl, name):
    with pytest.raises(ValueError, match="timesteps"):
        sample(lambda x, t: x, torch.zeros(2, 3), BAD_GRIDS[name])


@pytest.mark.parametrize(
    "wrong",
    [lambda x, t: x.sum(-1), lambda x, t: x[:, :1], lambda x, t: 1.0, lambda x, t: x[None]],
    ids=["reduced", "broadcastable", "number", "extra_dim"],
)
@pytest.mark.parametrize("method", METHODS)
def test_velocity_of_the_wrong_shape_raises(impl, method, wrong):
    with pytest.raises(ValueError, match="velocity"):
        sample(wrong, torch.zeros(2, 3), [0.0, 1.0], method)


@pytest.mark.parametrize("method", ["heun", "midpoint"])
def test_wrong_shape_on_the_second_evaluation_raises(impl, method):
    field = lambda x, t: x if float(t[0]) == 0.0 else x[:, :2]
    with pytest.raises(ValueError, match=r"velocity.*\(2, 3\)"):
        sample(field, torch.zeros(2, 3), [0.0, 1.0], method)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"velocity": "not callable"}, "velocity"),
        ({"x0": torch.zeros(2, 3, dtype=torch.int64)}, "x0"),
        ({"x0": torch.tensor(1.0)}, "x0"),
        ({"x0": [1.0, 2.0]}, "x0"),
        ({"method": "rk4"}, "method"),
    ],
)
def test_bad_arguments_raise(impl, kwargs, match):
    args = {"velocity": lambda x, t: x, "x0": torch.zeros(2, 3), "timesteps": [0.0, 1.0], **kwargs}
    with pytest.raises(ValueError, match=match):
        sample(**args)


# ----------------------------------------------------------------------------------------------- guidance


@pytest.mark.parametrize("shape", [(3, 7, 11), (63, 500)])
def test_guided_formula(impl, shape):
    gen = torch.Generator().manual_seed(12)
    vc = torch.randn(shape, generator=gen, dtype=torch.float64)
    vu = torch.randn(shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(guided(vc, vu, 0.0), vu, rtol=0, atol=1e-15)
    torch.testing.assert_close(guided(vc, vu, 1.0), vc, rtol=0, atol=1e-15)
    torch.testing.assert_close(guided(vc, vu, 7.5), vu + 7.5 * (vc - vu), rtol=1e-14, atol=1e-14)
    per_sample = torch.linspace(0.0, 3.0, shape[0], dtype=torch.float64)
    expected = vu + per_sample.view(-1, *[1] * (len(shape) - 1)) * (vc - vu)
    torch.testing.assert_close(guided(vc, vu, per_sample), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-6), (torch.float16, 2e-3), (torch.float64, 1e-14)])
@pytest.mark.parametrize("shape", [(3, 7, 11), (63, 500), (1,)])
@pytest.mark.parametrize(("scale", "dt"), [(4.0, -0.125), (0.3, 0.07), (1.0, 1.0)])
def test_guided_euler_step_matches_reference(monkeypatch, shape, dtype, tol, scale, dt):
    gen = torch.Generator().manual_seed(13)
    x, vc, vu = (torch.randn(shape, generator=gen).to(dtype) for _ in range(3))
    monkeypatch.setenv("PAPERZOO_KERNELS", "reference")
    expected = guided_euler_step(x.double(), vc.double(), vu.double(), scale, dt)
    torch.testing.assert_close(expected, x.double() + dt * (vu.double() + scale * (vc.double() - vu.double())))
    monkeypatch.setenv("PAPERZOO_KERNELS", "torch")
    out = guided_euler_step(x, vc, vu, scale, dt)
    assert out.dtype == dtype
    assert out.shape == shape
    assert not torch.isnan(out).any()
    assert rel_rms(out, expected) < tol


def test_guided_euler_step_gradients(impl):
    gen = torch.Generator().manual_seed(14)
    x, vc, vu = (torch.randn(5, 9, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3))
    g = torch.randn(5, 9, generator=gen, dtype=torch.float64)
    scale, dt = 3.5, -0.2
    (guided_euler_step(x, vc, vu, scale, dt) * g).sum().backward()
    torch.testing.assert_close(x.grad, g, rtol=0, atol=1e-15)
    torch.testing.assert_close(vc.grad, dt * scale * g, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(vu.grad, dt * (1 - scale) * g, rtol=1e-13, atol=1e-15)


def test_guided_euler_step_with_per_sample_tensors_and_mixed_dtypes(impl):
    gen = torch.Generator().manual_seed(15)
    x = torch.randn(4, 3, 2, generator=gen)
    vc, vu = torch.randn(4, 3, 2, generator=gen).half(), torch.randn(4, 3, 2, generator=gen).half()
    scale = torch.tensor([0.0, 1.0, 2.0, 5.0])
    dt = torch.tensor([0.1, -0.1, 0.25, 0.5])
    out = guided_euler_step(x, vc, vu, scale, dt)
    assert out.dtype == torch.float32
    view = (-1, 1, 1)
    expected = x + dt.view(view) * (vu.float() + scale.view(view) * (vc.float() - vu.float()))
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 2), 2.0, 0.1), "v_uncond"),
        ((torch.zeros(2, 3), torch.zeros(2), torch.zeros(2, 3), 2.0, 0.1), "v_cond"),
        ((torch.zeros(2, 3, dtype=torch.int32), torch.zeros(2, 3), torch.zeros(2, 3), 2.0, 0.1), "x"),
        ((torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), float("nan"), 0.1), "scale"),
        ((torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(3, 1), 0.1), "scale"),
        ((torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), 2.0, "0.1"), "dt"),
        ((torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), 2.0, torch.ones(2, 3, 4)), "dt"),
    ],
)
def test_guided_euler_step_bad_input_raises(impl, args, match):
    with pytest.raises(ValueError, match=match):
        guided_euler_step(*args)
    if match == "v_uncond":
        with pytest.raises(ValueError, match=match):
            guided(args[1], args[2], 2.0)


# ---------------------------------------------------------------------------------------- time schedules


def test_shift_time_formula_and_identities():
    assert shift_time(0.5, 3.0) == pytest.approx(0.75)
    assert shift_time(0.25, 0.5) == pytest.approx(0.125 / 0.875)
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(shift_time(t, 1.0), t, rtol=0, atol=0)
    for s in (0.2, 3.0, 7.0):
        shifted = shift_time(t, s)
        assert shifted[0] == 0.0
        assert shifted[-1] == 1.0
        assert (shifted[1:] > shifted[:-1]).all()
        torch.testing.assert_close(shift_time(shifted, 1 / s), t)
        torch.testing.assert_close(shift_time(t, 1 / s), 1 - shift_time(1 - t, s))
    assert (shift_time(t[1:-1], 3.0) > t[1:-1]).all()  # shift > 1 moves times towards the target
    assert shift_time(t.half(), 3.0).dtype == torch.float16


@pytest.mark.parametrize(("t", "shift"), [(0.5, 0.0), (0.5, -2.0), (0.5, float("nan")), ("0.5", 2.0)])
def test_shift_time_bad_input_raises(t, shift):
    with pytest.raises(ValueError):
        shift_time(t, shift)


def test_time_grid():
    grid = time_grid(4)
    assert grid.shape == (5,)
    assert grid.dtype == torch.float64
    torch.testing.assert_close(grid, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64))
    torch.testing.assert_close(time_grid(4, 1.0, 0.0), grid.flip(0))
    shifted = time_grid(4, shift=3.0)
    torch.testing.assert_close(shifted, torch.tensor([0.0, 0.5, 0.75, 0.9, 1.0], dtype=torch.float64))
    # the shift acts on time values: a decreasing shifted grid is the increasing one reversed
    torch.testing.assert_close(time_grid(6, 1.0, 0.0, shift=3.0), time_grid(6, shift=3.0).flip(0))
    partial = time_grid(3, 0.2, 0.8, shift=2.0)
    torch.testing.assert_close(partial, shift_time(torch.linspace(0.2, 0.8, 4, dtype=torch.float64), 2.0))


@pytest.mark.parametrize(
    "kwargs",
    [{"steps": 0}, {"steps": 2.5}, {"start": 0.5, "end": 0.5}, {"start": -0.1}, {"end": 1.5}, {"shift": 0.0}],
)
def test_time_grid_bad_input_raises(kwargs):
    with pytest.raises(ValueError):
        time_grid(**{"steps": 4, **kwargs})


# ------------------------------------------------------------------------------------------ training helpers


def test_interpolate_and_velocity_target():
    gen = torch.Generator().manual_seed(16)
    x0, x1 = torch.randn(4, 3, 5, generator=gen, dtype=torch.float64), torch.randn(4, 3, 5, generator=gen).double()
    torch.testing.assert_close(interpolate(x0, x1, 0.0), x0, rtol=0, atol=0)
    torch.testing.assert_close(interpolate(x0, x1, 1.0), x1, rtol=0, atol=0)
    torch.testing.assert_close(interpolate(x0, x1, 0.3), 0.7 * x0 + 0.3 * x1)
    t = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
    torch.testing.assert_close(interpolate(x0, x1, t), (1 - t.view(-1, 1, 1)) * x0 + t.view(-1, 1, 1) * x1)
    torch.testing.assert_close(velocity_target(x0, x1), x1 - x0, rtol=0, atol=0)

    # the velocity target is the time derivative of the path, at any t
    t = torch.tensor([0.1, 0.4, 0.7, 0.95], dtype=torch.float64, requires_grad=True)
    weights = torch.randn(4, 3, 5, generator=gen, dtype=torch.float64)
    (interpolate(x0, x1, t) * weights).sum().backward()
    torch.testing.assert_close(t.grad, (velocity_target(x0, x1) * weights).sum(dim=(1, 2)))


@pytest.mark.parametrize(
    ("x1", "t", "match"),
    [
        (torch.zeros(4, 2), 0.5, "x1"),
        (torch.zeros(4, 3, dtype=torch.float64), 0.5, "x1"),
        (torch.zeros(4, 3), torch.zeros(3, 1), "t"),
        (torch.zeros(4, 3), torch.zeros(4, 3, 2), "t"),
    ],
)
def test_interpolate_bad_input_raises(x1, t, match):
    with pytest.raises(ValueError, match=match):
        interpolate(torch.zeros(4, 3), x1, t)
    if match == "x1" and x1.shape != (4, 3):
        with pytest.raises(ValueError, match=match):
            velocity_target(torch.zeros(4, 3), x1)


def test_sample_training_time_uniform():
    t = sample_training_time(200_000, generator=torch.Generator().manual_seed(0))
    assert t.shape == (200_000,)
    assert t.dtype == torch.float32
    assert (t >= 0).all()
    assert (t < 1).all()
    assert abs(t.mean().item() - 0.5) < 0.005
    assert abs(t.var().item() - 1 / 12) < 0.002
    for q in (0.1, 0.3, 0.8):
        assert abs((t < q).double().mean().item() - q) < 0.005


def test_sample_training_time_logit_normal():
    t = sample_training_time(
        200_000, "logit_normal", mean=0.5, std=0.8, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    assert t.dtype == torch.float64
    assert (t > 0).all()
    assert (t < 1).all()
    logit = torch.log(t / (1 - t))
    assert abs(logit.mean().item() - 0.5) < 0.01
    assert abs(logit.std().item() - 0.8) < 0.01


@pytest.mark.parametrize("kind", ["uniform", "logit_normal"])
def test_sample_training_time_seeding_and_shift(kind):
    draw = lambda seed, **kw: sample_training_time(1000, kind, generator=torch.Generator().manual_seed(seed), **kw)
    torch.testing.assert_close(draw(3), draw(3), rtol=0, atol=0)
    assert not torch.equal(draw(3), draw(4))
    torch.testing.assert_close(draw(3, shift=3.0), shift_time(draw(3), 3.0), rtol=1e-6, atol=1e-7)
    assert draw(3, shift=3.0).mean() > draw(3).mean()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch": 0},
        {"batch": 3.0},
        {"kind": "beta"},
        {"kind": "logit_normal", "std": 0.0},
        {"shift": -1.0},
        {"mean": float("inf")},
        {"dtype": torch.int64},
        {"generator": 0},
    ],
)
def test_sample_training_time_bad_input_raises(kwargs):
    with pytest.raises(ValueError):
        sample_training_time(**{"batch": 8, **kwargs})

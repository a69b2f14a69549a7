"""The fused Triton guided Euler step: under TRITON_INTERPRET=1 on the CPU, and on CUDA when there is one.

The interpreter must be switched on before triton is first imported, so those checks run in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

INTERPRETED_CHECKS = textwrap.dedent(
    """
    import torch

    from paperzoo.kernels.flow import guided_euler_step, sample, time_grid
    from paperzoo.kernels.flow import reference
    from paperzoo.kernels.flow import triton as flow_triton

    from paperzoo.testing import rel_rms

    gen = torch.Generator().manual_seed(0)
    tolerances = {torch.float32: 1e-6, torch.float16: 1e-3}
    # 2053 elements: two full blocks and a masked tail
    for shape in [(3, 7, 11), (2053,), (1,)]:
        for dtype, tol in tolerances.items():
            for scale, dt in [(4.0, -0.125), (0.3, 0.07)]:
                x, vc, vu = (torch.randn(shape, generator=gen).to(dtype).requires_grad_() for _ in range(3))
                out = guided_euler_step(x, vc, vu, scale, dt)
                assert type(out.grad_fn).__name__ == "GuidedEulerStepBackward", out.grad_fn
                assert out.dtype == dtype and out.shape == shape
                assert not torch.isnan(out).any(), "an output element was never written"
                expected = reference.guided_euler_step(x.detach(), vc.detach(), vu.detach(), scale, dt)
                err = rel_rms(out.detach(), expected)
                assert err < tol, (shape, dtype, scale, dt, err)

                g = torch.randn(shape, generator=gen).to(dtype)
                out.backward(g)
                for name, grad, weight in [("x", x.grad, 1.0), ("v_cond", vc.grad, dt * scale),
                                           ("v_uncond", vu.grad, dt * (1 - scale))]:
                    assert grad.dtype == dtype, name
                    assert not torch.isnan(grad).any(), name
                    err = rel_rms(grad, weight * g.double())
                    assert err < tol, (name, shape, dtype, err)

    # only v_cond needs a gradient: the kernel writes that one alone
    x, vu = torch.randn(2, 300, generator=gen), torch.randn(2, 300, generator=gen)
    vc = torch.randn(2, 300, generator=gen, requires_grad=True)
    guided_euler_step(x, vc, vu, 2.0, 0.5).sum().backward()
    assert torch.allclose(vc.grad, torch.full_like(vc, 1.0))

    # mixed storage dtypes: the output takes the promoted one
    x = torch.randn(5, 33, generator=gen)
    vc, vu = torch.randn(5, 33, generator=gen).half(), torch.randn(5, 33, generator=gen).half()
    out = flow_triton.guided_euler_step(x, vc, vu, 3.0, 0.25)
    assert out.dtype == torch.float32
    assert rel_rms(out, reference.guided_euler_step(x, vc, vu, 3.0, 0.25)) < 1e-6

    # non-contiguous inputs are read in their logical order
    x, vc, vu = (torch.randn(17, 6, generator=gen).t() for _ in range(3))
    out = guided_euler_step(x, vc, vu, 1.5, -0.3)
    assert rel_rms(out, reference.guided_euler_step(x, vc, vu, 1.5, -0.3)) < 1e-6

    # the sampler runs its PyTorch loop under the triton backend
    x0 = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    out = sample(lambda x, t: -x, x0, time_grid(32), "heun")
    assert rel_rms(out, x0 * torch.exp(torch.tensor(-1.0, dtype=torch.float64))) < 1e-3
    print("flow triton checks passed")
    """
)


@pytest.mark.triton_interpret
def test_fused_guided_euler_step_under_the_interpreter():
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PAPERZOO_KERNELS": "triton"}
    result = subprocess.run(
        [sys.executable, "-c", INTERPRETED_CHECKS], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flow triton checks passed" in result.stdout


def test_triton_module_refuses_cpu_tensors_outside_the_interpreter():
    from paperzoo.kernels.flow import triton as flow_triton

    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("the interpreter accepts CPU tensors")
    with pytest.raises(RuntimeError, match="needs CUDA"):
        flow_triton.guided_euler_step(torch.zeros(3), torch.zeros(3), torch.zeros(3), 2.0, 0.1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-6), (torch.float16, 1e-3), (torch.bfloat16, 8e-3)])
def test_fused_guided_euler_step_on_cuda(dtype, tol):
    pytest.importorskip("triton")
    from paperzoo.kernels.flow import guided_euler_step, reference

    gen = torch.Generator(device="cuda").manual_seed(0)
    shape = (3, 1000, 333)  # not a multiple of the block size
    x, vc, vu = (torch.randn(shape, generator=gen, device="cuda").to(dtype).requires_grad_() for _ in range(3))
    scale, dt = 4.5, -0.03
    out = guided_euler_step(x, vc, vu, scale, dt)
    assert type(out.grad_fn).__name__ == "GuidedEulerStepBackward"
    expected = reference.guided_euler_step(x.detach(), vc.detach(), vu.detach(), scale, dt).double()
    err = ((out.double() - expected).pow(2).mean().sqrt() / expected.pow(2).mean().sqrt()).item()
    assert err < tol
    g = torch.randn(shape, generator=gen, device="cuda").to(dtype)
    out.backward(g)
    torch.testing.assert_close(x.grad, g)
    for grad, weight in [(vc.grad, dt * scale), (vu.grad, dt * (1 - scale))]:
        ref = weight * g.double()
        assert ((grad.double() - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt()).item() < tol

"""Part A: one retrieval step of a (sparse) modern Hopfield network, the paper's theoretical argument.

Patterns Ξ ``[M, d]`` (unit rows) are both keys and values; a noisy query ξ retrieves
``ξ_new = Ξᵀ p(β Ξ ξ)`` with p = softmax, α-entmax, or the PLADIS mix ``(1 − λ) softmax + λ entmax``.

Two error measures: the raw error ``‖ξ_new − ξ_true‖`` and the direction error
``‖ξ_new / ‖ξ_new‖ − ξ_true‖``. PLADIS at λ = 2 with exact entmax retrieval has raw error ``−e_soft``: the same
length as softmax's, pointing the other way; its direction is what improves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from paperzoo.kernels import entmax
from paperzoo.pladis.attention import PladisCrossAttention

SIGMAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
METHODS = ("softmax", "entmax", "pladis")


def retrieval_weights(scores: torch.Tensor, method: str, alpha: float = 1.5, lam: float = 2.0) -> torch.Tensor:
    """Retrieval weights over patterns from ``scores [..., M]`` (already multiplied by β)."""
    if method == "softmax":
        return torch.softmax(scores, dim=-1)
    if method == "entmax":
        return entmax(scores, alpha, dim=-1)
    if method == "pladis":
        return (1 - lam) * torch.softmax(scores, dim=-1) + lam * entmax(scores, alpha, dim=-1)
    raise ValueError(f"method: expected one of {METHODS}, got {method!r}")


def retrieve(
    patterns: torch.Tensor, queries: torch.Tensor, beta: float, method: str, alpha: float = 1.5, lam: float = 2.0
) -> torch.Tensor:
    """One Hopfield update through the package's attention processor: ``patterns [M, d]``, ``queries [Q, d]``.

    Softmax is :class:`PladisCrossAttention` at λ = 0, entmax at λ = 1 and PLADIS at ``lam``; the queries are
    scaled by ``β √d`` so that the processor's scores ``q kᵀ / √d`` equal ``β ξ·Ξ``.

    Returns:
        ``[Q, d]`` retrieved states.
    """
    lam_of = {"softmax": 0.0, "entmax": 1.0, "pladis": lam}
    if method not in lam_of:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    processor = PladisCrossAttention(alpha, lam_of[method])
    q = (beta * math.sqrt(patterns.shape[1]) * queries)[None, None]  # [1, 1, Q, d]
    kv = patterns[None, None]  # [1, 1, M, d]
    return processor(q, kv, kv)[0, 0]


@dataclass
class HopfieldResult:
    """Mean errors per method and σ, for both measures, and the claim's evaluation point per measure."""

    sigmas: list[float]
    raw: dict[str, list[float]] = field(default_factory=dict)
    direction: dict[str, list[float]] = field(default_factory=dict)

    def at_threshold(self, measure: str, threshold: float = 0.2) -> tuple[float, dict[str, float]]:
        """The smallest σ where softmax's error in ``measure`` is >= ``threshold``, and every method's error there.

        Falls back to the largest σ when softmax never reaches the threshold.
        """
        errors = self.raw if measure == "raw" else self.direction
        idx = next((i for i, e in enumerate(errors["softmax"]) if e >= threshold), len(self.sigmas) - 1)
        return self.sigmas[idx], {m: errors[m][idx] for m in errors}


def hopfield_experiment(
    seed: int,
    n_patterns: int = 64,
    dim: int = 32,
    beta: float = 4.0,
    sigmas: tuple[float, ...] = SIGMAS,
    queries_per_pattern: int = 8,
    alpha: float = 1.5,
    lam: float = 2.0,
) -> HopfieldResult:
    """Store random unit patterns, query them with Gaussian noise, and measure one-step retrieval errors.

    Args:
        seed: seeds the patterns and the noise.
        n_patterns: M stored patterns.
        dim: pattern dimension d.
        beta: inverse temperature β of the scores.
        sigmas: query noise levels.
        queries_per_pattern: noisy queries drawn per pattern and σ.
        alpha: entmax's α.
        lam: PLADIS' λ.

    Returns:
        the mean raw and direction errors of softmax, entmax and PLADIS for every σ.
    """
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn(n_patterns, dim, generator=generator, dtype=torch.float64)
    patterns = patterns / patterns.norm(dim=1, keepdim=True)  # [M, d]
    truth = patterns.repeat(queries_per_pattern, 1)  # [Q, d]
    result = HopfieldResult(sigmas=list(sigmas))
    for method in METHODS:
        result.raw[method], result.direction[method] = [], []
    for sigma in sigmas:
        queries = truth + sigma * torch.randn(truth.shape, generator=generator, dtype=torch.float64)
        for method in METHODS:
            new = retrieve(patterns, queries, beta, method, alpha=alpha, lam=lam)
            result.raw[method].append(float((new - truth).norm(dim=1).mean()))
            unit = new / new.norm(dim=1, keepdim=True).clamp_min(1e-12)
            result.direction[method].append(float((unit - truth).norm(dim=1).mean()))
    return result

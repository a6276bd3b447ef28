"""Spectral norm for the discriminators' convolutions: each weight divided by its largest singular value.

The same estimate as ``torch.nn.utils.parametrizations.spectral_norm`` (Miyato et al. 2018: one
power-iteration step per training forward, vectors u and v kept as buffers), computed with fewer
operators: 11 per convolution and call in training where torch's takes 13 (it clones u and v, then
computes sigma = u^T W v with a third matrix-vector product), and a backward of 4 where autograd's
chain through the norm and the division takes 12. Here:

- sigma = ||W^T u||, which equals u^T W v for the v = W^T u / ||W^T u|| that the step computes anyway,
  and has the same gradient (u v^T); so v comes from the product sigma needs, and no vector is cloned;
- the gradient of W / sigma is written out (``_DivideBySigma``): (G - <G, W / sigma> u v^T) / sigma;
- in float32 whatever the autocast dtype: CUDA autocast runs torch's matrix-vector products in bf16,
  which would cast W three times a call and lose the estimate's digits.

The buffers keep torch's names and initial values (same random draws, 15 warm-up steps), so
checkpoints of either load into the other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

EPS = 1e-12  # torch's: guards the normalisations against a zero vector


class SpectralNorm(nn.Module):
    """A parametrization: ``weight -> weight / sigma(weight)``, the weight seen as [out, in * kh * kw]."""

    def __init__(self, weight: torch.Tensor, warmup_steps: int = 15):
        super().__init__()
        matrix = weight.detach().flatten(1)
        u = matrix.new_empty(matrix.shape[0]).normal_(0, 1)
        v = matrix.new_empty(matrix.shape[1]).normal_(0, 1)
        self.register_buffer("_u", F.normalize(u, dim=0, eps=EPS))
        self.register_buffer("_v", F.normalize(v, dim=0, eps=EPS))
        with torch.no_grad():
            for _ in range(warmup_steps):  # start from a converged estimate
                F.normalize(torch.mv(matrix, self._v), dim=0, eps=EPS, out=self._u)
                F.normalize(torch.mv(matrix.t(), self._u), dim=0, eps=EPS, out=self._v)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(weight.device.type, enabled=False):
            matrix = weight.to(self._u.dtype).flatten(1)  # the buffers' dtype: float32 under autocast
            if self.training:
                return _DivideBySigma.apply(weight, *self._power_iteration(matrix.detach()))
            # Evaluation mode: the last estimate, as torch's.
            return weight / torch.vdot(self._u, torch.mv(matrix, self._v))

    @torch.no_grad()
    def _power_iteration(self, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step (u, then v): the largest singular value from it, and the new u and v. They are fresh
        tensors, copied into the buffers: backward keeps them, the buffers change at the next call."""
        u = F.normalize(torch.mv(matrix, self._v), dim=0, eps=EPS)
        w_t_u = torch.mv(matrix.t(), u)
        sigma = torch.linalg.vector_norm(w_t_u)  # 0 only for an all-zero weight (torch's is 0 there too)
        v = w_t_u / sigma.clamp_min(EPS)
        self._u.copy_(u)
        self._v.copy_(v)
        return sigma, u, v


class _DivideBySigma(torch.autograd.Function):
    """``weight / sigma`` with sigma = u^T W v (= ||W^T u||) and its gradient in W written out:
    d sigma / dW = u v^T, so dL/dW = (G - <G, W / sigma> u v^T) / sigma for the output's gradient G.
    u and v are constants (no gradient), as in torch's."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, sigma: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        normalised = weight / sigma
        ctx.save_for_backward(normalised, sigma, u, v)
        return normalised

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        normalised, sigma, u, v = ctx.saved_tensors
        along = torch.vdot(grad.flatten(), normalised.flatten())  # <G, W / sigma>
        removed = torch.addr(grad.flatten(1), (u * along).to(grad.dtype), v.to(grad.dtype), alpha=-1)
        return removed.view_as(grad) / sigma, None, None, None


def spectral_norm(module: nn.Module) -> nn.Module:
    """Parametrize ``module.weight`` with ``SpectralNorm``; state-dict keys as torch's spectral_norm."""
    parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight))
    return module

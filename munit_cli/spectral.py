"""Spectral norm for the discriminators' convolutions: each weight divided by its largest singular value.

The same estimate as ``torch.nn.utils.parametrizations.spectral_norm`` (Miyato et al. 2018: one
power-iteration step per training forward, vectors u and v kept as buffers), computed with fewer
operators: 10 per convolution and call in training where torch's takes 13 (it clones u and v, then
computes sigma = u^T W v with a third matrix-vector product). Here:

- sigma = ||W^T u||, which equals u^T W v for the v = W^T u / ||W^T u|| that the step computes anyway,
  and has the same gradient (u v^T); so v comes from the product sigma needs, and no vector is cloned;
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
                sigma = self._refined_sigma(matrix)
            else:  # the last estimate, as torch's evaluation mode
                sigma = torch.vdot(self._u, torch.mv(matrix, self._v))
            return weight / sigma

    def _refined_sigma(self, matrix: torch.Tensor) -> torch.Tensor:
        """One power-iteration step (u, then v) and the largest singular value from it."""
        with torch.no_grad():
            # A fresh tensor, copied into the buffer: backward keeps u, and the buffer changes in place
            # at the next call.
            u = F.normalize(torch.mv(matrix, self._v), dim=0, eps=EPS)
            self._u.copy_(u)
        w_t_u = torch.mv(matrix.t(), u)
        sigma = torch.linalg.vector_norm(w_t_u)  # 0 only for an all-zero weight (torch's is 0 there too)
        with torch.no_grad():
            torch.div(w_t_u, sigma.clamp_min(EPS), out=self._v)
        return sigma


def spectral_norm(module: nn.Module) -> nn.Module:
    """Parametrize ``module.weight`` with ``SpectralNorm``; state-dict keys as torch's spectral_norm."""
    parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight))
    return module

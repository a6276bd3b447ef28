"""Watching the losses for NaN and inf without reading them from the device every step.

Reading a value from a GPU (``.item()``, ``bool(tensor)``) makes the CPU wait until the GPU has
finished everything queued, so a check per step keeps the GPU idle while the next step is being
launched. Instead each step records, on the device, whether its total loss is finite, and the
first bad step with its loss terms; the training loop reads one flag where it syncs anyway
(logging, samples, checkpoints), and always before it writes a checkpoint.
"""

from __future__ import annotations

import torch

from .errors import TrainingError


class NonFiniteWatch:
    def __init__(self, device: torch.device):
        self._any_bad = torch.zeros((), dtype=torch.bool, device=device)
        self._step = torch.zeros((), dtype=torch.long, device=device)
        self._names: list[str] = []
        self._first_bad: torch.Tensor | None = None  # every term at the first bad step

    def observe(self, names: list[str], values: torch.Tensor, step: int) -> None:
        """Record step ``step``'s loss terms (``names``: ``gen/recon_x_a``, ``dis/total``, ...; ``values``:
        one float tensor of them): a handful of small operators on the device, no read."""
        bad = ~torch.isfinite(values).all()
        first = bad & ~self._any_bad
        if self._first_bad is None:
            self._names, self._first_bad = names, torch.zeros_like(values)
        self._step.masked_fill_(first, step)
        self._first_bad = torch.where(first, values, self._first_bad)
        self._any_bad |= bad

    def any_bad(self) -> bool:
        """Whether any observed step was non-finite (one read from the device)."""
        return bool(self._any_bad)

    def error(self, advice: str) -> TrainingError:
        """The error for the first non-finite step seen: its number, and its first bad term."""
        finite = torch.isfinite(self._first_bad).tolist()
        bad = [i for i, ok in enumerate(finite) if not ok]
        i = next((i for i in bad if not self._names[i].endswith("/total")), bad[0])
        return TrainingError(f"non-finite loss at step {int(self._step)}: {self._names[i]} = "
                             f"{self._first_bad[i].item()}; {advice}")

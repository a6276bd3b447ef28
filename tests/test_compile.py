"""The compiled training step, as far as a CPU can show it: one graph per objective, no graph breaks,
no recompilation, the same numbers as eager, and nothing read from an objective's outputs after
its next call (what CUDA graphs require: a replay overwrites the previous outputs)."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from munit_cli import compiling
from munit_cli.devices import choose_paths
from munit_cli.train import Callback, Trainer

from .conftest import TINY_MODEL, tiny_train_config


def _batches(n: int, layout: torch.memory_format = torch.contiguous_format) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    return [tuple((torch.rand(2, 3, 32, 32, generator=g) * 2 - 1).contiguous(memory_format=layout) for _ in "ab")
            for _ in range(n)]


def _trainer(device_paths: str, **changes) -> Trainer:
    torch.manual_seed(0)
    config = tiny_train_config(ema_decay=0.999, **changes)
    trainer = Trainer(config, None, "/nonexistent", ("a", "b"), device="cpu")
    choose_paths(trainer.model, device_paths)
    return trainer


def _run(trainer: Trainer, batches) -> list[dict[str, torch.Tensor]]:
    return [trainer.train_step(x_a, x_b) for x_a, x_b in batches]


@pytest.mark.parametrize("device_paths, channels_last", [("cpu", False), ("cuda", False), ("cuda", True)])
def test_each_objective_compiles_to_one_graph_and_never_recompiles(monkeypatch, device_paths, channels_last):
    # aot_eager: dynamo's capture and AOTAutograd's forward and backward graphs, without C++ codegen.
    monkeypatch.setattr(compiling, "BACKEND", "aot_eager")
    torch._dynamo.reset()
    counters.clear()
    batches = _batches(5, torch.channels_last if channels_last else torch.contiguous_format)
    compiled = _trainer(device_paths, compile=True, channels_last=channels_last)
    with torch._dynamo.config.patch(error_on_recompile=True):
        compiled_losses = _run(compiled, batches)
    assert counters["stats"]["unique_graphs"] == 2  # the generators' objective, the discriminators'
    assert dict(counters["graph_break"]) == {}
    assert dict(counters["recompiles"]) == {}
    assert compiled.compiled.seconds is not None and compiled.compiled.seconds > 0

    eager = _trainer(device_paths, compile=False, channels_last=channels_last)
    eager_losses = _run(eager, batches)
    # Same maths, regrouped by the graph: agreement to float32 rounding after 5 Adam steps.
    for got, want in zip(compiled_losses, eager_losses):
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5, msg=name)
    # The NHWC norms are sums and products that the graph decomposes and regroups. The biases of the
    # convolutions before a norm have a true gradient of 0 (a norm removes a per-channel constant), so
    # theirs is rounding noise, which Adam, dividing by its own scale, turns into steps of up to ~lr
    # in either direction: there the weights may differ by up to 2 lr per step.
    atol = 2 * len(batches) * compiled.config.lr if channels_last else 1e-5
    for (name, got), want in zip(compiled.model.state_dict().items(), eager.model.state_dict().values()):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=atol, msg=lambda m, name=name: f"{name}: {m}")


class OverwrittenByNextCall:
    """Wraps an objective like a CUDA graph: each call fills the previous call's outputs with NaN."""

    def __init__(self, objective):
        self.objective = objective
        self.previous: list[torch.Tensor] = []

    def __call__(self, *args):
        with torch.no_grad():
            for tensor in self.previous:
                tensor.fill_(float("nan"))
        outputs = self.objective(*args)
        self.previous = list(outputs.values())
        return outputs


def test_no_objective_output_is_read_after_the_next_call():
    batches = _batches(4)
    reference = _run(_trainer("cuda"), batches)
    trainer = _trainer("cuda")
    trainer.gen_objective.eager = OverwrittenByNextCall(trainer.gen_objective.eager)
    trainer.dis_objective.eager = OverwrittenByNextCall(trainer.dis_objective.eager)
    losses = _run(trainer, batches)
    assert not trainer.nonfinite.any_bad()
    for got, want in zip(losses, reference):  # each step's returned losses, read after all steps
        assert got.keys() == want.keys()
        for name in want:
            assert torch.equal(got[name], want[name]), name


def test_the_overwriting_wrapper_does_catch_a_late_read():
    """The check above can fail: a loop that keeps an objective's output tensor sees NaN."""
    trainer = _trainer("cuda")
    trainer.gen_objective.eager = OverwrittenByNextCall(trainer.gen_objective.eager)
    kept = []
    original = trainer.gen_objective.eager.objective
    trainer.gen_objective.eager.objective = lambda *args: kept.append(original(*args)) or kept[-1]
    _run(trainer, _batches(2))
    assert torch.isnan(kept[0]["total"]).all()


def test_compile_defaults_to_one_cuda_device_only():
    assert compiling.wants_compile(None, torch.device("cuda", 0))
    assert not compiling.wants_compile(None, torch.device("cpu"))
    assert compiling.wants_compile(True, torch.device("cpu"))
    assert not compiling.wants_compile(False, torch.device("cuda", 0))
    assert not compiling.wants_compile(None, torch.device("cuda", 0), distributed=True)
    assert compiling.wants_compile(True, torch.device("cuda", 0), distributed=True)


def test_the_progress_display_says_when_the_step_is_compiling():
    """The first compiled step takes minutes on a GPU; the display says so before it, and after it
    shows the speed without that step and the compile time apart."""
    import io

    from rich.console import Console

    from munit_cli.cli._progress import ConsoleProgress

    out = io.StringIO()
    progress = ConsoleProgress(Console(file=out, force_terminal=False, width=200))
    compiled = _trainer("cpu", compile=True)
    progress.on_start(compiled)
    assert "compiling the training step" in out.getvalue()
    compiled.step, compiled.compiled.seconds = 3, 0.5
    assert "compiled in" in progress._speed(compiled)

    out = io.StringIO()
    ConsoleProgress(Console(file=out, force_terminal=False)).on_start(_trainer("cpu", compile=False))
    assert "compiling" not in out.getvalue()


def _failing_backend(where: str):
    """A compile backend that fails: at once (forward), or only when AOTAutograd compiles the backward."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    def fail(graph, example_inputs):
        raise RuntimeError("injected compile failure")

    if where == "forward":
        return fail
    return aot_autograd(fw_compiler=lambda graph, example_inputs: make_boxed_func(graph.forward), bw_compiler=fail)


class FailureRecorder(Callback):
    def __init__(self):
        self.errors = []

    def on_compile_failure(self, trainer, error):
        self.errors.append(error)


# The failed attempt ran a forward: spectral norm's power iteration (the default discriminators)
# updated its vectors in place, and augmentation drew random numbers; both must be put back.
@pytest.mark.parametrize("where,augment", [("forward", "none"), ("backward", "none"),
                                           ("backward", "translation+cutout+colour")])
def test_a_failing_compile_falls_back_to_eager_with_the_eager_weights(monkeypatch, where, augment):
    """Compiling fails at the first step: the step is redone eagerly and training goes on; the
    weights equal an eager run's bit for bit (nothing of the failed attempt was applied)."""
    assert TINY_MODEL.dis_norm == "sn"
    monkeypatch.setattr(compiling, "BACKEND", _failing_backend(where))
    torch._dynamo.reset()
    batches = _batches(3)
    recorder = FailureRecorder()
    compiled = _trainer("cpu", compile=True, dis_augment=augment)
    compiled.callbacks = [recorder]
    compiled_losses = _run(compiled, batches)
    assert len(recorder.errors) == 1 and "injected compile failure" in compiling.describe_failure(recorder.errors[0])
    assert not compiled.compiled.enabled and compiled.compiled.failure is recorder.errors[0]

    eager = _trainer("cpu", compile=False, dis_augment=augment)
    eager_losses = _run(eager, batches)
    for got, want in zip(compiled_losses, eager_losses):
        for name in want:
            assert torch.equal(got[name], want[name]), name
    for (name, got), want in zip(compiled.model.state_dict().items(), eager.model.state_dict().values()):
        assert torch.equal(got, want), name
    for got, want in zip(compiled.ema.values(), eager.ema.values()):
        assert torch.equal(got, want)


def test_the_compile_warning_is_one_line_and_louder_when_asked_for(monkeypatch):
    import io

    from rich.console import Console

    from munit_cli.cli._progress import ConsoleProgress

    error = RuntimeError("no working C++ compiler\n" + "detail\n" * 50)
    for setting, expected in ((None, "compiling the training step failed"), (True, "--compile failed")):
        out = io.StringIO()
        progress = ConsoleProgress(Console(file=out, force_terminal=False, width=300))
        monkeypatch.delenv("MUNIT_DEBUG", raising=False)
        progress.on_compile_failure(_trainer("cpu", compile=setting), error)
        text = out.getvalue()
        assert text.count("\n") == 1 and text.startswith("warning:") and expected in text, text
        assert "RuntimeError: no working C++ compiler" in text and "--no-compile" in text
    monkeypatch.setenv("MUNIT_DEBUG", "1")
    out = io.StringIO()
    ConsoleProgress(Console(file=out, force_terminal=False, width=300)).on_compile_failure(_trainer("cpu"), error)
    assert "detail" in out.getvalue()  # the whole error, as a traceback

"""--device: every spelling resolves to a device with an index, or to an error naming what exists.

CUDA is faked (availability and device count) so the rules are checked on a CPU-only machine;
`test_cuda.py` runs the commands on a real GPU where there is one.
"""

from __future__ import annotations

import pytest
import torch

from munit_cli.devices import select_device
from munit_cli.errors import DeviceError


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine with CUDA devices 0 and 1, the current one being 1 (as CUDA_VISIBLE_DEVICES may make it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_cuda_gets_an_index(two_gpus):
    assert select_device("cuda") == torch.device("cuda", 1)  # the current device
    assert select_device("cuda:0") == torch.device("cuda", 0)
    assert select_device("auto") == torch.device("cuda", 1)
    assert select_device(" CUDA ") == torch.device("cuda", 1)


def test_under_torchrun_each_process_takes_its_local_rank(two_gpus):
    assert select_device("cuda", local_rank=0) == torch.device("cuda", 0)
    assert select_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert select_device("cuda:0", local_rank=1) == torch.device("cuda", 0)  # an explicit index wins
    with pytest.raises(DeviceError, match="there is no CUDA device 2; this machine has cpu, cuda:0, cuda:1"):
        select_device("auto", local_rank=2)


def test_a_gpu_that_does_not_exist(two_gpus):
    with pytest.raises(DeviceError) as raised:
        select_device("cuda:3")
    assert str(raised.value) == ("--device cuda:3: there is no CUDA device 3; this machine has cpu, cuda:0, cuda:1 "
                                 "(use one of those, or --device auto)")
    assert raised.value.exit_code == 2


def test_no_gpu(no_gpu):
    assert select_device("auto") == torch.device("cpu")
    assert select_device("cpu") == torch.device("cpu")
    for name, message in (("cuda", "no CUDA GPU is available"), ("cuda:1", "no CUDA GPU is available"),
                          ("mps", "MPS (Apple silicon) is not available")):
        with pytest.raises(DeviceError) as raised:
            select_device(name)
        assert str(raised.value).startswith(f"--device {name}: {message}")
        assert str(raised.value).endswith("; this machine has cpu (use one of those, or --device auto)")


@pytest.mark.parametrize("name, message", [("tpu", "not a device"), ("cuda:x", "not a device"),
                                           ("meta", "device type 'meta' is not supported")])
def test_nonsense(name, message):
    with pytest.raises(DeviceError, match=message):
        select_device(name)


def test_path_switches_set_by_name_and_restored_after_plain_paths():
    from munit_cli import MUNIT
    from munit_cli.devices import choose_paths, path_switches, plain_paths, set_paths

    from .conftest import TINY_MODEL

    model = choose_paths(MUNIT(TINY_MODEL, discriminators=False), "cpu")
    chosen = [(module, name, getattr(module, name)) for module, name in path_switches(model)]
    assert {name for _, name, value in chosen if value} == {"fast_convs", "nnpack"}  # the CPU's paths
    with plain_paths(model):
        assert not any(getattr(module, name) for module, name in path_switches(model))
    assert all(getattr(module, name) == value for module, name, value in chosen)
    set_paths(model, nnpack=False)
    assert {name for module, name in path_switches(model) if getattr(module, name)} == {"fast_convs"}
    with pytest.raises(ValueError, match="no path switch named npack"):
        set_paths(model, npack=False)

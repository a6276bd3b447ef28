"""The networks FID and LPIPS measure with, and where their weights come from.

Both come from the ecosystem's maintained code (the ``eval`` extra): FID from torchmetrics'
``FrechetInceptionDistance`` over the standard FID Inception (torch-fidelity's port of the
TensorFlow graph every published FID uses); LPIPS from torchmetrics' LPIPS with AlexNet, as
StarGAN v2 measures diversity. LPIPS's linear layers ship inside torchmetrics; the two weight files
below do not. They are looked for in ``--weights-dir``, then in torch's hub cache (where a first
use downloads them); where neither has them and nothing can be downloaded, the error names the
file, its address and where to put it.

Tests build ``FeatureNetworks`` from small random-weight networks and pass them where these go.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import MunitError


class WeightsError(MunitError):
    """A metric network's weights cannot be had."""


INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"


@dataclass
class FeatureNetworks:
    """inception: uint8 images [N, 3, H, W] -> features [N, D]; lpips: two float images in [-1, 1]
    [N, 3, H, W] -> distances [N, 1, 1, 1]."""

    inception: nn.Module
    lpips: nn.Module

    def to(self, device: torch.device) -> FeatureNetworks:
        return FeatureNetworks(self.inception.to(device), self.lpips.to(device))


def require_eval_extra() -> None:
    try:
        import torch_fidelity  # noqa: F401
        import torchmetrics  # noqa: F401
    except ImportError as e:
        raise MunitError(f"munit eval needs the eval extra ({e.name} is missing): "
                         "pip install 'munit-cli[eval]'") from None


def _file_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_file(url: str, weights_dir: Path | None) -> Path:
    """The local copy of the file at ``url``: in ``weights_dir`` if given, else in torch's hub cache,
    downloaded there on first use."""
    name = _file_name(url)
    if weights_dir is not None:
        return Path(weights_dir) / name  # checked by load_feature_networks, which names every missing file
    path = hub_checkpoints() / name
    if path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), progress=True)
    except Exception as e:  # no network, proxy, disk: each is the same advice
        raise WeightsError(f"cannot download {name} from {url} ({type(e).__name__}: {e}); download it on a "
                           f"machine that can and put it in {path.parent}, or in a folder given as --weights-dir") from None
    return path


def load_feature_networks(weights_dir: Path | None = None) -> FeatureNetworks:
    """The standard FID Inception and LPIPS-AlexNet, on the CPU."""
    require_eval_extra()
    from torchmetrics.functional.image.lpips import _NoTrainLpips
    from torchmetrics.image.fid import NoTrainInceptionV3

    if weights_dir is not None:  # name every missing file at once
        missing = [url for url in (INCEPTION_URL, ALEXNET_URL) if not (Path(weights_dir) / _file_name(url)).is_file()]
        if missing:
            raise WeightsError(f"--weights-dir {weights_dir} lacks " + " and ".join(
                f"{_file_name(url)} (from {url})" for url in missing) + "; download them there")
    inception_path = weights_file(INCEPTION_URL, weights_dir)
    alexnet_path = weights_file(ALEXNET_URL, weights_dir)
    try:
        inception = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                       feature_extractor_weights_path=str(inception_path))
    except Exception as e:
        raise WeightsError(f"{inception_path} is not the FID Inception's weights ({type(e).__name__}: {e}); "
                           f"download it again from {INCEPTION_URL}") from None
    with warnings.catch_warnings():
        # torchmetrics reads the LPIPS linear layers it ships with torch.load's old default, which torch
        # before 2.6 warns about; the file is part of the installed package, and users need not see it.
        warnings.filterwarnings("ignore", message=".*weights_only=False", category=FutureWarning)
        lpips = _NoTrainLpips(net="alex", pnet_rand=True)  # its linear layers; the backbone is loaded next
    _load_alexnet_backbone(lpips, alexnet_path)
    return FeatureNetworks(inception, lpips)


def _load_alexnet_backbone(lpips: nn.Module, path: Path) -> None:
    """torchvision's ImageNet AlexNet into LPIPS's backbone, which keeps ``features[i]`` as
    ``slice{k}.{i}`` (a plain copy, so no download of its own)."""
    import torchvision

    alexnet = torchvision.models.alexnet(weights=None)
    try:
        alexnet.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:
        raise WeightsError(f"{path} is not torchvision's AlexNet weights ({type(e).__name__}: {e}); "
                           f"download it again from {ALEXNET_URL}") from None
    for k in range(1, 6):
        for name, layer in getattr(lpips.net, f"slice{k}").named_children():
            layer.load_state_dict(alexnet.features[int(name)].state_dict())

"""`symgrad.models`: torchvision's ResNet-18, with its exact layout, parameter names and init.

`resnet18(num_classes=1000, weights=None)` builds conv1, bn1, relu, maxpool, layer1..layer4 (two
`BasicBlock`s each, a 1x1-conv + BatchNorm `downsample` where the shape changes), avgpool and fc:
11,689,512 parameters for 1000 classes. Initialisation is torchvision's (kaiming-normal fan_out
convolutions, BatchNorm weight 1 / bias 0, default Linear).

`weights` is a file: a `.npz` (from `symgrad.save(model.state_dict(), path)`, or any `.npz` of
name -> array, e.g. written with `numpy.savez(path, **{k: v.numpy() for k, v in sd.items()})`), or
a PyTorch state_dict (`.pt` / `.pth`, read with torch when it is installed). Loading is strict: a
file for another architecture or class count raises listing the keys, and loads nothing. Nothing is
downloaded: `pretrained=True` raises and says how to pass a file.
"""

from __future__ import annotations

import os

import numpy as np

from symgrad import nn

__all__ = ["ResNet", "BasicBlock", "resnet18", "load_weights"]


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection (torchvision's)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    """torchvision.models.ResNet for BasicBlock layers."""

    def __init__(self, block, layers, num_classes: int = 1000, zero_init_residual: bool = False):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = x.flatten(1)
        x = self.fc(x)
        return x


def resnet18(num_classes: int = 1000, weights=None, pretrained: bool = False, progress: bool = True,
             **kwargs) -> ResNet:
    """ResNet-18 (torchvision's layout and names); `weights`: a .npz / .pt / .pth state_dict file."""
    if pretrained:
        raise RuntimeError(
            "resnet18(pretrained=True): symgrad does not download weights (no network access is assumed). "
            "Pass a file instead: symgrad.models.resnet18(weights='resnet18.pth') with a PyTorch state_dict "
            "(e.g. saved once with torch.save(torchvision.models.resnet18(weights='DEFAULT').state_dict(), "
            "'resnet18.pth')), or a .npz written by symgrad.save(model.state_dict(), 'resnet18.npz').")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"resnet18(weights=...) expects a path to a .npz / .pt / .pth file, got "
                        f"{type(weights).__name__} (torchvision's weight enums cannot be downloaded here)")
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, **kwargs)
    if weights is not None:
        model.load_state_dict(load_weights(weights))
    return model


def load_weights(path) -> dict:
    """A state_dict (name -> NumPy array) read from a .npz, or a .pt/.pth file via torch (if installed)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.endswith((".pt", ".pth")):
        return _load_torch(path)
    from symgrad import serialization

    return serialization.load_state_arrays(path)


def _load_torch(path: str) -> dict:
    try:
        import torch
    except ImportError:
        raise RuntimeError(
            f"reading {path} needs PyTorch, which is not installed. Install it (pip install torch), or "
            "convert the file once where torch is available: numpy.savez('weights.npz', "
            "**{k: v.numpy() for k, v in torch.load(path).items()}), then pass weights='weights.npz'.") from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if hasattr(state, "state_dict") and not isinstance(state, dict):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise TypeError(f"{path} does not hold a state_dict (a dict of tensors) but {type(state).__name__}")
    return {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)) for k, v in state.items()}

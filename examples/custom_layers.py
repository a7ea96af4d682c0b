"""Layers of one's own for examples/custom_layer.nn, which imports them with
`from "custom_layers.py" import ScaleShift`. nndsl reads this file to find the class but
never runs it: the generated model imports it."""

import torch
from torch import nn


class ScaleShift(nn.Module):
    """A learned scale and shift of each channel of an image: x * scale + shift."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels, 1, 1))
        self.shift = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift

"""Convolutional autoencoder for fixed-shape inputs stored flat as ``FLOAT[]``.

``input_shape`` is ``[channels, length]`` (1-D: sensor windows, channel-major) or
``[channels, height, width]`` (2-D: images). The encoder halves the spatial size with each
strided convolution, then a linear layer maps to the code; the decoder mirrors it with
upsampling (to the exact sizes the encoder saw) and convolutions. Inputs are standardized per
channel by default, so a channel's shape over time or space survives preprocessing.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from training.base import Autoencoder, FamilyConfig, activation, register_family


@dataclasses.dataclass
class ConvolutionalConfig(FamilyConfig):
    input_shape: list[int] = dataclasses.field(default_factory=lambda: [1, 8, 8])
    channels: list[int] = dataclasses.field(default_factory=lambda: [16, 32])
    kernel_size: int = 3
    latent_dim: int = 16
    activation: str = "gelu"


@register_family
class ConvolutionalAutoencoder(Autoencoder):
    family = "convolutional"
    config_class = ConvolutionalConfig
    config: ConvolutionalConfig
    default_scaling = "channel"

    def __init__(self, config: ConvolutionalConfig) -> None:
        shape = list(config.input_shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ValueError(
                f"input_shape must be [channels, length] or [channels, height, width], got {shape}"
            )
        if math.prod(shape) != config.input_dim:
            raise ValueError(
                f"input_shape {shape} holds {math.prod(shape)} values but the input vector has "
                f"{config.input_dim}; set input_shape to the layout of the FLOAT[] column"
            )
        super().__init__(config)
        act = activation(config.activation)
        conv = nn.Conv1d if len(shape) == 2 else nn.Conv2d
        k, pad = config.kernel_size, config.kernel_size // 2
        sizes = [tuple(shape[1:])]
        enc: list[nn.Module] = []
        c_in = shape[0]
        for c_out in config.channels:
            enc += [conv(c_in, c_out, k, stride=2, padding=pad), act()]
            sizes.append(tuple((s + 2 * pad - k) // 2 + 1 for s in sizes[-1]))
            c_in = c_out
        self.encoder_conv = nn.Sequential(*enc)
        self.inner = (c_in, *sizes[-1])
        flat = math.prod(self.inner)
        self.to_code = nn.Linear(flat, config.latent_dim)
        self.from_code = nn.Linear(config.latent_dim, flat)
        dec: list[nn.Module] = []
        chans = [*config.channels[::-1][1:], shape[0]]
        c_in = config.channels[-1]
        for i, c_out in enumerate(chans):
            dec.append(nn.Upsample(size=sizes[-2 - i], mode="nearest"))
            dec.append(conv(c_in, c_out if i < len(chans) - 1 else c_in, k, padding=pad))
            dec.append(act())
            if i == len(chans) - 1:
                dec.append(conv(c_in, c_out, k, padding=pad))  # linear output layer
            c_in = c_out
        self.decoder_conv = nn.Sequential(*dec)
        self.act = act()

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n, k)
        h = self.encoder_conv(x.view(len(x), *self.config.input_shape))
        return self.to_code(h.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # (n, k) -> (n, d)
        h = self.act(self.from_code(z)).view(len(z), *self.inner)
        return self.decoder_conv(h).flatten(1)

"""The spatial broadcast decoder (Watters, Matthey, Burgess, Lerchner; 2019), the VAE's default decoder.

The latent vector is copied to every cell of a coarse grid (a quarter of the image side: 12 x 12 for 48 x 48
images, 21 x 21 for 84 x 84), two channels holding each cell's x and y coordinate in [-1, 1] are appended, and
stride-1 convolutions then two transposed convolutions draw the image. Where something is drawn is thereby a
simple function of the latent and the coordinates, so the VAE can give an object's position a few smooth latent
dimensions instead of curling it through many, as a decoder that starts from a linear layer does.

Why rigbot uses it: RIG's reward is the latent distance, which must grow with the distance between scenes. On
the twin's reach task (bench/bench_vae.py) the Spearman correlation of latent distance with hand distance rose
from 0.61 with the mirror-image transposed-convolution decoder to 0.97, with the same encoder (so the same
encoding latency) and training about 1.5 times slower.
"""
from __future__ import annotations

import torch
from torch import nn


class SpatialBroadcastDecoder(nn.Module):
    def __init__(self, latent_dim: int, image_size: int, width: int = 32):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"the spatial broadcast decoder draws images whose side is a multiple of 4, "
                             f"not {image_size}")
        grid = image_size // 4
        line = torch.linspace(-1.0, 1.0, grid)
        y, x = torch.meshgrid(line, line, indexing="ij")
        self.register_buffer("coordinates", torch.stack([x, y])[None], persistent=False)
        self.net = nn.Sequential(
            nn.Conv2d(latent_dim + 2, width, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, 3, 4, 2, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n, d = z.shape
        grid = self.coordinates.shape[-1]
        tiled = z[:, :, None, None].expand(n, d, grid, grid)
        return self.net(torch.cat([tiled, self.coordinates.expand(n, 2, grid, grid)], 1))

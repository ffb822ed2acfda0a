"""Real-ESRGAN x4 through spandrel, with tiled inference and feathered seams.

spandrel loads the weights and runs the network but does no tiling; large images are cut
into overlapping tiles that are batched through the model and blended back with weights
that ramp down across each overlap, so no seam survives.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from spandrel import ImageModelDescriptor, ModelLoader

# One tile covers a whole 1024 px headshot: overlapped tiles would recompute up to 2x the
# pixels, and a 1024 px tile fits easily on the GPUs the worker runs on.
DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 32
# After an out-of-memory error the upscale goes on in tiles no smaller than this, one at a time.
SMALLEST_TILE = 256


def upscale_dtype(model: ImageModelDescriptor, device: torch.device) -> torch.dtype:
    """fp16 on a GPU, as Real-ESRGAN itself runs; fp32 on the CPU.

    Not bf16: its 8-bit mantissa bands smooth gradients (skin, backdrops) by up to
    3 levels of 255 through the RRDB's 23 blocks, which shows at 4096 px.
    """
    if device.type == "cuda" and model.supports_half:
        return torch.float16
    return torch.float32


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spread tile offsets along one axis, overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def feather(length: int, ramp: int, *, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    """Blend weights along one tile axis: 1 inside, ramping towards edges shared with a neighbour."""
    position = torch.arange(length, dtype=torch.float32) + 0.5
    weights = torch.ones(length)
    if ramp_start:
        weights = torch.minimum(weights, position / ramp)
    if ramp_end:
        weights = torch.minimum(weights, position.flip(0) / ramp)
    return weights


class Upscaler:
    def __init__(
        self,
        model: ImageModelDescriptor,
        *,
        device: torch.device,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
        tile_batch: int = 4,
    ) -> None:
        self.dtype = upscale_dtype(model, device)
        self.model = model.to(device, self.dtype)
        self.model.model.eval()
        if device.type == "cuda":
            self.model.model.to(memory_format=torch.channels_last)
        self.device = device
        self.tile = tile
        self.overlap = overlap
        self.tile_batch = tile_batch

    @classmethod
    def from_file(cls, path: Path, *, device: torch.device, **tiling: int) -> Upscaler:
        model = ModelLoader().load_from_file(path)
        if not isinstance(model, ImageModelDescriptor):
            raise ValueError(f"{path} is not an image-to-image model")
        return cls(model, device=device, **tiling)

    def compile(self) -> None:
        """torch.compile the network in place (the first image pays for it)."""
        self.model.model.compile()

    def can_shrink_tiles(self) -> bool:
        return self.tile_batch > 1 or self.tile > SMALLEST_TILE

    def shrink_tiles(self) -> None:
        """Less memory per call: first one tile at a time, then tiles of half the side."""
        if self.tile_batch > 1:
            self.tile_batch = 1
        else:
            self.tile = max(SMALLEST_TILE, self.tile // 2)

    @property
    def scale(self) -> int:
        return self.model.scale

    @torch.inference_mode()
    def upscale_tensor(self, image: torch.Tensor) -> torch.Tensor:
        """(1, 3, H, W) in [0, 1] -> (1, 3, sH, sW) in [0, 1], float32 on the model's device."""
        _, channels, height, width = image.shape
        scale = self.scale
        tile_h, tile_w = min(self.tile, height), min(self.tile, width)
        ys, xs = tile_starts(height, tile_h, self.overlap), tile_starts(width, tile_w, self.overlap)
        boxes = [(y, x) for y in ys for x in xs]
        output = torch.zeros(1, channels, height * scale, width * scale, device=self.device)
        weight = torch.zeros(1, 1, height * scale, width * scale, device=self.device)
        image = image.to(self.device, self.dtype)
        ramp = self.overlap * scale
        for first in range(0, len(boxes), self.tile_batch):
            batch = boxes[first : first + self.tile_batch]
            tiles = torch.cat([image[:, :, y : y + tile_h, x : x + tile_w] for y, x in batch])
            if self.device.type == "cuda":
                tiles = tiles.contiguous(memory_format=torch.channels_last)
            upscaled = self.model(tiles).float()
            for (y, x), out in zip(batch, upscaled, strict=True):
                mask = torch.outer(
                    feather(tile_h * scale, ramp, ramp_start=y > 0, ramp_end=y + tile_h < height),
                    feather(tile_w * scale, ramp, ramp_start=x > 0, ramp_end=x + tile_w < width),
                ).to(self.device)
                region = (
                    slice(y * scale, (y + tile_h) * scale),
                    slice(x * scale, (x + tile_w) * scale),
                )
                output[0, :, region[0], region[1]] += out * mask
                weight[0, 0, region[0], region[1]] += mask
        return output / weight

    def upscale(self, image: Image.Image) -> Image.Image:
        rgb = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255)
        result = self.upscale_tensor(rgb.permute(2, 0, 1)[None])
        pixels = (result[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8)
        return Image.fromarray(pixels.cpu().numpy())

"""Real-ESRGAN x4 through spandrel, tiled with feathered seams."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("spandrel")

import torch  # noqa: E402

from gpu_worker.pipeline.upscale import Upscaler, feather, tile_starts  # noqa: E402

pytestmark = pytest.mark.gpu_stack


def test_upscale_turns_1024_into_4096(engine, astronaut):
    upscaled = engine.upscale(astronaut.resize((1024, 1024)))
    assert upscaled.size == (4096, 4096)
    banner = np.asarray(upscaled)[-400:]
    assert (banner == (200, 0, 0)).all(axis=-1).mean() > 0.6  # the tiny set's stamp


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(1024, 512, 32), (1000, 300, 40), (96, 40, 16), (64, 128, 16)]
)
def test_tiles_cover_the_image_and_overlap_enough(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(size - (b - a) >= overlap for a, b in zip(starts, starts[1:], strict=False))


def test_feather_ramps_only_towards_shared_edges():
    inner = feather(8, 3, ramp_start=True, ramp_end=True)
    assert inner[0] < inner[1] < inner[2] < inner[3] == inner[4] == 1 > inner[-1]
    torch.testing.assert_close(inner, inner.flip(0))
    edge = feather(8, 3, ramp_start=False, ramp_end=True)
    assert edge[0] == 1 and edge[-1] < 1


def test_tiled_result_blends_seamlessly_into_the_untiled_one(engine, astronaut):
    crop = np.asarray(astronaut)[60:156, 160:240] / 255  # 96 x 80 around the face
    image = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
    model, device = engine.upscaler.model, torch.device("cpu")
    whole = Upscaler(model, device=device).upscale_tensor(image)
    tiled = Upscaler(model, device=device, tile=40, overlap=16, tile_batch=3).upscale_tensor(image)

    assert len(tile_starts(96, 40, 16)) * len(tile_starts(80, 40, 16)) == 12
    assert tiled.shape == whole.shape == (1, 3, 384, 320)
    difference = (tiled - whole).abs()
    assert difference.mean() < 2e-3
    assert difference.max() < 2e-2
    # And the upscale is a picture of the input, not noise.
    upsampled = torch.nn.functional.interpolate(image, scale_factor=4, mode="nearest")
    correlation = torch.corrcoef(torch.stack([whole.flatten(), upsampled.flatten()]))[0, 1]
    assert correlation > 0.9


def test_the_upscaler_runs_in_fp16_on_a_gpu_and_fp32_on_the_cpu(engine):
    from gpu_worker.pipeline.upscale import upscale_dtype

    model = engine.upscaler.model
    assert model.supports_half
    # Decided without a GPU: the choice is a function of the device's type alone.
    assert upscale_dtype(model, torch.device("cuda", 0)) == torch.float16
    assert upscale_dtype(model, torch.device("cpu")) == torch.float32
    assert engine.upscaler.dtype == torch.float32

"""Out-of-memory errors, simulated at the engine's seams: each is survived, the memory
is freed once the failed step is garbage, and what fitted is remembered."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.gpu_stack

PROMPT = "corporate headshot"
NEGATIVE = "cartoon"


@pytest.fixture
def fresh_engine(engine, monkeypatch):
    """The session's engine, with what it learnt about the device put back afterwards."""
    monkeypatch.setattr(engine, "batch_that_fits", None)
    monkeypatch.setattr(engine.generator, "decode_one_at_a_time", False)
    monkeypatch.setattr(engine.upscaler, "tile_batch", engine.upscaler.tile_batch)
    monkeypatch.setattr(engine.upscaler, "tile", engine.upscaler.tile)
    return engine


def test_memory_is_freed_only_once_the_failed_batch_is_garbage(fresh_engine, face, monkeypatch):
    from gpu_worker.pipeline import engine as engine_module

    alive_when_freed: list[bool] = []
    failed_batch: list[weakref.ref] = []

    def generate(*, seeds, **_kwargs):
        if len(seeds) > 1:
            activations = torch.zeros(len(seeds), 64)
            failed_batch.append(weakref.ref(activations))
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return torch.zeros((1, 3, 8, 8))

    def free_memory(device):
        gc.collect()
        alive_when_freed.append(failed_batch[-1]() is not None)

    monkeypatch.setattr(fresh_engine.generator, "generate", generate)
    monkeypatch.setattr(engine_module, "free_memory", free_memory)

    fresh_engine.generate(face=face, prompt=PROMPT, negative_prompt=NEGATIVE, seeds=[1, 2])

    assert alive_when_freed == [False]


def test_the_batch_that_fitted_is_where_the_next_style_starts(fresh_engine, face, monkeypatch):
    tried: list[int] = []

    def generate(*, seeds, **_kwargs):
        tried.append(len(seeds))
        if len(seeds) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return torch.zeros((len(seeds), 3, 8, 8))

    monkeypatch.setattr(fresh_engine.generator, "generate", generate)
    for _style in range(2):
        fresh_engine.generate(
            face=face, prompt=PROMPT, negative_prompt=NEGATIVE, seeds=[1, 2, 3, 4]
        )

    # The first style learns that 4 does not fit; the second starts at 2.
    assert tried == [4, 2, 2, 2, 2]
    assert fresh_engine.batch_that_fits == 2


def test_a_batched_decode_that_does_not_fit_decodes_one_image_at_a_time(fresh_engine, face):
    generator = fresh_engine.generator
    vae = generator.pipe.vae
    real_decode = vae.decode
    decoded: list[int] = []
    steps: list[int] = []
    real_run = generator.denoiser.run

    def decode(latents, **kwargs):
        decoded.append(latents.shape[0])
        if latents.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real_decode(latents, **kwargs)

    def run(*args, **kwargs):
        steps.append(kwargs["steps"])
        return real_run(*args, **kwargs)

    vae.decode = decode
    generator.denoiser.run = run
    try:
        images = fresh_engine.generate(
            face=face, prompt=PROMPT, negative_prompt=NEGATIVE, seeds=[1, 2], num_inference_steps=2
        )
        alone = fresh_engine.generate(
            face=face, prompt=PROMPT, negative_prompt=NEGATIVE, seeds=[2], num_inference_steps=2
        )
    finally:
        del vae.decode
        del generator.denoiser.run

    # One denoising run for the pair: the decode's failure did not throw it away.
    assert steps == [2, 2]
    assert decoded == [2, 1, 1, 1]
    assert len(images) == 2 and generator.decode_one_at_a_time
    assert np.array_equal(np.asarray(images[1]), np.asarray(alone[0]))


def test_likeness_survives_an_out_of_memory_error_in_onnx_runtime(
    fresh_engine, face, astronaut, monkeypatch
):
    from onnxruntime.capi.onnxruntime_pybind11_state import RuntimeException

    real = fresh_engine.faces.largest_face
    calls = []

    def largest_face(image):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeException(
                "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory "
                "for requested buffer of size 268435456"
            )
        return real(image)

    monkeypatch.setattr(fresh_engine.faces, "largest_face", largest_face)

    score = fresh_engine.likeness(face=face, image=astronaut)

    assert score == pytest.approx(1.0, abs=1e-5) and len(calls) == 2


def test_likeness_lets_other_onnx_errors_through(fresh_engine, face, astronaut, monkeypatch):
    from onnxruntime.capi.onnxruntime_pybind11_state import RuntimeException

    def largest_face(image):
        raise RuntimeException("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : bad input")

    monkeypatch.setattr(fresh_engine.faces, "largest_face", largest_face)
    with pytest.raises(RuntimeException, match="bad input"):
        fresh_engine.likeness(face=face, image=astronaut)


def test_an_upscale_that_does_not_fit_goes_on_in_smaller_tiles(fresh_engine, monkeypatch):
    upscaler = fresh_engine.upscaler
    upscaler.tile_batch, upscaler.tile = 4, 256
    real = upscaler.upscale_tensor
    tried: list[tuple[int, int]] = []

    def upscale_tensor(image):
        tried.append((upscaler.tile, upscaler.tile_batch))
        if upscaler.tile_batch > 1 or upscaler.tile > 128:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(image)

    monkeypatch.setattr(upscaler, "upscale_tensor", upscale_tensor)
    monkeypatch.setattr("gpu_worker.pipeline.upscale.SMALLEST_TILE", 128)
    image = Image.new("RGB", (256, 256), (90, 120, 150))

    result = fresh_engine.upscale(image)

    assert result.size == (1024, 1024)
    assert tried == [(256, 4), (256, 1), (128, 1)]
    # Remembered for the next image.
    assert (upscaler.tile, upscaler.tile_batch) == (128, 1)

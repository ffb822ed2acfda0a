"""InstantID generation through the engine, on the tiny set."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

import torch  # noqa: E402

from gpu_worker.pipeline.engine import OUTPUT_SIZE, stage  # noqa: E402
from gpu_worker.pipeline.instantid import (  # noqa: E402
    FACE_TOKENS,
    KEYPOINT_COLORS,
    draw_keypoints,
    frame_keypoints,
)

pytestmark = pytest.mark.gpu_stack

PROMPT = "professional corporate headshot, studio lighting, navy blazer"
NEGATIVE = "blurry, lowres, watermark"


def _pixels(image) -> np.ndarray:
    """The picture above the tiny stamp's banner, as integers."""
    return np.asarray(image, dtype=np.int16)[: OUTPUT_SIZE * 8 // 10]


def test_one_headshot_per_seed_from_one_batched_run(engine, face):
    pipe = engine.generator.pipe
    unet_batches, identitynet_contexts = [], []
    hooks = [
        pipe.unet.register_forward_pre_hook(lambda _m, args: unet_batches.append(args[0].shape[0])),
        pipe.controlnet.register_forward_pre_hook(
            lambda _m, _args, kwargs: identitynet_contexts.append(
                tuple(kwargs["encoder_hidden_states"].shape)
            ),
            with_kwargs=True,
        ),
    ]
    done: list[int] = []
    try:
        images = engine.generate(
            face=face,
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            seeds=[11, 22, 33],
            num_inference_steps=3,
            on_image_done=done.append,
        )
    finally:
        for hook in hooks:
            hook.remove()

    assert [image.size for image in images] == [(OUTPUT_SIZE, OUTPUT_SIZE)] * 3
    assert [image.info["seed"] for image in images] == [11, 22, 33]
    assert done == [0, 1, 2]
    # Three steps, each one UNet call on unconditional + conditional halves of all three images.
    assert unet_batches == [6, 6, 6]
    # IdentityNet is conditioned on the face tokens alone, not on the prompt.
    width = pipe.unet.config.cross_attention_dim
    assert identitynet_contexts == [(6, FACE_TOKENS, width)] * 3


def test_a_seed_gives_the_same_image_alone_or_in_a_batch(engine, face):
    kwargs = {"face": face, "prompt": PROMPT, "negative_prompt": NEGATIVE, "num_inference_steps": 2}
    alone = _pixels(engine.generate(seeds=[5], **kwargs)[0])
    again = _pixels(engine.generate(seeds=[5], **kwargs)[0])
    other, batched = (_pixels(image) for image in engine.generate(seeds=[9, 5], **kwargs))

    assert np.array_equal(alone, again)
    assert np.abs(alone - batched).mean() < 0.5
    assert np.abs(alone - other).mean() > 10


def test_tiny_images_carry_a_visible_stamp(engine, face):
    (image,) = engine.generate(
        face=face, prompt=PROMPT, negative_prompt=NEGATIVE, seeds=[1], num_inference_steps=1
    )
    banner = np.asarray(image)[-OUTPUT_SIZE // 10 :]
    assert (banner == (200, 0, 0)).all(axis=-1).mean() > 0.6
    assert (banner == 255).all(axis=-1).sum() > 1000  # the white lettering


def test_cuda_out_of_memory_retries_in_halved_batches(engine, face, monkeypatch):
    tried: list[int] = []

    def generate(*, seeds, **_kwargs):
        tried.append(len(seeds))
        if len(seeds) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return torch.full((1, 3, 8, 8), seeds[0] / 10)

    monkeypatch.setattr(engine.generator, "generate", generate)
    done: list[int] = []
    images = engine.generate(
        face=face,
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        seeds=[1, 2, 3, 4],
        on_image_done=done.append,
    )

    assert tried == [4, 2, 1, 1, 1, 1]
    assert [image.info["seed"] for image in images] == [1, 2, 3, 4]
    assert [np.asarray(image)[0, 0, 0] for image in images] == [26, 51, 76, 102]
    assert done == [0, 1, 2, 3]


def test_guidance_uses_a_zero_face_embedding_on_the_unconditional_branch(engine, face):
    generator = engine.generator
    keypoints = draw_keypoints(frame_keypoints(face.bbox, face.kps, generator.size), generator.size)
    with torch.inference_mode():
        cond = generator.conditioning(
            embedding=face.embedding,
            keypoints=keypoints,
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            batch=2,
        )
        zero_face = generator.resampler(torch.zeros(1, 1, 512))
        real_face = generator.resampler(torch.from_numpy(face.embedding).reshape(1, 1, -1))

    assert cond.batch == 2
    torch.testing.assert_close(cond.face_tokens[:2], zero_face.expand(2, -1, -1))
    torch.testing.assert_close(cond.face_tokens[2:], real_face.expand(2, -1, -1))
    # The UNet sees the prompt's tokens followed by the face tokens.
    assert cond.prompt_embeds.shape[1] == 77 + FACE_TOKENS
    torch.testing.assert_close(cond.prompt_embeds[:, -FACE_TOKENS:], cond.face_tokens)


def test_the_face_steers_the_image_and_the_adapter_scale_is_settable(engine, face):
    generator = engine.generator
    keypoints = draw_keypoints(frame_keypoints(face.bbox, face.kps, generator.size), generator.size)

    def run(embedding: np.ndarray) -> torch.Tensor:
        return generator.generate(
            embedding=embedding,
            keypoints=keypoints,
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            seeds=[3],
            steps=2,
            guidance=5.0,
            log_stage=stage,
        )

    with_face = run(face.embedding)
    other_face = run(face.embedding[::-1].copy())
    generator.set_ip_adapter_scale(0.0)
    try:
        without_adapter = run(face.embedding)
    finally:
        generator.set_ip_adapter_scale(0.8)

    assert (with_face - other_face).abs().mean() > 1e-3
    assert (with_face - without_adapter).abs().mean() > 1e-3
    assert all(p.scale == 0.8 for p in generator.face_processors)


def test_keypoints_are_framed_as_a_headshot_and_drawn_in_identitynets_colours(face):
    size = 1024
    kps = frame_keypoints(face.bbox, face.kps, size)
    x0, _, x1, _ = face.bbox
    assert abs((kps[0, 0] + kps[1, 0]) / 2 - size / 2) < 0.1 * size
    assert kps[:, 1].min() > 0.2 * size and kps[:, 1].max() < 0.7 * size

    drawing = np.asarray(draw_keypoints(kps, size))
    for point, color in enumerate(KEYPOINT_COLORS):
        x, y = np.round(kps[point]).astype(int)
        assert tuple(drawing[y, x]) == color
    assert drawing[5, 5].tolist() == [0, 0, 0]


def test_the_demo_tokenizers_truncation_warnings_are_quiet(engine, face, capfd, caplog):
    long_prompt = "corporate headshot, " * 40
    with caplog.at_level("WARNING"):
        engine.generate(
            face=face,
            prompt=long_prompt,
            negative_prompt=long_prompt,
            seeds=[1],
            num_inference_steps=1,
        )
    said = capfd.readouterr().err + "".join(record.getMessage() for record in caplog.records)
    assert "truncated" not in said
    assert "Token indices sequence length" not in said

"""Any SDXL checkpoint as base: a single original-format .safetensors file loads too."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402

from gpu_worker.pipeline.engine import HeadshotEngine  # noqa: E402
from gpu_worker.weights.layout import model_set  # noqa: E402
from tests.gpu_worker.ldm_export import export_single_file  # noqa: E402

pytestmark = pytest.mark.gpu_stack


def test_single_file_checkpoint_loads_as_the_base(tiny_model_dir, engine, face, tmp_path):
    folder = model_set(tiny_model_dir, "tiny").sdxl_base
    checkpoint = export_single_file(folder, tmp_path / "sdxl-finetune.safetensors")
    with safe_open(checkpoint, "pt") as handle:
        keys = set(handle.keys())
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys
    assert "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight" in keys
    assert not any(key.startswith(("unet.", "down_blocks.")) for key in keys)

    from_file = HeadshotEngine.load(
        model_dir=tiny_model_dir, model_set="tiny", device="cpu", base_checkpoint=checkpoint
    )

    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        expected = getattr(engine.generator.pipe, name).state_dict()
        loaded = getattr(from_file.generator.pipe, name).state_dict()
        assert expected.keys() == loaded.keys(), name
        assert all(torch.equal(expected[key], loaded[key]) for key in expected), name
    kwargs = {
        "face": face,
        "prompt": "portrait",
        "negative_prompt": "",
        "seeds": [4],
        "num_inference_steps": 2,
    }
    assert np.array_equal(
        np.asarray(from_file.generate(**kwargs)[0]), np.asarray(engine.generate(**kwargs)[0])
    )

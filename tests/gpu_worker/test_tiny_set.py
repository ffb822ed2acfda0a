"""The tiny set is the real set's layout and formats, read by the same loading code."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

import onnx  # noqa: E402
import torch  # noqa: E402
from diffusers import UNet2DConditionModel  # noqa: E402
from insightface.app import FaceAnalysis  # noqa: E402
from spandrel import ModelLoader  # noqa: E402

from gpu_worker import tiny  # noqa: E402
from gpu_worker.bench import SDXL_UNET  # noqa: E402
from gpu_worker.pipeline.instantid import FaceAttnProcessor, cross_attention_layers  # noqa: E402
from gpu_worker.weights.layout import model_set  # noqa: E402

pytestmark = pytest.mark.gpu_stack


def _relative(models) -> list[str]:
    return sorted(str(path.relative_to(models.root)) for path in models.required_files())


def test_tiny_set_is_complete_in_the_real_layout(tiny_model_dir: Path):
    tiny_set, real_set = model_set(tiny_model_dir, "tiny"), model_set(tiny_model_dir, "real")
    assert tiny_set.missing_files() == []
    assert _relative(tiny_set) == _relative(real_set)


def test_tiny_set_build_is_idempotent_and_deterministic(tiny_model_dir: Path, tmp_path: Path):
    models = model_set(tiny_model_dir, "tiny")
    before = {path: path.stat().st_mtime_ns for path in models.required_files()}
    tiny.ensure_tiny_set(tiny_model_dir)
    assert {path: path.stat().st_mtime_ns for path in models.required_files()} == before

    rebuilt = tiny.ensure_tiny_set(tmp_path)
    for relative in _relative(models):
        first = hashlib.sha256((models.root / relative).read_bytes()).hexdigest()
        second = hashlib.sha256((rebuilt.root / relative).read_bytes()).hexdigest()
        assert first == second, relative


def test_ip_adapter_has_instantids_key_layout(engine, tiny_model_dir: Path):
    checkpoint = torch.load(model_set(tiny_model_dir, "tiny").ip_adapter, weights_only=True)
    assert set(checkpoint) == {"image_proj", "ip_adapter"}

    image_proj = checkpoint["image_proj"]
    assert image_proj["latents"].shape == (1, 16, tiny.RESAMPLER["dim"])
    assert image_proj["proj_in.weight"].shape == (tiny.RESAMPLER["dim"], 512)
    assert image_proj["proj_out.weight"].shape[0] == tiny.UNET["cross_attention_dim"]
    for key in (
        "norm_out.weight",
        "layers.0.0.to_q.weight",
        "layers.0.0.to_kv.weight",
        "layers.0.0.to_out.weight",
        "layers.0.0.norm1.weight",
        "layers.0.1.0.weight",
        "layers.0.1.1.weight",
        "layers.0.1.3.weight",
    ):
        assert key in image_proj

    # Cross-attention layers sit at odd positions among all attention processors, as in SDXL.
    unet = engine.generator.pipe.unet
    indices = [index for index, _, _ in cross_attention_layers(unet)]
    assert indices == [1, 3, 5, 7]
    expected = {f"{i}.{name}.weight" for i in indices for name in ("to_k_ip", "to_v_ip")}
    assert set(checkpoint["ip_adapter"]) == expected

    # Loaded through the engine: every cross-attention layer runs the face processor.
    processors = unet.attn_processors
    assert sum(isinstance(p, FaceAttnProcessor) for p in processors.values()) == len(indices)
    assert all(
        isinstance(processors[name], FaceAttnProcessor)
        for _, name, _ in cross_attention_layers(unet)
    )


def test_full_size_sdxl_numbers_cross_attention_like_the_real_checkpoint():
    with torch.device("meta"):
        unet = UNet2DConditionModel(**SDXL_UNET)
    indices = [index for index, _, _ in cross_attention_layers(unet)]
    # InstantID's ip-adapter.bin holds 1.to_k_ip ... 139.to_v_ip: 70 layers, odd positions.
    assert indices == list(range(1, 140, 2))


def test_spandrel_recognises_the_rrdbnet_as_a_4x_real_esrgan(tiny_model_dir: Path):
    path = model_set(tiny_model_dir, "tiny").upscaler
    checkpoint = torch.load(path, weights_only=True)
    assert list(checkpoint) == ["params_ema"]
    keys = set(checkpoint["params_ema"])
    for key in (
        "conv_first.weight",
        "body.0.rdb1.conv1.weight",
        "body.0.rdb3.conv5.bias",
        "conv_body.weight",
        "conv_up1.weight",
        "conv_up2.weight",
        "conv_hr.weight",
        "conv_last.weight",
    ):
        assert key in keys
    assert not any(key.startswith("model.") for key in keys)

    descriptor = ModelLoader().load_from_file(path)
    assert descriptor.architecture.id == "ESRGAN"
    assert descriptor.scale == 4
    assert descriptor.input_channels == descriptor.output_channels == 3


def test_face_models_have_insightfaces_signatures(tiny_model_dir: Path):
    pack = model_set(tiny_model_dir, "tiny").antelopev2
    detector = onnx.load(pack / "scrfd_10g_bnkps.onnx")
    assert len(detector.graph.output) == 9
    dims = [d.dim_value or d.dim_param for d in detector.graph.input[0].type.tensor_type.shape.dim]
    assert dims[:2] == [1, 3] and all(isinstance(d, str) for d in dims[2:])
    assert [o.type.tensor_type.shape.dim[1].dim_value for o in detector.graph.output] == [
        1,
        1,
        1,
        4,
        4,
        4,
        10,
        10,
        10,
    ]

    # insightface routes every file of the pack by its signature alone, as with the real pack.
    analysis = FaceAnalysis(name=str(pack), providers=["CPUExecutionProvider"])
    assert set(analysis.models) == {
        "detection",
        "recognition",
        "landmark_3d_68",
        "landmark_2d_106",
        "genderage",
    }
    recognition = analysis.models["recognition"]
    assert recognition.input_size == (112, 112)
    assert recognition.output_shape[-1] == 512

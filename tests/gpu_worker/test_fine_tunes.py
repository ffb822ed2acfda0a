"""A fine-tune in place of SDXL, in every form one is published in, on tiny weights:
a diffusers folder (sharded or not, fp16 variant or not, safetensors or .bin) here,
and one original-format .safetensors file in test_single_file.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

import torch  # noqa: E402

from gpu_worker.weights.layout import model_set  # noqa: E402

pytestmark = pytest.mark.gpu_stack

FORMS = {
    "safetensors": {"safe_serialization": True},
    "fp16 variant": {"safe_serialization": True, "variant": "fp16"},
    "sharded": {"safe_serialization": True, "max_shard_size": "200KB"},
    "sharded fp16 variant": {
        "safe_serialization": True,
        "max_shard_size": "200KB",
        "variant": "fp16",
    },
    "bin": {"safe_serialization": False},
    "sharded bin": {"safe_serialization": False, "max_shard_size": "200KB"},
}


@pytest.fixture(scope="module")
def fine_tuned_pipe(tiny_model_dir):
    """The tiny SDXL with its UNet nudged, as a fine-tune differs from its base."""
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(
        model_set(tiny_model_dir, "tiny").sdxl_base, variant="fp16", local_files_only=True
    )
    with torch.no_grad():
        pipe.unet.conv_in.weight.add_(0.25)
    return pipe


@pytest.mark.parametrize("form", FORMS)
def test_a_fine_tune_folder_loads_in_every_published_form(
    form, fine_tuned_pipe, engine, tiny_model_dir, tmp_path: Path
):
    from gpu_worker.pipeline.instantid import load_base_pipeline

    folder = tmp_path / "fine-tune"
    fine_tuned_pipe.save_pretrained(folder, **FORMS[form])
    unet_files = sorted(path.name for path in (folder / "unet").iterdir())
    if "sharded" in form:
        assert any("-00001-of-" in name for name in unet_files), unet_files
    if "bin" in form:
        assert not any(name.endswith(".safetensors") for name in unet_files), unet_files

    pipe = load_base_pipeline(
        folder,
        config_dir=model_set(tiny_model_dir, "tiny").sdxl_base,
        controlnet=engine.generator.pipe.controlnet,
        dtype=torch.float32,
    )

    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        expected = getattr(fine_tuned_pipe, name).state_dict()
        loaded = getattr(pipe, name).state_dict()
        assert expected.keys() == loaded.keys(), name
        assert all(torch.equal(expected[key].float(), loaded[key]) for key in expected), name
    assert not torch.equal(pipe.unet.conv_in.weight, engine.generator.pipe.unet.conv_in.weight)


def test_the_worker_command_takes_the_fine_tune_compile_and_hash_check(
    tmp_path, settings, monkeypatch
):
    """--base-checkpoint, --compile and --verify-weights reach the engine; without them,
    HEADSHOT_BASE_CHECKPOINT and HEADSHOT_COMPILE do."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from gpu_worker.pipeline.engine import HeadshotEngine
    from gpu_worker.weights.layout import ModelsMissing

    asked: list[dict] = []

    def load(**kwargs):
        asked.append(kwargs)
        raise ModelsMissing("stop here")

    monkeypatch.setattr(HeadshotEngine, "load", staticmethod(load))
    settings.HEADSHOT_WORKER_LOCK_DIR = tmp_path / "locks"
    fine_tune = tmp_path / "fine-tune.safetensors"
    fine_tune.write_bytes(b"")
    from_settings = tmp_path / "from-settings"
    from_settings.mkdir()

    def stops_with_missing_weights(*args) -> None:
        # Missing weights: a box on stderr and exit status 2 (see test_weights).
        stderr = io.StringIO()
        with pytest.raises(SystemExit) as stopped:
            call_command("gpu_worker", "--device", "cpu", *args, stderr=stderr)
        assert stopped.value.code == 2
        box_text = " ".join(line.strip("|+- ") for line in stderr.getvalue().splitlines())
        assert "model weights are missing from" in box_text

    stops_with_missing_weights("--base-checkpoint", str(fine_tune), "--compile", "--verify-weights")
    settings.HEADSHOT_BASE_CHECKPOINT = from_settings
    settings.HEADSHOT_COMPILE = True
    stops_with_missing_weights()
    settings.HEADSHOT_COMPILE = False
    stops_with_missing_weights()
    # A mistyped path stays a one-line CommandError, before any model is loaded.
    with pytest.raises(CommandError, match="no such file or folder"):
        call_command("gpu_worker", "--device", "cpu", "--base-checkpoint", str(tmp_path / "nope"))

    assert [(a["base_checkpoint"], a["use_torch_compile"], a["verify_weights"]) for a in asked] == [
        (fine_tune, True, True),
        (from_settings, True, False),
        (from_settings, False, False),
    ]


def test_cuda_n_is_made_the_current_device(monkeypatch):
    from gpu_worker.pipeline import device as device_module

    chosen: list[torch.device] = []
    monkeypatch.setattr(device_module.torch.cuda, "set_device", chosen.append)

    assert device_module.select_device("cuda:1") == torch.device("cuda", 1)
    assert device_module.select_device("cpu") == torch.device("cpu")
    assert chosen == [torch.device("cuda", 1)]

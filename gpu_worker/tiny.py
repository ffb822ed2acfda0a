"""Build the TINY model set: the real set's layout and formats, shrunk to run offline on a CPU.

Every file the real set has, the tiny set has too, in the same format, read by the same
loading code (see ``gpu_worker.weights.layout``): an SDXL-shaped diffusers folder (two CLIP
text encoders with BPE tokenizers, a text-time UNet, a VAE, Euler scheduler), an
IdentityNet ControlNet made the way InstantID's was (from the UNet), an ``ip-adapter.bin``
with InstantID's key layout, the five antelopev2 ONNX files with insightface's signatures,
and an RRDBNet ``.pth`` in Real-ESRGAN's key layout.

Weights are random but seeded, so every build is identical. The tiny face detector is not
random: it is a hand-built ONNX graph that scores skin-coloured blobs surrounded by
non-skin (a face-sized centre-surround test on a soft skin mask), so it finds a real
face photo and finds nothing in noise or a blank frame.

    python -m gpu_worker.tiny [MODEL_DIR]     # default: $HEADSHOT_MODEL_DIR or var/models
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from diffusers import AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, UNet2DConditionModel
from onnx import TensorProto, helper, numpy_helper
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from gpu_worker.pipeline.instantid import (
    FACE_EMBEDDING_DIM,
    FACE_TOKENS,
    Resampler,
    cross_attention_layers,
)
from gpu_worker.weights.layout import ModelSet, model_set

# Bump when the builder's output changes: sets built by an older version are rebuilt.
TINY_VERSION = "1"
MARKER = ".tiny-complete"
SEED = 20261126

TEXT_ENCODER = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}
# Hidden sizes must differ: diffusers' single-file loader tells the encoders apart by width.
TEXT_ENCODER_2 = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "projection_dim": 64,
}
ADDITION_TIME_EMBED_DIM = 8
UNET = {
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "attention_head_dim": (2, 4),
    "transformer_layers_per_block": (1, 1),
    "cross_attention_dim": TEXT_ENCODER["hidden_size"] + TEXT_ENCODER_2["hidden_size"],
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": ADDITION_TIME_EMBED_DIM,
    "projection_class_embeddings_input_dim": 6 * ADDITION_TIME_EMBED_DIM
    + TEXT_ENCODER_2["projection_dim"],
    "use_linear_projection": True,
}
VAE = {
    "block_out_channels": (32, 64),
    "down_block_types": ("DownEncoderBlock2D", "DownEncoderBlock2D"),
    "up_block_types": ("UpDecoderBlock2D", "UpDecoderBlock2D"),
    "latent_channels": 4,
    "layers_per_block": 1,
    "sample_size": 64,
    "scaling_factor": 0.13025,
}
# IdentityNet's condition embedding must downsample by the VAE's factor (2 here, 8 in SDXL).
CONTROLNET_CONDITIONING_CHANNELS = (16, 32)
RESAMPLER = {
    "dim": 128,
    "depth": 2,
    "heads": 2,
    "num_queries": FACE_TOKENS,
    "embedding_dim": FACE_EMBEDDING_DIM,
    "ff_mult": 4,
}
# spandrel reads the growth width as 32 whatever the file says, as Real-ESRGAN has it.
RRDB = {"num_feat": 8, "num_block": 1, "num_grow_ch": 32}
SDXL_SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "interpolation_type": "linear",
    "timestep_spacing": "leading",
    "steps_offset": 1,
    "use_karras_sigmas": False,
}


def tiny_unet() -> UNet2DConditionModel:
    torch.manual_seed(SEED)
    return UNet2DConditionModel(**UNET)


def tiny_controlnet(unet: UNet2DConditionModel) -> ControlNetModel:
    controlnet = ControlNetModel.from_unet(
        unet, conditioning_embedding_out_channels=CONTROLNET_CONDITIONING_CHANNELS
    )
    # ControlNet's output convolutions start at zero; a tiny IdentityNet that did nothing
    # would not exercise the conditioning path, so give them small random weights.
    generator = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, parameter in controlnet.named_parameters():
            if name.startswith(
                (
                    "controlnet_down_blocks",
                    "controlnet_mid_block",
                    "controlnet_cond_embedding.conv_out",
                )
            ):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return controlnet


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(SEED + 2)
    return AutoencoderKL(**VAE)


# --- SDXL base folder ---------------------------------------------------------------------


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for raw bytes (GPT-2/CLIP convention)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols = {byte: chr(byte) for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in symbols:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[byte] for byte in range(256)]


def write_tokenizer(directory: Path, *, pad_token: str) -> int:
    """A CLIP BPE tokenizer that spells every word out byte by byte; returns the vocab size."""
    directory.mkdir(parents=True)
    symbols = _byte_symbols()
    tokens = [
        *symbols,
        *(symbol + "</w>" for symbol in symbols),
        "<|startoftext|>",
        "<|endoftext|>",
    ]
    (directory / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
    }
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "do_lower_case": True,
        **special,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return len(tokens)


def _text_config(vocab_size: int, **shape: int) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=vocab_size,
        max_position_embeddings=77,
        hidden_act="gelu",
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
        **shape,
    )


def build_sdxl_base(directory: Path) -> UNet2DConditionModel:
    vocab_size = write_tokenizer(directory / "tokenizer", pad_token="<|endoftext|>")
    write_tokenizer(directory / "tokenizer_2", pad_token="!")
    torch.manual_seed(SEED + 3)
    CLIPTextModel(_text_config(vocab_size, **TEXT_ENCODER)).half().save_pretrained(
        directory / "text_encoder", variant="fp16"
    )
    CLIPTextModelWithProjection(_text_config(vocab_size, **TEXT_ENCODER_2)).half().save_pretrained(
        directory / "text_encoder_2", variant="fp16"
    )
    unet = tiny_unet()
    unet.half().save_pretrained(directory / "unet", variant="fp16")
    tiny_vae().half().save_pretrained(directory / "vae", variant="fp16")
    EulerDiscreteScheduler(**SDXL_SCHEDULER).save_pretrained(directory / "scheduler")
    index = {
        "_class_name": "StableDiffusionXLPipeline",
        "force_zeros_for_empty_prompt": True,
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (directory / "model_index.json").write_text(json.dumps(index, indent=2))
    return unet.float()


# --- InstantID: IdentityNet and ip-adapter.bin --------------------------------------------


def face_adapter_layers(unet: UNet2DConditionModel) -> dict[str, torch.Tensor]:
    """``ip_adapter`` weights for this UNet, keyed as InstantID's checkpoint keys them."""
    layers = {}
    for index, _, attn in cross_attention_layers(unet):
        # IP-Adapter training starts the face projections from the text ones; so does this.
        layers[f"{index}.to_k_ip.weight"] = attn.to_k.weight.detach().clone()
        layers[f"{index}.to_v_ip.weight"] = attn.to_v.weight.detach().clone()
    return layers


def ip_adapter_state(unet: UNet2DConditionModel) -> dict[str, dict[str, torch.Tensor]]:
    """InstantID's checkpoint layout, for this UNet's cross-attention layers."""
    torch.manual_seed(SEED + 4)
    resampler = Resampler(**RESAMPLER, output_dim=unet.config.cross_attention_dim)
    return {"image_proj": resampler.state_dict(), "ip_adapter": face_adapter_layers(unet)}


def build_instantid(directory: Path, unet: UNet2DConditionModel) -> None:
    tiny_controlnet(unet).half().save_pretrained(directory / "ControlNetModel")
    torch.save(ip_adapter_state(unet), directory / "ip-adapter.bin")


# --- antelopev2: ONNX graphs with insightface's signatures ---------------------------------

DETECTOR_STRIDES = (8, 16, 32)
# Window (face box) side per stride, in detector-input pixels.
DETECTOR_WINDOWS = {8: 48, 16: 96, 32: 192}
# Five keypoints (eyes, nose, mouth corners) relative to the box centre, in box sides.
KEYPOINT_TEMPLATE = np.array(
    [[-0.18, -0.12], [0.18, -0.12], [0.0, 0.05], [-0.14, 0.22], [0.14, 0.22]], dtype=np.float32
)


class _Graph:
    """A small helper to write ONNX graphs as straight-line code."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, value: np.ndarray | float | list) -> str:
        name = f"const_{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def ints(self, value: list[int]) -> str:
        name = f"shape_{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=np.int64), name))
        return name

    def op(
        self, op_type: str, *inputs: str, outputs: int = 1, name: str | None = None, **attrs
    ) -> str | list[str]:
        self.count += 1
        results = [f"{op_type.lower()}_{self.count}_{i}" for i in range(outputs)]
        if name is not None and outputs == 1:
            results = [name]
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), results, name=f"{op_type.lower()}{self.count}", **attrs
            )
        )
        return results[0] if outputs == 1 else results

    def model(self, inputs: list, outputs: list) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "tiny", inputs, outputs, self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gpu_worker.tiny"
        )
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def _soft_step(
    g: _Graph, value: str, threshold: float, *, above: bool, sharpness: float = 40.0
) -> str:
    """sigmoid(±sharpness * (value - threshold)): a soft ``value > threshold`` (or ``<``)."""
    gain = sharpness if above else -sharpness
    return g.op(
        "Sigmoid", g.op("Add", g.op("Mul", value, g.const(gain)), g.const(-gain * threshold))
    )


def detector_model() -> onnx.ModelProto:
    """SCRFD's signature (input.1 -> scores, boxes, keypoints at strides 8/16/32, two anchors each)."""
    g = _Graph()
    # insightface feeds (pixel - 127.5) / 128 in RGB order; undo that to get [0, 1].
    pixels = g.op("Add", g.op("Mul", "input.1", g.const(128 / 255)), g.const(127.5 / 255))
    red, green, blue = g.op("Split", pixels, g.ints([1, 1, 1]), outputs=3, axis=1)
    red_minus_blue = g.op("Sub", red, blue)
    saturation = g.op("Div", red_minus_blue, g.op("Max", red, g.const(0.02)))
    hue = g.op("Div", g.op("Sub", green, blue), g.op("Max", red_minus_blue, g.const(0.02)))
    skin = _soft_step(g, saturation, 0.18, above=True)
    for value, threshold, above in (
        (saturation, 0.55, False),
        (hue, 0.25, True),
        (hue, 0.72, False),
        (red, 0.6, True),
    ):
        skin = g.op("Mul", skin, _soft_step(g, value, threshold, above=above))

    scores, boxes, keypoints = [], [], []
    for stride in DETECTOR_STRIDES:
        window = DETECTOR_WINDOWS[stride]
        # Windows centred on the anchor points (x * stride, y * stride), one per anchor cell.
        inner = g.op(
            "AveragePool",
            skin,
            kernel_shape=[window] * 2,
            strides=[stride] * 2,
            pads=[window // 2] * 2 + [window // 2 - stride] * 2,
            count_include_pad=1,
        )
        outer = g.op(
            "AveragePool",
            skin,
            kernel_shape=[2 * window] * 2,
            strides=[stride] * 2,
            pads=[window] * 2 + [window - stride] * 2,
            count_include_pad=1,
        )
        ring = g.op("Div", g.op("Sub", g.op("Mul", outer, g.const(4.0)), inner), g.const(3.0))
        # A face: skin inside the window, little skin in the ring around it.
        blob = g.op("Mul", inner, g.op("Sub", g.const(1.0), ring))
        score = g.op("Sigmoid", g.op("Mul", g.op("Sub", blob, g.const(0.5)), g.const(12.0)))
        # Keep local maxima only, so one blob gives one box per stride, not a carpet of them.
        neighbourhood = g.op(
            "MaxPool", score, kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2]
        )
        score = g.op(
            "Mul",
            score,
            g.op("Cast", g.op("GreaterOrEqual", score, neighbourhood), to=TensorProto.FLOAT),
        )
        per_cell = g.op("Reshape", score, g.ints([-1, 1]))
        per_anchor = g.op("Reshape", g.op("Concat", per_cell, per_cell, axis=1), g.ints([-1, 1]))
        zeros = g.op("Mul", per_anchor, g.const(0.0))
        half = window / 2 / stride  # box and keypoint outputs are in units of the stride
        scores.append(g.op("Identity", per_anchor, name=f"score_{stride}"))
        boxes.append(g.op("Add", zeros, g.const([[half] * 4]), name=f"bbox_{stride}"))
        offsets = (KEYPOINT_TEMPLATE * window / stride).reshape(1, 10)
        keypoints.append(g.op("Add", zeros, g.const(offsets), name=f"kps_{stride}"))

    image = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"anchors_{name}", width])
        for names, width in ((scores, 1), (boxes, 4), (keypoints, 10))
        for name in names
    ]
    return g.model([image], outputs)


def _pooled_head(
    size: int, outputs: int, pool: int, seed: int, *, batch: str | int
) -> onnx.ModelProto:
    """Average-pool the image, then one random linear layer: a fixed, deterministic feature."""
    g = _Graph()
    pooled = g.op("AveragePool", "input.1", kernel_shape=[pool, pool], strides=[pool, pool])
    flat = g.op("Flatten", pooled, axis=1)
    features = 3 * (size // pool) ** 2
    weight = np.random.default_rng(seed).standard_normal((outputs, features)).astype(np.float32)
    g.op(
        "Gemm",
        flat,
        g.const(weight / np.sqrt(features)),
        g.const(np.zeros(outputs)),
        transB=1,
        name="output",
    )
    image = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [batch, 3, size, size])
    return g.model(
        [image], [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, outputs])]
    )


def build_antelopev2(directory: Path) -> None:
    directory.mkdir(parents=True)
    models = {
        "scrfd_10g_bnkps.onnx": detector_model(),
        # ArcFace: 112x112 aligned crop -> 512-d identity embedding.
        "glintr100.onnx": _pooled_head(112, FACE_EMBEDDING_DIM, 8, SEED + 5, batch="batch"),
        "1k3d68.onnx": _pooled_head(192, 3309, 32, SEED + 6, batch=1),  # 68 3-d landmarks + pose
        "2d106det.onnx": _pooled_head(192, 212, 32, SEED + 7, batch=1),  # 106 2-d landmarks
        "genderage.onnx": _pooled_head(96, 3, 16, SEED + 8, batch=1),
    }
    for name, model in models.items():
        onnx.save(model, directory / name)


# --- Real-ESRGAN ------------------------------------------------------------------------


def rrdb_state_dict(
    *, num_feat: int, num_block: int, num_grow_ch: int, seed: int
) -> dict[str, torch.Tensor]:
    """An x4 RRDBNet in Real-ESRGAN's (new) key layout.

    The trunk starts as a pass-through (RGB in the first three feature channels, carried
    through every upsampling stage), so the network upsamples the picture recognisably;
    the dense blocks add small seeded random detail on top, which gives the network the
    spatial context that makes tiling and seams matter.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def conv(name: str, out_channels: int, in_channels: int, *, passthrough: bool = False) -> None:
        # Pass-through stages get only faint noise: four of them in a row would tint the colours.
        std = (0.02 if passthrough else 0.1) * (2 / (9 * in_channels)) ** 0.5
        weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator) * std
        if passthrough:
            for channel in range(min(3, out_channels, in_channels)):
                weight[channel, channel, 1, 1] += 1.0
        state[f"{name}.weight"] = weight
        state[f"{name}.bias"] = torch.zeros(out_channels)

    conv("conv_first", num_feat, 3, passthrough=True)
    for block in range(num_block):
        for rdb in (1, 2, 3):
            for layer in range(1, 6):
                out_channels = num_feat if layer == 5 else num_grow_ch
                conv(
                    f"body.{block}.rdb{rdb}.conv{layer}",
                    out_channels,
                    num_feat + (layer - 1) * num_grow_ch,
                )
    conv("conv_body", num_feat, num_feat)
    for name in ("conv_up1", "conv_up2", "conv_hr"):
        conv(name, num_feat, num_feat, passthrough=True)
    conv("conv_last", 3, num_feat, passthrough=True)
    return state


def build_realesrgan(path: Path) -> None:
    path.parent.mkdir(parents=True)
    torch.save({"params_ema": rrdb_state_dict(**RRDB, seed=SEED + 9)}, path)


# --- The set ----------------------------------------------------------------------------


def build_tiny_set(root: Path) -> None:
    """Write the whole tiny set under ``root`` (which must not exist yet)."""
    root.mkdir(parents=True)
    unet = build_sdxl_base(root / "sdxl-base")
    build_instantid(root / "instantid", unet)
    build_antelopev2(root / "insightface" / "models" / "antelopev2")
    build_realesrgan(root / "realesrgan" / "RealESRGAN_x4plus.pth")
    (root / MARKER).write_text(TINY_VERSION)


def _is_complete(models: ModelSet) -> bool:
    marker = models.root / MARKER
    return marker.is_file() and marker.read_text() == TINY_VERSION and not models.missing_files()


def ensure_tiny_set(model_dir: Path) -> ModelSet:
    """The tiny set under ``model_dir``, built first if it is missing or out of date."""
    models = model_set(model_dir, "tiny")
    if _is_complete(models):
        return models
    # Build beside the target and swap it in, so a half-built set is never seen as complete.
    staging = models.root.with_name(f".tiny-building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    build_tiny_set(staging)
    if models.root.exists() and not _is_complete(models):
        shutil.rmtree(models.root)
    try:
        staging.rename(models.root)
    except OSError:  # another process finished first
        shutil.rmtree(staging)
        if not _is_complete(models):
            raise
    return models


if __name__ == "__main__":
    default = os.environ.get("HEADSHOT_MODEL_DIR", "var/models")
    print(ensure_tiny_set(Path(sys.argv[1] if len(sys.argv) > 1 else default)).root)

"""Write a diffusers SDXL folder as one original-format (LDM) ``.safetensors`` checkpoint.

Fine-tuned SDXL models are mostly shared in that single-file form. The tests turn the tiny
base into one so that the engine's ``from_single_file`` path is exercised on real key
names: ``model.diffusion_model.*`` (UNet), ``first_stage_model.*`` (VAE),
``conditioner.embedders.0.transformer.*`` (CLIP ViT-L) and
``conditioner.embedders.1.model.*`` (OpenCLIP bigG, fused q/k/v).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

RESNET_RENAMES = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)
UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    (path,) = directory.glob("*.safetensors")
    return load_file(path)


def _resnet(rest: str) -> str:
    for new, old in RESNET_RENAMES:
        rest = rest.replace(new, old, 1) if rest.startswith(new) else rest
    return rest


def unet_to_ldm(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    per_block = config["layers_per_block"] + 1  # LDM counts the down/upsampler as a layer
    attention_up_blocks = {
        i for i, kind in enumerate(config["up_block_types"]) if kind.startswith("CrossAttn")
    }
    out = {}
    for key, value in state.items():
        module, _, param = key.rpartition(".")
        if module in UNET_TOP:
            out[f"{UNET_TOP[module]}.{param}"] = value
            continue
        if match := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
            index = 1 + block * per_block + layer
            new = (
                f"input_blocks.{index}.0.{_resnet(rest)}"
                if kind == "resnets"
                else f"input_blocks.{index}.1.{rest}"
            )
        elif match := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            new = f"input_blocks.{(int(match[1]) + 1) * per_block}.0.op.{match[2]}"
        elif match := re.match(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"middle_block.{2 * int(match[1])}.{_resnet(match[2])}"
        elif match := re.match(r"mid_block\.attentions\.0\.(.+)", key):
            new = f"middle_block.1.{match[1]}"
        elif match := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
            index = block * per_block + layer
            new = (
                f"output_blocks.{index}.0.{_resnet(rest)}"
                if kind == "resnets"
                else f"output_blocks.{index}.1.{rest}"
            )
        elif match := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            block = int(match[1])
            slot = 2 if block in attention_up_blocks else 1
            new = f"output_blocks.{block * per_block + per_block - 1}.{slot}.conv.{match[2]}"
        else:
            raise KeyError(f"no LDM name for UNet weight {key}")
        out[new] = value
    return {f"model.diffusion_model.{key}": value for key, value in out.items()}


def vae_to_ldm(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    blocks = len(config["up_block_types"])
    out = {}
    for key, value in state.items():
        new = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        new = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", new)
        new = re.sub(
            r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", new
        )
        new = re.sub(
            r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers\.0)\.",
            lambda m: (
                f"decoder.up.{blocks - 1 - int(m[1])}.{'block' if m[2] == 'resnets' else 'upsample'}."
            ),
            new,
        )
        new = re.sub(r"mid_block\.resnets\.(\d+)\.", lambda m: f"mid.block_{int(m[1]) + 1}.", new)
        if "mid_block.attentions.0." in new:
            new = new.replace("mid_block.attentions.0.", "mid.attn_1.")
            for diffusers_name, ldm_name in (
                ("group_norm", "norm"),
                ("to_q", "q"),
                ("to_k", "k"),
                ("to_v", "v"),
                ("to_out.0", "proj_out"),
            ):
                new = new.replace(f".{diffusers_name}.", f".{ldm_name}.")
            if value.ndim == 2:  # the original VAE's attention projections are 1x1 convolutions
                value = value[:, :, None, None]
        out[f"first_stage_model.{new}"] = value
    return out


def clip_to_ldm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    prefix = "conditioner.embedders.0.transformer."
    return {
        f"{prefix}text_model.{key.removeprefix('text_model.')}": value
        for key, value in state.items()
    }


def open_clip_to_ldm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    prefix = "conditioner.embedders.1.model."
    out = {
        "positional_embedding": state["text_model.embeddings.position_embedding.weight"],
        "token_embedding.weight": state["text_model.embeddings.token_embedding.weight"],
        "ln_final.weight": state["text_model.final_layer_norm.weight"],
        "ln_final.bias": state["text_model.final_layer_norm.bias"],
        "text_projection": state["text_projection.weight"].T.contiguous(),
    }
    layers = {
        int(m[1]) for key in state if (m := re.match(r"text_model\.encoder\.layers\.(\d+)\.", key))
    }
    for layer in sorted(layers):
        source, target = f"text_model.encoder.layers.{layer}.", f"transformer.resblocks.{layer}."
        for kind in ("weight", "bias"):
            out[f"{target}attn.in_proj_{kind}"] = torch.cat(
                [state[f"{source}self_attn.{p}_proj.{kind}"] for p in ("q", "k", "v")]
            )
            for diffusers_name, ldm_name in (
                ("self_attn.out_proj", "attn.out_proj"),
                ("layer_norm1", "ln_1"),
                ("layer_norm2", "ln_2"),
                ("mlp.fc1", "mlp.c_fc"),
                ("mlp.fc2", "mlp.c_proj"),
            ):
                out[f"{target}{ldm_name}.{kind}"] = state[f"{source}{diffusers_name}.{kind}"]
    return {prefix + key: value for key, value in out.items()}


def export_single_file(base: Path, destination: Path) -> Path:
    """Write ``base`` (a diffusers SDXL folder) as one LDM-format checkpoint."""
    checkpoint = {
        **unet_to_ldm(
            _weights(base / "unet"), json.loads((base / "unet" / "config.json").read_text())
        ),
        **vae_to_ldm(
            _weights(base / "vae"), json.loads((base / "vae" / "config.json").read_text())
        ),
        **clip_to_ldm(_weights(base / "text_encoder")),
        **open_clip_to_ldm(_weights(base / "text_encoder_2")),
    }
    save_file({key: value.contiguous() for key, value in checkpoint.items()}, destination)
    return destination

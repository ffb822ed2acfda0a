"""The real checkpoints' layouts, written out here from the published reference code,
never derived from this project's modules, so that a numbering or shape mistake in our
code cannot be copied into a fixture and pass unnoticed.

References, as published:
- InstantX/InstantID ``ip_adapter/resampler.py``: ``Resampler(dim=1280, depth=4,
  dim_head=64, heads=20, num_queries=16, embedding_dim=512, output_dim=2048, ff_mult=4)``,
  each layer ``[PerceiverAttention(norm1, norm2, to_q, to_kv, to_out), FeedForward =
  Sequential(LayerNorm, Linear(no bias), GELU, Linear(no bias))]``.
- InstantX/InstantID ``pipeline_stable_diffusion_xl_instantid.py`` ``set_ip_adapter``:
  one processor per ``unet.attn_processors`` entry, an ``IPAttnProcessor`` (``to_k_ip``
  and ``to_v_ip``, ``Linear(2048, hidden_size, bias=False)``) for each cross-attention
  ("attn2") entry, loaded with ``torch.nn.ModuleList(unet.attn_processors.values())
  .load_state_dict(state_dict["ip_adapter"])``: keys are positions among *all*
  processors; ``hidden_size`` is the block's channel count.
- stabilityai/stable-diffusion-xl-base-1.0 ``unet/config.json``, and InstantX's
  IdentityNet ``ControlNetModel/config.json`` (the same UNet config, with
  ``conditioning_embedding_out_channels`` [16, 32, 96, 256]).
- xinntao/Real-ESRGAN (BasicSR ``rrdbnet_arch.py``), ``RealESRGAN_x4plus.pth``:
  ``RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32,
  scale=4)`` under ``params_ema``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers")

import torch  # noqa: E402
from diffusers import ControlNetModel, UNet2DConditionModel  # noqa: E402

pytestmark = pytest.mark.gpu_stack

# stabilityai/stable-diffusion-xl-base-1.0 unet/config.json (the fields that set shapes).
SDXL_UNET_CONFIG = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": [320, 640, 1280],
    "layers_per_block": 2,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "attention_head_dim": [5, 10, 20],
    "transformer_layers_per_block": [1, 2, 10],
    "cross_attention_dim": 2048,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "use_linear_projection": True,
}
INSTANTID_CONTROLNET_CONFIG = {
    key: value
    for key, value in SDXL_UNET_CONFIG.items()
    if key not in {"sample_size", "out_channels", "up_block_types"}
} | {"conditioning_embedding_out_channels": [16, 32, 96, 256]}

# set_ip_adapter over SDXL's attention processors, in the UNet's module order: each
# transformer block has attn1 then attn2, so cross-attention sits at odd positions.
#   positions   blocks                                  hidden size
#   0-7         down_blocks.1: 2 attentions x 2 blocks   640
#   8-47        down_blocks.2: 2 attentions x 10 blocks  1280
#   48-107      up_blocks.0:   3 attentions x 10 blocks  1280
#   108-119     up_blocks.1:   3 attentions x 2 blocks   640
#   120-139     mid_block:     1 attention x 10 blocks   1280
IP_ADAPTER_HIDDEN_SIZES = (
    [(position, 640) for position in range(1, 8, 2)]
    + [(position, 1280) for position in range(9, 48, 2)]
    + [(position, 1280) for position in range(49, 108, 2)]
    + [(position, 640) for position in range(109, 120, 2)]
    + [(position, 1280) for position in range(121, 140, 2)]
)


def reference_ip_adapter_shapes() -> dict[str, tuple[int, ...]]:
    return {
        f"{position}.{name}": (hidden, 2048)
        for position, hidden in IP_ADAPTER_HIDDEN_SIZES
        for name in ("to_k_ip.weight", "to_v_ip.weight")
    }


def reference_resampler_shapes() -> dict[str, tuple[int, ...]]:
    dim, inner, ff = 1280, 20 * 64, 1280 * 4
    shapes = {
        "latents": (1, 16, dim),
        "proj_in.weight": (dim, 512),
        "proj_in.bias": (dim,),
        "proj_out.weight": (2048, dim),
        "proj_out.bias": (2048,),
        "norm_out.weight": (2048,),
        "norm_out.bias": (2048,),
    }
    for layer in range(4):
        attention, feed_forward = f"layers.{layer}.0", f"layers.{layer}.1"
        shapes |= {
            f"{attention}.norm1.weight": (dim,),
            f"{attention}.norm1.bias": (dim,),
            f"{attention}.norm2.weight": (dim,),
            f"{attention}.norm2.bias": (dim,),
            f"{attention}.to_q.weight": (inner, dim),
            f"{attention}.to_kv.weight": (2 * inner, dim),
            f"{attention}.to_out.weight": (dim, inner),
            f"{feed_forward}.0.weight": (dim,),
            f"{feed_forward}.0.bias": (dim,),
            f"{feed_forward}.1.weight": (ff, dim),
            f"{feed_forward}.3.weight": (dim, ff),
        }
    return shapes


def reference_rrdbnet_shapes() -> dict[str, tuple[int, ...]]:
    feat, grow = 64, 32
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, out_channels: int, in_channels: int) -> None:
        shapes[f"{name}.weight"] = (out_channels, in_channels, 3, 3)
        shapes[f"{name}.bias"] = (out_channels,)

    conv("conv_first", feat, 3)
    for block in range(23):
        for rdb in (1, 2, 3):
            conv(f"body.{block}.rdb{rdb}.conv1", grow, feat)
            conv(f"body.{block}.rdb{rdb}.conv2", grow, feat + grow)
            conv(f"body.{block}.rdb{rdb}.conv3", grow, feat + 2 * grow)
            conv(f"body.{block}.rdb{rdb}.conv4", grow, feat + 3 * grow)
            conv(f"body.{block}.rdb{rdb}.conv5", feat, feat + 4 * grow)
    conv("conv_body", feat, feat)
    conv("conv_up1", feat, feat)
    conv("conv_up2", feat, feat)
    conv("conv_hr", feat, feat)
    conv("conv_last", 3, feat)
    return shapes


def on_meta(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.fixture(scope="module")
def sdxl_unet() -> UNet2DConditionModel:
    with torch.device("meta"):
        return UNet2DConditionModel(**SDXL_UNET_CONFIG)


def test_the_real_ip_adapter_layout_loads_strictly_into_full_size_sdxl(sdxl_unet):
    from gpu_worker.pipeline.instantid import FaceAttnProcessor, install_face_adapter

    state = on_meta(reference_ip_adapter_shapes())
    assert len(state) == 140

    # Raises on a missing, extra or misshapen key.
    with torch.device("meta"):
        installed = install_face_adapter(sdxl_unet, state, scale=0.8)

    assert len(installed) == 70
    assert all(isinstance(processor, FaceAttnProcessor) for processor in installed)
    widths = [processor.to_k_ip.out_features for processor in installed]
    assert widths == [hidden for _, hidden in IP_ADAPTER_HIDDEN_SIZES]


def test_a_shifted_ip_adapter_numbering_is_refused(sdxl_unet):
    from gpu_worker.pipeline.instantid import install_face_adapter

    shifted = {
        f"{int(key.split('.')[0]) - 1}.{key.split('.', 1)[1]}": value
        for key, value in on_meta(reference_ip_adapter_shapes()).items()
    }
    with torch.device("meta"), pytest.raises(ValueError, match="does not fit this UNet"):
        install_face_adapter(sdxl_unet, shifted, scale=0.8)


def test_the_real_resampler_layout_loads_strictly():
    from gpu_worker.pipeline.instantid import Resampler

    with torch.device("meta"):
        resampler = Resampler.from_state_dict(on_meta(reference_resampler_shapes()))

    assert {k: tuple(v.shape) for k, v in resampler.state_dict().items()} == (
        reference_resampler_shapes()
    )
    assert resampler.layers[0][0].heads == 20


def test_the_identitynet_the_bench_builds_has_instantids_layout():
    from gpu_worker.bench import FULL, build_controlnet

    with torch.device("meta"):
        reference = ControlNetModel(**INSTANTID_CONTROLNET_CONFIG)
        ours = build_controlnet(UNet2DConditionModel(**SDXL_UNET_CONFIG), FULL)
    reference_state = reference.state_dict()

    ours.load_state_dict(reference_state, strict=True, assign=True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in reference_state.items()
    }
    # The parts that make it InstantID's IdentityNet and not a stock SDXL ControlNet.
    assert tuple(reference_state["controlnet_cond_embedding.conv_in.weight"].shape) == (16, 3, 3, 3)
    assert tuple(reference_state["controlnet_cond_embedding.conv_out.weight"].shape) == (
        320,
        256,
        3,
        3,
    )
    assert tuple(reference_state["add_embedding.linear_1.weight"].shape) == (1280, 2816)


def test_the_bench_builds_sdxl_with_the_published_unet_config():
    from gpu_worker.bench import FULL

    for key, value in SDXL_UNET_CONFIG.items():
        assert FULL.unet[key] == (tuple(value) if isinstance(value, list) else value), key


def test_the_real_esrgan_x4plus_layout_loads_strictly_as_a_4x_upscaler():
    from spandrel import ImageModelDescriptor, ModelLoader

    from gpu_worker import tiny

    shapes = reference_rrdbnet_shapes()
    state = {key: torch.zeros(shape) for key, shape in shapes.items()}

    model = ModelLoader().load_from_state_dict({"params_ema": state})

    assert isinstance(model, ImageModelDescriptor)
    assert model.scale == 4 and model.input_channels == 3 and model.output_channels == 3
    loaded = model.model.state_dict()
    assert len(loaded) == len(shapes)
    # And the builder behind the demo set and the bench writes exactly that layout.
    ours = tiny.rrdb_state_dict(num_feat=64, num_block=23, num_grow_ch=32, seed=0)
    assert {key: tuple(value.shape) for key, value in ours.items()} == shapes

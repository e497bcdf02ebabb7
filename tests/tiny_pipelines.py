"""Tiny random diffusers pipelines of every class the diffusion generator supports.

Each builder makes the real pipeline class from tiny configs (the shapes of diffusers' own
`get_dummy_components`), seeds its weights, and `save_pretrained`s it to a folder, so tests and
benchmarks load it through the same `from_pretrained` path users take. Nothing touches the hub:
the CLIP tokenizer is built from open_clip's bundled BPE vocabulary, the T5 tokenizer from a small
Unigram vocabulary written here.

    python tests/tiny_pipelines.py OUT_DIR     # writes OUT_DIR/<name>/ for every builder
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

CLIP_VOCAB_SIZE = 1000  # byte-level symbols + the first merges of open_clip's BPE + 2 specials
T5_VOCAB_SIZE = 128


@lru_cache(maxsize=1)
def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins for bytes that byte-level BPE (CLIP, GPT-2) uses."""
    keep = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = keep[:]
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]  # open_clip's order, so token ids match its tokenizer


def clip_tokenizer(vocab_size: int = CLIP_VOCAB_SIZE):
    """A CLIPTokenizer over the first merges of open_clip's bundled BPE vocabulary."""
    import open_clip
    from transformers import CLIPTokenizer

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(bpe.read_bytes()).decode("utf-8").split("\n")
    n_merges = vocab_size - 2 * 256 - 2
    merges = [tuple(line.split()) for line in lines[1 : 1 + n_merges]]
    symbols = _byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def t5_tokenizer():
    """A T5Tokenizer (Unigram) over letters, digits and a few common words."""
    from transformers import T5Tokenizer

    words = [
        "the",
        "a",
        "of",
        "and",
        "in",
        "on",
        "at",
        "with",
        "city",
        "night",
        "day",
        "dog",
        "street",
        "sea",
        "sky",
        "car",
        "man",
        "woman",
        "film",
        "style",
        "painting",
        "shot",
    ]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [("▁" + w, -3.0) for w in words]
    pieces += [(c, -5.0) for c in chars] + [("▁" + c, -6.0) for c in chars]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def _clip_text_encoder(vocab_size: int, eos_token_id: int):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    config = CLIPTextConfig(
        bos_token_id=vocab_size - 2,
        eos_token_id=eos_token_id,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        pad_token_id=eos_token_id,
        vocab_size=vocab_size,
        max_position_embeddings=77,
    )
    return CLIPTextModel(config)


def _sd_components() -> dict:
    """UNet, VAE, scheduler, CLIP text encoder and tokenizer of a tiny SD-1.5-shaped model."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="linear",
        clip_sample=False,
        steps_offset=1,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[8, 16, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=4,
        norm_num_groups=2,
        sample_size=64,
    )
    tokenizer = clip_tokenizer()
    text_encoder = _clip_text_encoder(len(tokenizer), tokenizer.eos_token_id)
    return {
        "unet": unet,
        "scheduler": scheduler,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
    }


def _motion_adapter():
    import torch
    from diffusers import MotionAdapter

    torch.manual_seed(0)
    return MotionAdapter(
        block_out_channels=(16, 32),
        motion_layers_per_block=1,
        motion_norm_num_groups=2,
        motion_num_attention_heads=4,
    )


def build_animatediff(folder: Path) -> Path:
    """AnimateDiffVideoToVideoPipeline: tiny SD UNet + motion adapter (saved as a component).

    The VAE downsamples by 4, so the native size is 16 × 4 = 64 px and 32 px runs on 8×8 latents.
    """
    from diffusers import AnimateDiffVideoToVideoPipeline

    pipe = AnimateDiffVideoToVideoPipeline(
        **_sd_components(),
        motion_adapter=_motion_adapter(),
        feature_extractor=None,
        image_encoder=None,
    )
    pipe.save_pretrained(folder)
    return folder


def build_sd15_and_adapter(folder: Path) -> Path:
    """A tiny StableDiffusionPipeline in folder/base and a MotionAdapter in folder/adapter.

    This is the shape of the default restyle model (an SD-1.5 base plus a motion adapter);
    the spec naming it is `folder/base+folder/adapter`.
    """
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        **_sd_components(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder / "base")
    _motion_adapter().save_pretrained(folder / "adapter")
    return folder


def build_svd(folder: Path) -> Path:
    """StableVideoDiffusionPipeline with a tiny spatio-temporal UNet and a 224-px CLIP vision tower.

    The vision tower takes 224×224 input (patch 32, so 49 patches) because the pipeline resizes
    PIL keyframes to 224 before encoding them, as it does for the real model.
    """
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 32),
        layers_per_block=1,
        sample_size=16,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=8,
        projection_class_embeddings_input_dim=96,
        addition_time_embed_dim=32,
        num_frames=14,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        trained_betas=None,
        use_karras_sigmas=True,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 32, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3,
        latent_channels=4,
        layers_per_block=1,
    )
    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=224,
            intermediate_size=37,
            patch_size=32,
        )
    )
    feature_extractor = CLIPImageProcessor(crop_size=224, size=224)
    pipe = StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=feature_extractor,
    )
    pipe.save_pretrained(folder)
    return folder


def build_ltx_condition(folder: Path) -> Path:
    """LTXConditionPipeline with a one-layer transformer, tiny causal video VAE and tiny T5."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    scheduler = FlowMatchEulerDiscreteScheduler()
    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=T5_VOCAB_SIZE,
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    pipe = LTXConditionPipeline(
        transformer=transformer,
        vae=vae,
        scheduler=scheduler,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
    )
    pipe.save_pretrained(folder)
    return folder


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "animatediff": build_animatediff,
    "sd15_adapter": build_sd15_and_adapter,
    "svd": build_svd,
    "ltx_condition": build_ltx_condition,
}


def build_all(root: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Build the named tiny pipelines (default: all) under root; return {name: folder}."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    for module in (dlog, tlog):  # no "Writing model shards" bars on stderr
        module.disable_progress_bar()
    root = Path(root)
    out = {}
    for name in names or list(BUILDERS):
        folder = root / name
        if not folder.exists():
            BUILDERS[name](folder)
        out[name] = folder
    return out


if __name__ == "__main__":
    for name, path in build_all(Path(sys.argv[1])).items():
        sys.stdout.write(f"{name}\t{path}\n")

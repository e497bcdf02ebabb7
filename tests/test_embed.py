"""rag_video.embed: tiny random open_clip models, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from rag_video import embed
from rag_video.embed import UnknownModel, load_encoder, model_dim

TINY = "RV-Tiny"
ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, **env: str) -> str:
    """Run `code` in a fresh interpreter (offline) and return its stdout."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _images(seed: int = 0) -> list[np.ndarray]:
    """Structured RGB frames of assorted sizes and aspects."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:90, 0:160]
    gradient = np.stack([xx * 255 // 159, yy * 255 // 89, np.full_like(xx, 128)], axis=-1).astype(
        np.uint8
    )
    checker = (((yy // 10 + xx // 10) % 2) * 255).astype(np.uint8)[..., None].repeat(3, axis=-1)
    return [
        gradient,
        checker,
        np.full((90, 160, 3), (200, 30, 30), dtype=np.uint8),
        rng.integers(0, 256, (90, 160, 3), dtype=np.uint8),
        rng.integers(0, 256, (300, 120, 3), dtype=np.uint8),  # portrait
        rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),  # exact model size
        rng.integers(0, 256, (17, 33, 3), dtype=np.uint8),  # smaller than the model input
    ]


@pytest.fixture(scope="module")
def tiny() -> embed.Encoder:
    return load_encoder(TINY, "none", device="cpu", precision="fp32")


def test_tiny_encoder_attributes(tiny: embed.Encoder) -> None:
    assert tiny.model_id == "RV-Tiny/none"
    assert tiny.dim == 32
    assert tiny.device == "cpu"
    assert tiny.image_size == 64
    assert tiny.precision == "fp32"


def test_encode_images_shapes_and_unit_norm(tiny: embed.Encoder) -> None:
    vectors = tiny.encode_images(_images())
    assert vectors.shape == (7, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert tiny.encode_images([]).shape == (0, 32)


def test_identical_images_cosine_one_and_different_images_lower(tiny: embed.Encoder) -> None:
    images = _images()
    vectors = tiny.encode_images([images[0], images[0].copy(), images[1], images[2]])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-6)
    assert float(vectors[0] @ vectors[2]) < 0.999
    assert float(vectors[0] @ vectors[3]) < 0.999
    assert float(vectors[2] @ vectors[3]) < 0.999


def test_batches_match_one_by_one(tiny: embed.Encoder) -> None:
    images = _images()
    together = tiny.encode_images(images, batch_size=3)
    alone = np.concatenate([tiny.encode_images([image]) for image in images])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_bad_image_names_the_index(tiny: embed.Encoder) -> None:
    with pytest.raises(ValueError, match=r"images\[1\].*shape=\(8, 8\)"):
        tiny.encode_images([_images()[0], np.zeros((8, 8), dtype=np.uint8)])


def test_preprocess_exact_size_is_only_normalisation(tiny: embed.Encoder) -> None:
    image = _images()[5]
    pixels = tiny.preprocess([image]).numpy()[0]
    mean = np.array(tiny.preprocess.mean)[:, None, None]
    std = np.array(tiny.preprocess.std)[:, None, None]
    expected = (image.transpose(2, 0, 1) / 255.0 - mean) / std
    np.testing.assert_allclose(pixels, expected, atol=1e-5)


def test_preprocess_center_crops_the_long_side(tiny: embed.Encoder) -> None:
    # 128x64 portrait: the short side already fits, so the model sees rows 32..95 unchanged.
    image = np.zeros((128, 64, 3), dtype=np.uint8)
    image[:, :, 0] = np.arange(128, dtype=np.uint8)[:, None]
    pixels = tiny.preprocess([image]).numpy()[0]
    red = pixels[0] * tiny.preprocess.std[0] + tiny.preprocess.mean[0]
    np.testing.assert_allclose(red[:, 0] * 255.0, np.arange(32, 96), atol=1e-3)


@pytest.mark.parametrize("mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("shape", [(180, 320), (300, 120)])
def test_preprocess_matches_open_clip_pil_transform(mode: str, shape: tuple[int, int]) -> None:
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from PIL import Image

    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    image = np.stack(
        [xx * 255 // xx.max(), yy * 255 // yy.max(), (xx * yy) // 250 % 256], axis=-1
    ).astype(np.uint8)
    cfg = PreprocessCfg(size=64, resize_mode=mode)
    reference = image_transform_v2(cfg, is_train=False)(Image.fromarray(image)).numpy()
    ours = embed.Preprocessor({"size": 64, "resize_mode": mode})([image]).numpy()[0]
    assert ours.shape == reference.shape == (3, 64, 64)
    assert (
        float(np.abs(ours - reference).mean()) < 0.01
    )  # about one grey level (PIL vs torch bicubic)
    assert float(np.abs(ours - reference).max()) < 0.1


def test_encode_text(tiny: embed.Encoder) -> None:
    vectors = tiny.encode_text(["a dog on a beach", "a dog on a beach", "city traffic at night"])
    assert vectors.shape == (3, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert float(vectors[0] @ vectors[2]) < 0.999
    with pytest.raises(ValueError, match="single string"):
        tiny.encode_text("a dog")


def test_random_weights_identical_across_processes(tiny: embed.Encoder) -> None:
    here = tiny.encode_images(_images()[:3])
    out = _run(
        """
        import sys, numpy as np
        sys.path.insert(0, "tests")
        from test_embed import _images
        from rag_video.embed import load_encoder
        enc = load_encoder("RV-Tiny", None, device="cpu", precision="fp32")
        print(enc.encode_images(_images()[:3]).tobytes().hex())
        """
    )
    assert bytes.fromhex(out.strip()) == here.tobytes()


def test_random_weights_do_not_touch_the_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_encoder(TINY, "none", device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_bf16_close_to_fp32(tiny: embed.Encoder) -> None:
    bf16 = load_encoder(TINY, "none", device="cpu", precision="bf16")
    assert bf16.precision == "bf16"
    assert bf16.model.visual.transformer.resblocks[0].mlp.c_fc.weight.dtype == torch.bfloat16
    assert bf16.model.visual.ln_pre.weight.dtype == torch.float32  # open_clip mixed precision
    images = _images()
    cosines = np.sum(bf16.encode_images(images) * tiny.encode_images(images), axis=1)
    assert cosines.min() >= 0.99
    assert bf16.encode_images(images).dtype == np.float32
    text = ["a red car", "waves on a beach"]
    assert np.sum(bf16.encode_text(text) * tiny.encode_text(text), axis=1).min() >= 0.99


def test_auto_precision_on_cpu_follows_bf16_support() -> None:
    enc = load_encoder(TINY, "none", device="cpu", precision="auto")
    assert enc.precision == ("bf16" if embed.cpu_supports_bf16() else "fp32")


def test_unknown_model_names_the_value() -> None:
    with pytest.raises(UnknownModel, match="'ViT-Nope-99'") as info:
        load_encoder("ViT-Nope-99", "none")
    assert isinstance(info.value, ValueError)


def test_unknown_pretrained_tag_names_the_value() -> None:
    with pytest.raises(ValueError, match="pretrained='no_such_tag'.*laion2b_s34b_b79k"):
        load_encoder("ViT-B-32", "no_such_tag")


def test_bad_precision_names_the_value() -> None:
    with pytest.raises(ValueError, match="precision='fp8'"):
        load_encoder(TINY, "none", precision="fp8")


def test_bad_device_names_the_value() -> None:
    with pytest.raises(UnknownModel, match="device='nope'") as info:
        load_encoder(TINY, "none", device="nope")
    assert isinstance(info.value, ValueError)


def test_resolve_device_auto_checked_and_unchecked() -> None:
    from rag_video.devices import UnknownDevice, resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None) == resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("nope", check=False) == "nope"  # the diffusion loader's pass-through
    with pytest.raises(UnknownDevice, match="device='nope' is not a torch device"):
        resolve_device("nope")
    if not torch.cuda.is_available():
        with pytest.raises(UnknownDevice, match="CUDA is not available"):
            resolve_device("cuda")
        assert resolve_device("cuda", check=False) == "cuda"


def test_local_checkpoint_path(tmp_path: Path, tiny: embed.Encoder) -> None:
    checkpoint = tmp_path / "rv_tiny.pt"
    torch.save(tiny.model.state_dict(), checkpoint)
    loaded = load_encoder(TINY, str(checkpoint), device="cpu", precision="fp32")
    assert loaded.model_id == f"RV-Tiny/{checkpoint}"
    images = _images()[:2]
    np.testing.assert_array_equal(loaded.encode_images(images), tiny.encode_images(images))


TEXTS = ["a dog on a beach", "city traffic at night, neon signs and rain", "x"]


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_text_tower_alone_from_a_checkpoint(tmp_path: Path, tiny: embed.Encoder, suffix) -> None:
    checkpoint = tmp_path / f"rv_tiny{suffix}"
    state = {k: v.contiguous() for k, v in tiny.model.state_dict().items()}
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(checkpoint))
    else:
        torch.save(state, checkpoint)
    text = load_encoder(TINY, str(checkpoint), device="cpu", precision="auto", towers=["text"])
    assert text.towers == ("text",) and text.precision == "fp32"  # small batches: fp32 on CPU
    assert text.model_id == f"RV-Tiny/{checkpoint}" and text.dim == tiny.dim
    assert not any(k.startswith("visual.") for k in text.model.state_dict())
    np.testing.assert_allclose(text.encode_text(TEXTS), tiny.encode_text(TEXTS), atol=1e-6)
    with pytest.raises(ValueError, match="without its image tower"):
        text.encode_images(_images()[:1])
    both = load_encoder(TINY, str(checkpoint), device="cpu", precision="fp32")
    assert both.towers == ("image", "text")
    np.testing.assert_array_equal(
        both.encode_images(_images()[:2]), tiny.encode_images(_images()[:2])
    )


def test_text_tower_of_random_weights_loads_whole(tiny: embed.Encoder) -> None:
    """Random weights depend on the vision tower's initialisation first: built whole, same text
    vectors as the full encoder."""
    text = load_encoder(TINY, "none", device="cpu", precision="fp32", towers=("text",))
    assert text.towers == ("image", "text")
    np.testing.assert_array_equal(text.encode_text(TEXTS), tiny.encode_text(TEXTS))


def test_text_encoding_skips_padding_matches_open_clip(tiny: embed.Encoder) -> None:
    """Encoding only up to the longest text's end token matches open_clip's full-context run."""
    tokens = tiny.tokenizer(TEXTS)
    with torch.inference_mode():
        full = torch.nn.functional.normalize(tiny.model.encode_text(tokens), dim=-1).numpy()
    np.testing.assert_allclose(tiny.encode_text(TEXTS), full, atol=1e-6)


def test_auto_on_cpu_encodes_texts_in_fp32_whatever_the_towers(tiny: embed.Encoder) -> None:
    """A bf16 encoder (auto on a bf16 CPU) hands texts to an fp32 twin: every encoder of a
    library gives a query the same vector."""
    both = load_encoder(TINY, "none", device="cpu", precision="auto")
    text = load_encoder(TINY, "none", device="cpu", precision="auto", towers=("text",))
    assert text.precision == "fp32"
    np.testing.assert_allclose(both.encode_text(TEXTS), tiny.encode_text(TEXTS), atol=1e-6)
    np.testing.assert_allclose(text.encode_text(TEXTS), tiny.encode_text(TEXTS), atol=1e-6)


def test_bad_towers_name_the_value() -> None:
    with pytest.raises(ValueError, match="towers=\\('audio',\\)"):
        load_encoder(TINY, "none", towers=("audio",))


def test_missing_weights_offline_raise_encoder_unavailable(tmp_path: Path) -> None:
    # A fresh, empty HF cache and HF_HUB_OFFLINE=1: nothing can be downloaded.
    out = _run(
        """
        import json
        from rag_video.embed import EncoderUnavailable, load_encoder
        asked = [("ViT-B-32", "laion2b_s34b_b79k"), ("hf-hub:timm/nope-clip", "x")]
        for model, pretrained in asked:
            try:
                load_encoder(model, pretrained, device="cpu")
            except EncoderUnavailable as exc:
                print(json.dumps(str(exc)))
        """,
        HF_HOME=str(tmp_path / "hf"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    messages = [json.loads(line) for line in out.splitlines()]
    assert len(messages) == 2
    assert "ViT-B-32/laion2b_s34b_b79k" in messages[0]
    assert "--pretrained" in messages[0] and "network" in messages[0]
    assert "hf-hub:timm/nope-clip" in messages[1]
    assert all("\n" not in m for m in messages)
    assert not list((tmp_path / "hf").rglob("*.bin")) and not list(
        (tmp_path / "hf").rglob("*.safetensors")
    )


def test_model_dim_reads_json_without_importing_torch() -> None:
    out = _run(
        """
        import json, sys
        from rag_video.embed import model_dim
        dims = [model_dim("ViT-B-32"), model_dim("RV-Tiny"), model_dim("ViT-L-14"),
                model_dim("hf-hub:laion/x"), model_dim("nope")]
        loaded = {name: name in sys.modules for name in ("torch", "open_clip")}
        print(json.dumps({"dims": dims, **loaded}))
        """
    )
    result = json.loads(out)
    assert result == {"dims": [512, 32, 768, None, None], "torch": False, "open_clip": False}
    assert model_dim("ViT-B-32") == 512


def test_list_models_includes_ours_and_open_clips() -> None:
    names = embed.list_models()
    assert TINY in names
    assert "ViT-B-32" in names


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_autocast_fp16(tiny: embed.Encoder) -> None:
    gpu = load_encoder(TINY, "none")
    assert gpu.device == "cuda"
    assert gpu.precision == "fp16"
    images = _images()
    vectors = gpu.encode_images(images)
    assert vectors.dtype == np.float32
    assert np.sum(vectors * tiny.encode_images(images), axis=1).min() >= 0.99


def test_encoder_config_round_trips_through_schema_metadata(tiny, caplog):
    from rag_video.embed.config import METADATA_KEY, EncoderConfig

    config = EncoderConfig.from_encoder(tiny)
    assert config.model_id == tiny.model_id and config.dim == tiny.dim
    assert config.image_size == tiny.preprocess.size and config.mean == tiny.preprocess.mean
    as_lance = {k.encode(): v.encode() for k, v in config.to_metadata().items()}  # bytes, as read
    assert EncoderConfig.from_metadata(as_lance) == config
    assert EncoderConfig.from_metadata(None) is None
    assert EncoderConfig.from_metadata({b"other": b"x"}) is None
    assert EncoderConfig.from_metadata({METADATA_KEY: "not json"}) is None
    assert "unreadable encoder config" in caplog.text


@pytest.mark.parametrize(
    ("model_id", "parts"),
    [
        ("ViT-B-32/laion2b_s34b_b79k", ("ViT-B-32", "laion2b_s34b_b79k")),
        ("hf-hub:org/repo/default", ("hf-hub:org/repo", "default")),
        ("local-dir:/a/b/none", ("local-dir:/a/b", "none")),
        ("RV-Tiny", ("RV-Tiny", "none")),
    ],
)
def test_model_ids_split_back_into_model_and_weights(model_id, parts):
    from rag_video.embed.config import EncoderConfig
    from rag_video.embed.config import model_id as make_id

    config = EncoderConfig.from_model_id(model_id, dim=8)
    assert (config.model, config.pretrained) == parts and config.image_size is None
    assert make_id(*parts) == (model_id if "/" in model_id else f"{model_id}/none")

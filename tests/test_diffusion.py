"""Diffusion restyle and fill through the generator seam, on tiny random pipelines.

Every supported pipeline class is built from tiny configs (tests/tiny_pipelines.py), saved with
`save_pretrained`, and loaded back through `load_pipeline` / `DiffusionGenerator` exactly as a
user's folder would be. Runs are 1–4 steps at 32 px on CPU, offline (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from generator_contract import GeneratorContract

from rag_video.generate.adapters import (
    UnsupportedModel,
    effective_strength,
    load_pipeline,
    supported_pipelines,
)
from rag_video.generate.base import FillContext, GenerationError, ModelUnavailable
from rag_video.generate.diffusion import (
    DEFAULT_FILL_MODEL,
    DEFAULT_RESTYLE_MODEL,
    DiffusionGenerator,
    strength_from_score,
)
from rag_video.generate.windows import (
    blend_windows,
    native_gen_size,
    plan_windows,
    resample_index,
    resize_frames,
)

SIZE = (40, 30)  # requested output (width, height): differs from the 32×32 generation size
GEN = (32, 32)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run faster and steadier on one thread on a shared 2-core machine; restored
    after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny(tiny_pipelines_root) -> dict[str, str]:
    """Folders of every tiny pipeline, built once per test session."""
    import tiny_pipelines

    root = tiny_pipelines_root
    folders = {name: str(path) for name, path in tiny_pipelines.build_all(root).items()}
    folders["sd15_base"] = str(Path(folders["sd15_adapter"]) / "base")
    folders["motion_adapter"] = str(Path(folders["sd15_adapter"]) / "adapter")
    return folders


def clip(n: int, size=(64, 48), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]


class Recorder:
    """Wraps a pipeline class's __call__ (monkeypatched) and a forward hook on its denoiser."""

    def __init__(self, monkeypatch, pipe):
        self.calls: list[dict] = []
        self.outputs: list[np.ndarray] = []
        self.denoiser_calls = 0
        original = type(pipe).__call__

        def wrapped(this, *args, **kwargs):
            self.calls.append(kwargs)
            out = original(this, *args, **kwargs)
            self.outputs.append(np.asarray(out.frames)[0])
            return out

        monkeypatch.setattr(type(pipe), "__call__", wrapped)
        denoiser = getattr(pipe, "unet", None) or pipe.transformer
        denoiser.register_forward_hook(self._count)

    def _count(self, *args) -> None:
        self.denoiser_calls += 1


def recorded(monkeypatch, gen: DiffusionGenerator, role: str) -> Recorder:
    """Record every pipeline call of a generator's role (its pipe is private to the test)."""
    return Recorder(monkeypatch, gen.adapter(role).pipe)


def quantize(video: np.ndarray) -> np.ndarray:
    """A pipeline's float [0, 1] frames as the uint8 the adapters make of them."""
    return (np.clip(video, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def conform(frame: np.ndarray, size=SIZE) -> np.ndarray:
    return resize_frames(frame[None], size)[0]


# ---------------------------------------------------------------- pure helpers


def test_strength_from_score_is_linear_between_thresholds_and_clamped():
    assert strength_from_score(0.9, 0.9, 0.5) == pytest.approx(0.3)
    assert strength_from_score(0.5, 0.9, 0.5) == pytest.approx(0.8)
    assert strength_from_score(0.7, 0.9, 0.5) == pytest.approx(0.55)
    assert strength_from_score(0.99, 0.9, 0.5) == pytest.approx(0.3)
    assert strength_from_score(0.1, 0.9, 0.5, lo=0.2, hi=0.6) == pytest.approx(0.6)
    with pytest.raises(GenerationError, match="reuse_threshold=0.5"):
        strength_from_score(0.7, 0.5, 0.9)


def test_effective_strength_guarantees_one_denoiser_call():
    assert effective_strength(0.5, 4) == 0.5
    for steps in (3, 4, 49, 50):
        assert int(steps * effective_strength(0.01, steps)) == 1


def test_plan_windows_cover_the_shot_with_overlaps():
    assert plan_windows(8, 8, 2) == [(0, 8)]
    assert plan_windows(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]
    windows = plan_windows(37, 16, 4)
    assert windows[0][0] == 0 and windows[-1][1] == 37
    assert all(e - s == 16 for s, e in windows)
    assert all(b[0] < a[1] and a[1] - b[0] >= 4 for a, b in zip(windows, windows[1:], strict=False))


def test_blend_crossfades_linearly_over_the_overlap():
    a = np.zeros((5, 2, 2, 3), np.uint8)
    b = np.full((5, 2, 2, 3), 200, np.uint8)
    out = blend_windows([a, b], [(0, 5), (2, 7)], 7)
    assert out.shape == (7, 2, 2, 3)
    assert out[:, 0, 0, 0].tolist() == [0, 0, 50, 100, 150, 200, 200]


def test_resample_index_keeps_ends_and_spreads_evenly():
    assert resample_index(9, 7) == [0, 1, 3, 4, 5, 7, 8]
    assert resample_index(5, 9) == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert resample_index(1, 3) == [0, 0, 0]


def test_native_gen_size_keeps_pixel_count_at_the_requested_aspect():
    assert native_gen_size((512, 512), (1920, 1080), 8) == (680, 384)
    assert native_gen_size((768, 768), (1024, 576), 8) == (1024, 576)
    assert native_gen_size((704, 480), (1080, 1920), 32) == (448, 768)


def test_defaults_are_documented_and_roles_list_their_classes():
    assert DEFAULT_RESTYLE_MODEL.endswith("+guoyww/animatediff-motion-adapter-v1-5-2")
    assert DEFAULT_FILL_MODEL == "stabilityai/stable-video-diffusion-img2vid-xt"
    assert supported_pipelines("restyle") == [
        "AnimateDiffVideoToVideoPipeline",
        "LTXConditionPipeline",
    ]
    assert supported_pipelines("fill") == ["LTXConditionPipeline", "StableVideoDiffusionPipeline"]


# ---------------------------------------------------------------- loading


@pytest.mark.parametrize(
    "name,role,cls",
    [
        ("animatediff", "restyle", "AnimateDiffVideoToVideoPipeline"),
        ("ltx_condition", "restyle", "LTXConditionPipeline"),
        ("svd", "fill", "StableVideoDiffusionPipeline"),
        ("ltx_condition", "fill", "LTXConditionPipeline"),
    ],
)
def test_every_supported_class_loads_from_its_folder(tiny, name, role, cls):
    adapter = load_pipeline(tiny[name], role, device="cpu")
    assert adapter.pipeline_class == cls == type(adapter.pipe).__name__
    assert adapter.role == role and adapter.model == tiny[name]


def test_sd15_base_plus_motion_adapter_loads_as_animatediff(tiny):
    adapter = load_pipeline(
        f"{tiny['sd15_base']}+{tiny['motion_adapter']}", "restyle", device="cpu"
    )
    assert type(adapter.pipe).__name__ == "AnimateDiffVideoToVideoPipeline"
    assert type(adapter.pipe.motion_adapter).__name__ == "MotionAdapter"
    assert type(adapter.pipe.unet).__name__ == "UNetMotionModel"


def test_unsupported_class_is_one_line_listing_supported(tiny):
    with pytest.raises(UnsupportedModel) as err:
        load_pipeline(tiny["sd15_base"], "restyle", device="cpu")
    message = str(err.value)
    assert "\n" not in message
    assert "StableDiffusionPipeline" in message
    assert "AnimateDiffVideoToVideoPipeline, LTXConditionPipeline" in message
    with pytest.raises(
        UnsupportedModel,
        match="supported for fill: LTXConditionPipeline, StableVideoDiffusionPipeline",
    ):
        load_pipeline(tiny["animatediff"], "fill", device="cpu")


def test_missing_folder_and_offline_id_are_one_line_model_unavailable(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as err:
        load_pipeline(str(tmp_path / "nope"), "fill", device="cpu")
    assert str(err.value) == (
        f"model folder {tmp_path / 'nope'} does not exist: pass a folder saved "
        "with save_pretrained or a diffusers model id"
    )
    with pytest.raises(ModelUnavailable) as err:
        load_pipeline("rag-video-tests/no-such-model", "restyle", device="cpu")
    assert str(err.value) == (
        "model rag-video-tests/no-such-model is not available offline: run "
        "`hf download rag-video-tests/no-such-model` with network access, "
        "or pass a local folder"
    )
    with pytest.raises(
        ModelUnavailable, match="is a motion adapter: name the model BASE\\+ADAPTER"
    ):
        load_pipeline(tiny["motion_adapter"], "restyle", device="cpu")
    with pytest.raises(
        ModelUnavailable, match="model rag-video-tests/no-adapter is not available offline"
    ):
        load_pipeline(f"{tiny['sd15_base']}+rag-video-tests/no-adapter", "restyle", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="no model_index.json"):
        load_pipeline(str(tmp_path / "empty"), "fill", device="cpu")


def test_corrupt_weights_are_model_unavailable(tiny, tmp_path):
    import shutil

    broken = tmp_path / "svd"
    shutil.copytree(tiny["svd"], broken)
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelUnavailable, match=f"model folder {broken} cannot be loaded: ") as err:
        load_pipeline(str(broken), "fill", device="cpu")
    assert "\n" not in str(err.value)


def test_both_roles_share_one_pipeline_and_close_releases_it(tiny):
    gen = DiffusionGenerator(
        restyle_model=tiny["ltx_condition"], fill_model=tiny["ltx_condition"], device="cpu"
    )
    restyle, fill = gen.adapter("restyle"), gen.adapter("fill")
    assert restyle.pipe is fill.pipe and restyle is not fill
    assert gen.adapter("restyle") is restyle
    gen.close()
    assert gen.adapter("restyle").pipe is not restyle.pipe


# ---------------------------------------------------------------- restyle


@pytest.mark.parametrize(
    "name,latent_frames,generated",
    [
        ("animatediff", 7, 7),  # any frame count; no temporal compression
        ("ltx_condition", 3, 9),  # 4k+1 frames: 7 requested -> 9 generated -> resampled to 7
    ],
)
def test_restyle_counts_steps_and_conforms_frames(
    tiny, monkeypatch, name, latent_frames, generated
):
    gen = DiffusionGenerator(restyle_model=tiny[name], device="cpu", gen_size=GEN)
    rec = recorded(monkeypatch, gen, "restyle")
    source = clip(7)
    result = gen.restyle(source, "a dog on the street", "oil painting", 0.5, SIZE, 4, seed=3)

    assert len(result.frames) == 7
    assert all(f.shape == (30, 40, 3) and f.dtype == np.uint8 for f in result.frames)
    assert result.steps == 2 == rec.denoiser_calls  # strength 0.5 × 4 steps, counted
    assert len(rec.calls) == 1
    assert rec.outputs[0].shape == (generated, 32, 32, 3)
    assert (rec.calls[0]["width"], rec.calls[0]["height"]) == GEN
    assert rec.calls[0]["prompt"] == "a dog on the street, oil painting"
    assert result.generator == type(gen.adapter("restyle").pipe).__name__
    assert (result.model, result.strength, result.seed) == (tiny[name], 0.5, 3)
    assert result.latent_frames == latent_frames


def test_low_strength_still_runs_one_counted_step(tiny, monkeypatch):
    gen = DiffusionGenerator(restyle_model=tiny["ltx_condition"], device="cpu", gen_size=GEN)
    rec = recorded(monkeypatch, gen, "restyle")
    result = gen.restyle(clip(5), "a dog", None, 0.1, GEN, 4)
    assert result.steps == 1 == rec.denoiser_calls
    assert result.strength == pytest.approx(0.25, abs=1e-5)


def test_long_restyle_runs_overlapping_windows(tiny, monkeypatch):
    gen = DiffusionGenerator(
        restyle_model=tiny["animatediff"], device="cpu", gen_size=GEN, max_window=4
    )
    rec = recorded(monkeypatch, gen, "restyle")
    source = clip(10)
    result = gen.restyle(source, "a dog", None, 0.5, SIZE, 2, seed=0)

    assert len(rec.calls) == 3  # windows (0,4) (3,7) (6,10): overlap 1 frame each
    assert [len(c["video"]) for c in rec.calls] == [4, 4, 4]
    assert result.steps == 3 == rec.denoiser_calls and result.latent_frames == 4
    assert len(result.frames) == 10 and all(f.shape == (30, 40, 3) for f in result.frames)
    w0, w1 = quantize(rec.outputs[0]), quantize(rec.outputs[1])
    # frame 3 is shared by windows 0 and 1 (one-frame overlap): their even crossfade
    seam = ((w0[3].astype(np.float32) * 0.5 + w1[0].astype(np.float32) * 0.5) + 0.5).astype(
        np.uint8
    )
    assert np.array_equal(result.frames[3], conform(seam))
    assert not np.array_equal(w0[3], w1[0])
    # frame 4 lies in window 1 only: verbatim
    assert np.array_equal(result.frames[4], conform(w1[1]))


def test_default_gen_size_is_native_area_at_requested_aspect(tiny, monkeypatch):
    gen = DiffusionGenerator(restyle_model=tiny["animatediff"], device="cpu")
    rec = recorded(monkeypatch, gen, "restyle")
    assert gen.adapter("restyle").native_size == (64, 64)
    result = gen.restyle(clip(2), "a dog", None, 0.5, (48, 27), 2)
    assert (rec.calls[0]["width"], rec.calls[0]["height"]) == (88, 48)
    assert rec.outputs[0].shape == (2, 48, 88, 3)
    assert [f.shape for f in result.frames] == [(27, 48, 3)] * 2


def test_restyle_rejects_what_a_denoiser_cannot_do(tiny):
    gen = DiffusionGenerator(restyle_model=tiny["animatediff"], device="cpu")
    with pytest.raises(GenerationError, match="strength=0"):
        gen.restyle(clip(2), "x", None, 0.0, SIZE, 4)
    with pytest.raises(GenerationError, match="steps=0"):
        gen.restyle(clip(2), "x", None, 0.5, SIZE, 0)
    with pytest.raises(GenerationError, match="max_window=1"):
        DiffusionGenerator(max_window=1)


# ---------------------------------------------------------------- fill


@pytest.mark.parametrize("name,latent_frames", [("svd", 6), ("ltx_condition", 3)])
def test_fill_counts_steps_and_returns_exact_frames(tiny, monkeypatch, name, latent_frames):
    gen = DiffusionGenerator(fill_model=tiny[name], device="cpu", gen_size=GEN)
    rec = recorded(monkeypatch, gen, "fill")
    context = FillContext(
        reference=clip(1, seed=1)[0], first=clip(1, seed=2)[0], last=clip(1, seed=3)[0]
    )
    result = gen.fill(context, "a dog", 6, SIZE, 2, seed=5)

    assert len(result.frames) == 6
    assert all(f.shape == (30, 40, 3) and f.dtype == np.uint8 for f in result.frames)
    assert result.steps == 2 == rec.denoiser_calls
    assert len(rec.calls) == 1 and result.latent_frames == latent_frames
    assert result.generator == type(gen.adapter("fill").pipe).__name__
    assert (result.seed, result.strength) == (5, None)


def test_ltx_fill_bridges_first_and_last_frames_across_windows(tiny, monkeypatch):
    gen = DiffusionGenerator(
        fill_model=tiny["ltx_condition"], device="cpu", gen_size=GEN, max_window=5
    )
    rec = recorded(monkeypatch, gen, "fill")
    first, last = clip(1, seed=2)[0], clip(1, seed=3)[0]
    result = gen.fill(FillContext(first=first, last=last), "a dog", 12, SIZE, 1)

    assert len(rec.calls) == 3  # windows (0,5) (4,9) (7,12) of the 5-frame (4k+1) window
    assert [[c.frame_index for c in call["conditions"]] for call in rec.calls] == [[0], [0], [0, 4]]
    first_image = np.asarray(rec.calls[0]["conditions"][0].image)
    assert np.array_equal(first_image, np.asarray(_pil(first, GEN)))
    chained = np.asarray(
        rec.calls[1]["conditions"][0].image
    )  # window 1 starts at frame 4 of window 0
    assert np.array_equal(chained, quantize(rec.outputs[0][4]))
    assert np.array_equal(
        np.asarray(rec.calls[2]["conditions"][1].image), np.asarray(_pil(last, GEN))
    )
    assert result.steps == 3 == rec.denoiser_calls
    assert len(result.frames) == 12 and result.frames[0].shape == (30, 40, 3)


def _pil(frame, size):
    from rag_video.generate.adapters import to_pil

    return to_pil(frame, size)


def test_ltx_fill_without_context_generates_from_the_prompt(tiny, monkeypatch):
    gen = DiffusionGenerator(fill_model=tiny["ltx_condition"], device="cpu", gen_size=GEN)
    rec = recorded(monkeypatch, gen, "fill")
    result = gen.fill(FillContext(), "a dog", 3, GEN, 1)
    assert rec.calls[0]["conditions"] is None
    assert len(result.frames) == 3 and rec.outputs[0].shape[0] == 5  # 3 -> 5 (4k+1) -> 3


def test_svd_with_only_next_shot_frame_generates_backwards(tiny, monkeypatch):
    gen = DiffusionGenerator(fill_model=tiny["svd"], device="cpu", gen_size=GEN)
    rec = recorded(monkeypatch, gen, "fill")
    last = clip(1, seed=4)[0]
    result = gen.fill(FillContext(last=last), "a dog", 4, GEN, 1)
    assert np.array_equal(np.asarray(rec.calls[0]["image"]), np.asarray(_pil(last, GEN)))
    produced = quantize(rec.outputs[0])
    assert len(result.frames) == 4
    assert all(np.array_equal(a, b) for a, b in zip(result.frames, produced[::-1], strict=False))
    with pytest.raises(GenerationError, match="needs a context frame"):
        gen.fill(FillContext(), "a dog", 4, GEN, 1)


# ---------------------------------------------------------------- the contract, per family


class TestSDContract(GeneratorContract):
    """UNet pipelines: AnimateDiff video-to-video restyle, Stable Video Diffusion fill."""

    @pytest.fixture(scope="class")
    def generator(self, tiny):
        gen = DiffusionGenerator(
            restyle_model=tiny["animatediff"], fill_model=tiny["svd"], device="cpu", gen_size=GEN
        )
        yield gen
        gen.close()


class TestLTXContract(GeneratorContract):
    """One LTX condition pipeline serving both roles, over two windows (4k+1 frames each)."""

    @pytest.fixture(scope="class")
    def generator(self, tiny):
        gen = DiffusionGenerator(
            restyle_model=tiny["ltx_condition"],
            fill_model=tiny["ltx_condition"],
            device="cpu",
            gen_size=GEN,
            max_window=5,
        )
        yield gen
        gen.close()


# ---------------------------------------------------------------- failures and devices


@pytest.mark.parametrize(
    "message,expected",
    [
        ("CUDA out of memory. Tried to allocate 2.00 GiB", "ran out of memory: CUDA out of memory"),
        ("boom", "fill failed: boom"),
    ],
)
def test_pipeline_failure_becomes_generation_error(tiny, monkeypatch, message, expected):
    gen = DiffusionGenerator(fill_model=tiny["ltx_condition"], device="cpu", gen_size=GEN)
    pipe = gen.adapter("fill").pipe

    def fail(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(type(pipe), "__call__", fail)
    with pytest.raises(GenerationError) as err:
        gen.fill(FillContext(reference=clip(1)[0]), "a dog", 5, GEN, 1)
    assert not isinstance(err.value, ModelUnavailable)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"LTXConditionPipeline ({tiny['ltx_condition']})")


def test_cpu_offload_on_cpu_is_ignored_with_a_warning(tiny, caplog):
    adapter = load_pipeline(tiny["svd"], "fill", device="cpu", cpu_offload=True, vae_slicing=True)
    assert adapter.pipe.device.type == "cpu"
    assert "cpu_offload needs CUDA; ignored on cpu" in caplog.text
    assert (
        "enable_slicing: the VAE of StableVideoDiffusionPipeline has no enable_slicing"
        in caplog.text
    )
    adapter = load_pipeline(
        tiny["ltx_condition"], "fill", device="cpu", vae_slicing=True, vae_tiling=True
    )
    assert adapter.pipe.vae.use_slicing and adapter.pipe.vae.use_tiling


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is present")
def test_cuda_device_without_gpu_is_one_line_generation_error(tiny):
    with pytest.raises(
        GenerationError, match="device failed for StableVideoDiffusionPipeline on device='cuda': "
    ) as err:
        load_pipeline(tiny["svd"], "fill", device="cuda")
    assert "\n" not in str(err.value)


@pytest.mark.skipif(
    not __import__("torch").cuda.is_available(), reason="no CUDA device on this machine"
)
def test_cuda_runs_in_half_precision(tiny, monkeypatch):
    import torch

    gen = DiffusionGenerator(
        restyle_model=tiny["animatediff"],
        fill_model=tiny["svd"],
        device="auto",
        gen_size=GEN,
        vae_slicing=True,
    )
    assert gen.adapter("restyle").pipe.unet.dtype == torch.float16
    result = gen.restyle(clip(4), "a dog", None, 0.5, SIZE, 4)
    assert len(result.frames) == 4 and result.steps == 2
    fill = gen.fill(FillContext(reference=clip(1)[0]), "a dog", 4, SIZE, 2)
    assert len(fill.frames) == 4 and fill.steps == 2
    gen.close()

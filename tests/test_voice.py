"""Text to speech: the Voice contract, eSpeak NG for real, Piper's loading and error paths and a
tiny ONNX stand-in for a Piper voice, the speech cache, and `rag-video voices`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from rag_video.voice import (
    Speech,
    Voice,
    VoiceError,
    VoiceUnavailable,
    WordTiming,
    get_voice,
    list_voices,
)
from rag_video.voice.base import sentence_spans, spread_words, word_spans
from rag_video.voice.cache import SpeechCache, cache_key

LONG = "The quick brown fox jumps over the lazy dog. It runs away, and then it rests."


@pytest.fixture(scope="module")
def espeak() -> Voice:
    pytest.importorskip("espeakng_loader")
    return get_voice("espeak:en-us")


# --------------------------------------------------------------------------- eSpeak NG


def test_espeak_speaks_longer_text_for_longer(espeak: Voice) -> None:
    short, long = espeak.synthesize("Hello."), espeak.synthesize(LONG)
    assert isinstance(long, Speech)
    assert long.samples.dtype == np.float32 and long.samples.ndim == 1
    assert long.sample_rate == 22050
    assert 0.05 < float(np.abs(long.samples).max()) <= 1.0
    assert 0.2 < short.duration_s < long.duration_s
    assert long.duration_s > 3.0


def test_espeak_words_in_order_and_cover_the_text(espeak: Voice) -> None:
    speech = espeak.synthesize(LONG)
    words = speech.words
    assert [w.text for w in words] == [LONG[w.char_start : w.char_end] for w in words]
    for a, b in zip(words, words[1:], strict=False):
        assert a.start_s <= a.end_s <= b.start_s + 1e-9
        assert a.char_end <= b.char_start
    assert words[-1].end_s <= speech.duration_s + 1e-9
    for c0, c1 in word_spans(LONG):  # every written word is inside a spoken one
        assert any(w.char_start < c1 and c0 < w.char_end for w in words), LONG[c0:c1]
    assert [w.text for w in words[:3]] == ["The", "quick", "brown"]


def test_espeak_rate_two_is_shorter(espeak: Voice) -> None:
    slow, fast = espeak.synthesize(LONG), espeak.synthesize(LONG, rate=2.0)
    assert fast.duration_s < 0.7 * slow.duration_s
    assert len(fast.words) == len(slow.words)


def test_espeak_non_ascii_text(espeak: Voice) -> None:
    text = "Café crème, brûlée. Ça va très bien!"
    speech = get_voice("espeak:fr").synthesize(text)
    assert [w.text for w in speech.words] == ["Café", "crème", "brûlée", "Ça", "va", "très", "bien"]
    assert speech.duration_s > 1.0
    assert espeak.synthesize("naïve façade Zürich").duration_s > 0.5


def test_espeak_trims_trailing_silence(espeak: Voice) -> None:
    speech = espeak.synthesize("Hello world.")
    tail = speech.samples[-int(0.2 * speech.sample_rate) :]
    assert speech.duration_s - speech.words[-1].end_s < 0.15
    assert float(np.abs(tail).max()) > 0.0  # the tail still holds the last word's end


@pytest.mark.parametrize("text", ["", "   \n", None])
def test_empty_text_is_a_one_line_voice_error(espeak: Voice, text: object) -> None:
    with pytest.raises(VoiceError, match=r"^synthesize: text must be non-empty") as info:
        espeak.synthesize(text)  # type: ignore[arg-type]
    assert "\n" not in str(info.value) and info.value.exit_code == 2


@pytest.mark.parametrize("rate", [0.0, -1.0, 10.0, float("nan"), "fast"])
def test_bad_rate_names_the_argument(espeak: Voice, rate: object) -> None:
    with pytest.raises(VoiceError, match=r"^synthesize: rate must be a number in"):
        espeak.synthesize("hello", rate=rate)  # type: ignore[arg-type]


def test_unknown_espeak_voice_is_one_line(espeak: Voice) -> None:
    with pytest.raises(VoiceUnavailable, match=r"espeak voice 'xx-nope' not found") as info:
        get_voice("espeak:xx-nope")
    assert "\n" not in str(info.value)


def test_espeak_is_safe_from_threads(espeak: Voice) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = ["one two three", "four five six seven", "eight"]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda t: espeak.synthesize(t), texts * 2))
    for text, speech in zip(texts * 2, got, strict=True):
        assert [w.text for w in speech.words] == text.split()


# --------------------------------------------------------------------------- registry


def test_registry_names() -> None:
    pytest.importorskip("espeakng_loader")
    assert get_voice("espeak").name == "espeak:en-us"
    assert get_voice(" ESPEAK:en-us ").name == "espeak:en-us"
    with pytest.raises(VoiceError, match=r"^voice='kokoro:af': unknown engine 'kokoro'; valid:"):
        get_voice("kokoro:af")
    with pytest.raises(VoiceError, match=r"^voice must be ENGINE:VOICE"):
        get_voice("")


def test_list_voices_lists_engines_and_espeak_voices() -> None:
    pytest.importorskip("espeakng_loader")
    found = list_voices()
    assert {e.engine for e in found.engines} == {"espeak", "piper"}
    names = {v.name for v in found.voices}
    assert {"espeak:en-us", "espeak:fr"} <= names
    espeak = next(e for e in found.engines if e.engine == "espeak")
    assert espeak.available


def test_voices_command_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("espeakng_loader")
    from click.testing import CliRunner

    from rag_video.cli import main

    monkeypatch.setenv("RAG_VIDEO_VOICES", str(tmp_path))
    result = CliRunner().invoke(main, ["voices", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert any(v["name"] == "espeak:en-us" for v in doc["voices"])
    piper = next(e for e in doc["engines"] if e["engine"] == "piper")
    assert str(tmp_path) in piper["detail"]


def test_helpers() -> None:
    text = "One two. Three!  Four\n\nfive six"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "One two.",
        "Three!",
        "Four",
        "five six",
    ]
    words = spread_words(text, word_spans(text, 0, 8), 1.0, 2.0)
    assert [w.text for w in words] == ["One", "two."]
    assert words[0].start_s == 1.0 and words[-1].end_s == pytest.approx(2.0)
    assert words[0].end_s == pytest.approx(1.0 + 4 / 9)
    with pytest.raises(ValueError, match="start_s/end_s"):
        WordTiming("x", 2.0, 1.0, 0, 1)
    with pytest.raises(ValueError, match="Speech.samples must be 1-D float32"):
        Speech(np.zeros(3), 16000)


# --------------------------------------------------------------------------- Piper


def test_piper_missing_voice_says_how_to_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("piper")
    monkeypatch.setenv("RAG_VIDEO_VOICES", str(tmp_path))
    with pytest.raises(VoiceUnavailable) as info:
        get_voice("piper:en_US-lessac-medium")
    msg = str(info.value)
    assert msg == (
        f"piper voice en_US-lessac-medium not found in {tmp_path}: download it with "
        f"`python -m piper.download_voices en_US-lessac-medium --data-dir {tmp_path}`"
    )
    assert info.value.exit_code == 2


def test_piper_missing_path_and_config(tmp_path: Path) -> None:
    pytest.importorskip("piper")
    model = tmp_path / "v.onnx"
    with pytest.raises(VoiceUnavailable, match=r"^piper voice .*v\.onnx: .*v\.onnx not found"):
        get_voice(f"piper:{model}")
    model.write_bytes(b"not onnx")
    with pytest.raises(VoiceUnavailable, match=r"v\.onnx\.json not found"):
        get_voice(f"piper:{model}")


def test_piper_broken_model_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("piper")
    model = tmp_path / "v.onnx"
    model.write_bytes(b"not onnx")
    (tmp_path / "v.onnx.json").write_text(json.dumps(_piper_config()))
    with pytest.raises(VoiceUnavailable, match=r"^piper voice .*: cannot load .*v\.onnx: ") as info:
        get_voice(f"piper:{model}")
    assert "\n" not in str(info.value)


def test_piper_not_installed_says_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_piper(name: str, *args: object, **kwargs: object) -> object:
        if name == "piper" or name.startswith("piper."):
            raise ImportError("No module named 'piper'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_piper)
    with pytest.raises(VoiceUnavailable, match=r"pip install piper-tts") as info:
        get_voice("piper:en_US-lessac-medium")
    assert "\n" not in str(info.value)
    from rag_video.voice import piper

    engine, voices = piper.catalogue()
    assert not engine.available and "pip install piper-tts" in engine.detail and voices == []


@pytest.mark.parametrize("aligned", [True, False])
def test_piper_speaks_through_a_tiny_onnx_voice(tmp_path: Path, aligned: bool) -> None:
    """A stand-in for a VITS voice (same inputs and outputs, a tone whose length follows the
    phonemes and the length scale) run through piper-tts's real loading and synthesis: with a
    ``Ceil`` duration tensor Piper patches in alignments (words aligned), without it the words
    are estimated from characters."""
    pytest.importorskip("piper")
    pytest.importorskip("onnx")
    model = _tiny_piper_voice(tmp_path / "tiny.onnx", ceil=aligned)
    voice = get_voice(f"piper:{model}")
    assert voice.name == f"piper:{model}"
    text = "Hello there, world. Good night!"
    speech = voice.synthesize(text)
    assert speech.sample_rate == 16000 and speech.samples.dtype == np.float32
    assert speech.timing == ("aligned" if aligned else "estimated")
    assert [w.text for w in speech.words] == text.split()
    for a, b in zip(speech.words, speech.words[1:], strict=False):
        assert a.start_s < a.end_s <= b.start_s + 1e-9
    assert speech.words[-1].end_s <= speech.duration_s + 1e-9
    fast = voice.synthesize(text, rate=2.0)
    assert fast.duration_s < 0.75 * speech.duration_s


def test_piper_lists_voices_in_its_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("piper")
    pytest.importorskip("onnx")
    _tiny_piper_voice(tmp_path / "xx_XX-tiny-low.onnx", ceil=True)
    monkeypatch.setenv("RAG_VIDEO_VOICES", str(tmp_path))
    from rag_video.voice import piper

    engine, voices = piper.catalogue()
    assert engine.available
    assert [(v.name, v.language) for v in voices] == [("piper:xx_XX-tiny-low", "en-us")]
    assert get_voice("piper:xx_XX-tiny-low").synthesize("Hi there.").duration_s > 0


def _piper_config() -> dict[str, object]:
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    return {
        "audio": {"sample_rate": 16000},
        "espeak": {"voice": "en-us"},
        "num_symbols": 256,
        "num_speakers": 1,
        "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
    }


def _tiny_piper_voice(path: Path, *, ceil: bool) -> Path:
    """An ONNX graph with a Piper voice's interface: ``input`` (1, N) ids, ``input_lengths``,
    ``scales`` (noise, length, noise_w) → ``output`` (1, 1, T). Each id lasts
    ``op(4 * length_scale)`` frames of 256 samples (``op`` Ceil, as VITS's ``w_ceil``, or Round),
    filled with a tone whose pitch follows the id."""
    import onnx
    from onnx import TensorProto, helper

    const = helper.make_tensor
    nodes = [
        helper.make_node("Cast", ["input"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["scales", "one_i"], ["length_scale"], axis=0),
        helper.make_node("Mul", ["ids_f", "zero"], ["zeros"]),
        helper.make_node("Mul", ["length_scale", "four"], ["w0"]),
        helper.make_node("Add", ["zeros", "w0"], ["w"]),
        helper.make_node("Ceil" if ceil else "Round", ["w"], ["w_ceil"]),
        helper.make_node("Cast", ["w_ceil"], ["frames"], to=TensorProto.INT64),
        helper.make_node("Mul", ["frames", "hop"], ["per_id"]),
        helper.make_node("Reshape", ["per_id", "flat"], ["per_id_flat"]),
        helper.make_node("Reshape", ["ids_f", "flat"], ["ids_flat"]),
        helper.make_node("ReduceSum", ["per_id_flat"], ["total"], keepdims=1),
        helper.make_node("Squeeze", ["total"], ["total_s"]),
        helper.make_node("Range", ["zero_i", "total_s", "one_i"], ["t"]),
        helper.make_node("CumSum", ["per_id_flat", "zero_i"], ["ends"]),
        helper.make_node("Unsqueeze", ["t", "one_ax"], ["t_col"]),
        helper.make_node("Unsqueeze", ["ends", "zero_ax"], ["ends_row"]),
        helper.make_node("GreaterOrEqual", ["t_col", "ends_row"], ["past"]),
        helper.make_node("Cast", ["past"], ["past_i"], to=TensorProto.INT64),
        helper.make_node("ReduceSum", ["past_i", "one_ax"], ["which"], keepdims=0),
        helper.make_node("Gather", ["ids_flat", "which"], ["id_at_t"], axis=0),
        helper.make_node("Cast", ["t"], ["t_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["id_at_t", "ten"], ["pitch"]),
        helper.make_node("Mul", ["t_f", "pitch"], ["phase0"]),
        helper.make_node("Mul", ["phase0", "step"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Mul", ["wave", "amp"], ["audio"]),
        helper.make_node("Reshape", ["audio", "out_shape"], ["output"]),
    ]
    inits = [
        const("one_i", TensorProto.INT64, [], [1]),
        const("zero_i", TensorProto.INT64, [], [0]),
        const("zero", TensorProto.FLOAT, [], [0.0]),
        const("four", TensorProto.FLOAT, [], [4.0]),
        const("ten", TensorProto.FLOAT, [], [10.0]),
        const("step", TensorProto.FLOAT, [], [0.002]),
        const("amp", TensorProto.FLOAT, [], [0.5]),
        const("hop", TensorProto.INT64, [], [256]),
        const("flat", TensorProto.INT64, [1], [-1]),
        const("one_ax", TensorProto.INT64, [1], [1]),
        const("zero_ax", TensorProto.INT64, [1], [0]),
        const("out_shape", TensorProto.INT64, [3], [1, 1, -1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_piper",
        [
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, "n"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "t"])],
        inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    path.with_name(path.name + ".json").write_text(json.dumps(_piper_config()))
    return path


# --------------------------------------------------------------------------- cache


class _Counting(Voice):
    engine = "count"

    def __init__(self) -> None:
        super().__init__("v")
        self.calls = 0

    def _speak(self, text: str, rate: float) -> Speech:
        self.calls += 1
        n = int(16000 * 0.1 * len(text) / rate)
        samples = (0.3 * np.sin(np.arange(n) * 0.05)).astype(np.float32)
        spans = word_spans(text)
        return Speech(samples, 16000, tuple(spread_words(text, spans, 0.0, n / 16000)))


def test_cache_reads_back_instead_of_speaking(tmp_path: Path) -> None:
    voice, cache = _Counting(), SpeechCache(tmp_path / "voice")
    first = cache.synthesize(voice, "hello cached world", rate=1.0)
    second = cache.synthesize(voice, "hello cached world", rate=1.0)
    assert voice.calls == 1
    assert np.array_equal(first.samples, second.samples)
    assert second.words == first.words and second.sample_rate == 16000
    cache.synthesize(voice, "hello cached world", rate=1.5)
    cache.synthesize(voice, "hello other world", rate=1.0)
    assert voice.calls == 3
    files = sorted(p.suffix for p in (tmp_path / "voice").iterdir())
    assert files == [".json"] * 3 + [".wav"] * 3  # no temporary files left behind


def test_cache_with_espeak_counts_engine_calls(
    espeak: Voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = type(espeak)._speak

    def counted(self: Voice, text: str, rate: float) -> Speech:
        calls.append(text)
        return real(self, text, rate)  # type: ignore[arg-type]

    monkeypatch.setattr(type(espeak), "_speak", counted)
    cache = SpeechCache(tmp_path)
    a = cache.synthesize(espeak, "Cached speech.")
    b = cache.synthesize(espeak, "Cached speech.")
    assert calls == ["Cached speech."]
    assert np.array_equal(a.samples, b.samples) and a.words == b.words
    assert b.timing == "engine"


def test_cache_entry_that_does_not_read_back_is_redone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    voice, cache = _Counting(), SpeechCache(tmp_path)
    cache.synthesize(voice, "one")
    wav, _ = cache.paths(cache_key(voice, "one", 1.0))
    wav.write_bytes(b"RIFF")
    with caplog.at_level(logging.WARNING):
        again = cache.synthesize(voice, "one")
    assert voice.calls == 2 and again.duration_s > 0
    assert "unreadable" in caplog.text


def test_cache_key_depends_on_everything() -> None:
    v = _Counting()
    keys = {cache_key(v, "a", 1.0), cache_key(v, "b", 1.0), cache_key(v, "a", 1.25)}
    assert len(keys) == 3 and cache_key(v, "a", 1.0) == cache_key(v, "a", 1.0)

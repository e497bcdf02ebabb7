"""How a make renders: `MakeOptions`, the one validated record of `make`'s flags (None means
"from the script, else the default"); thresholds, diffusion models and the voice default from
`Settings`."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_video.errors import UsageError
from rag_video.generate.coverage import DEFAULT_ORDER, parse_order
from rag_video.generate.narration import DEFAULT_BREATH_S
from rag_video.generate.quality import check_qc_options
from rag_video.generate.reframe import FITS
from rag_video.generate.rights import RightsPolicy, parse_licenses
from rag_video.generate.soundtrack import SOURCE_AUDIO
from rag_video.media.captions import LABEL_POSITIONS
from rag_video.provenance.keys import load_credentials
from rag_video.voice.base import DEFAULT_VOICE

if TYPE_CHECKING:
    from rag_video.config import Settings


REPLAYED = (  # the MakeOptions fields a review re-render repeats (MakeOptions.replayable)
    "aspect",
    "size",
    "fps",
    "fit",
    "min_cut",
    "coverage",
    "transition",
    "music",
    "audio",
    "burn_subtitles",
    "crf",
    "narrate",
    "voice",
    "speech_rate",
    "breath",
    "beat_sync",
    "beat_tolerance",
    "duck",
    "source_audio",
    "loudness",
    "true_peak",
    "label_generated",
    "label_text",
    "label_position",
    "qc",
    "qc_thresholds",
    "commercial",
    "licenses",
)


@dataclass
class MakeOptions:
    """How a make renders (CLI flags; None means 'from the script, else the default')."""

    final: bool = False
    aspect: str | None = None
    size: tuple[int, int] | None = None
    fps: float | None = None
    fit: str = "auto"  # auto | crop | letterbox | reframe (auto: reframe when a crop keeps < 60 %)
    min_cut: float = 1.0  # shortest sub-shot when several shots cover one planned shot
    coverage: str = ",".join(DEFAULT_ORDER)
    transition: str = "cut"
    music: Path | None = None
    audio: bool = True
    burn_subtitles: bool = False
    crf: int = 20
    preset: str | None = None  # x264 preset; None: ultrafast for drafts, veryfast for final renders
    by_sentence: bool = False
    fresh: bool = False
    reuse_threshold: float = 0.28
    fill_threshold: float = 0.20
    steps: int = 20
    seed: int = 0
    max_gen_seconds: float | None = None
    restyle_model: str | None = None
    fill_model: str | None = None
    gen_size: tuple[int, int] | None = None
    keep_segments: bool = False  # also write draft shots to segment files (else they stream)
    # sound (issue 13): narration, beats, the mix
    narrate: bool | None = None  # True: every shot speaks (its text); False: none; None: script's
    voice: str | None = None  # ENGINE:VOICE; giving one narrates
    default_voice: str = DEFAULT_VOICE  # when neither --voice nor the script's voice: names one
    speech_rate: float = 1.0
    breath: float = DEFAULT_BREATH_S
    beat_sync: bool = False
    beat_tolerance: float = 0.2  # share of the shot a cut may move to reach a beat
    duck: float = 12.0  # dB the music (and ducked source audio) drops under speech
    source_audio: str = "duck"  # keep | duck | mute
    loudness: float = -14.0  # integrated LUFS of the final mix (-23 for broadcast)
    true_peak: float = -1.0  # dBTP ceiling of the final mix
    stems: Path | None = None  # write the stems as WAV into this folder
    # provenance on screen (issue 15)
    label_generated: bool = False  # mark restyled and filled segments on screen
    label_text: str = "AI-generated"
    label_position: str = "top-right"  # one of media.captions.LABEL_POSITIONS
    # quality checks of the output (issue 15; generate/quality.py)
    qc: str = "fast"  # off | fast | full (full adds the semantic check)
    qc_thresholds: dict[str, float] | None = None  # "<check>.<field>" -> value (qc/run.py)
    # rights (issue 15; generate/rights.py): the sources' licences outrank the script
    commercial: bool = False  # refuse non-commercial (NC) licences
    licenses: str | frozenset[str] | None = None  # only these SPDX ids ("CC0-1.0,CC-BY-4.0")
    # content credentials (issue 15; rag_video/provenance): from the c2pa_key/c2pa_cert settings
    c2pa_key: Path | None = None
    c2pa_cert: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **fields: Any) -> MakeOptions:
        """Options from `fields` (None means 'not given'): thresholds and diffusion models
        default to `settings`, the rest to the defaults here. A bad or unknown option is a
        UsageError naming it and its value."""
        known = {f.name for f in dataclass_fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            name = unknown[0]
            raise UsageError(
                f"make option {name}={fields[name]!r}: not one of {', '.join(sorted(known))}"
            )
        given = {k: v for k, v in fields.items() if v is not None}
        return cls(
            **{
                "reuse_threshold": settings.reuse_threshold,
                "fill_threshold": settings.fill_threshold,
                "restyle_model": settings.restyle_model,
                "fill_model": settings.fill_model,
                "default_voice": settings.voice,
                "c2pa_key": settings.c2pa_key,
                "c2pa_cert": settings.c2pa_cert,
                **given,
            }
        )

    def replayable(self) -> dict[str, Any]:
        """The options a re-render of this make repeats (``make``'s manifest ``options``):
        how it looks and sounds, not how its decisions were reached or which models ran."""
        out: dict[str, Any] = {}
        for name in REPLAYED:
            value = getattr(self, name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, frozenset):
                value = ",".join(sorted(value))
            out[name] = value
        return out

    @staticmethod
    def replayed(saved: dict[str, Any] | None) -> dict[str, Any]:
        """Fields for :meth:`from_settings` from a manifest's ``options`` (none: {})."""
        fields = {k: v for k, v in (saved or {}).items() if k in REPLAYED}
        if fields.get("size") is not None:
            fields["size"] = tuple(fields["size"])
        if fields.get("music") is not None:
            fields["music"] = Path(fields["music"])
        return fields

    def __post_init__(self) -> None:
        if self.reuse_threshold <= self.fill_threshold:
            raise UsageError(
                f"--reuse-threshold {self.reuse_threshold:g} must be above "
                f"--fill-threshold {self.fill_threshold:g}"
            )
        if self.fit not in FITS:
            raise UsageError(f"--fit {self.fit!r}: expected one of {', '.join(FITS)}")
        if not 0.1 <= self.min_cut <= 60:
            raise UsageError(f"--min-cut {self.min_cut:g}: expected 0.1 to 60 seconds")
        try:
            self.order = parse_order(self.coverage)
        except ValueError as exc:
            raise UsageError(f"--coverage {self.coverage!r}: {exc}") from None
        self._check_sound()
        check_qc_options(self.qc, self.qc_thresholds)
        self.rights = RightsPolicy(bool(self.commercial), parse_licenses(self.licenses))
        load_credentials(self.c2pa_key, self.c2pa_cert)  # a bad key fails before any rendering

    def _check_sound(self) -> None:
        checks = [
            ("--speech-rate", self.speech_rate, 0.5, 2.5),
            ("--breath", self.breath, 0.0, 10.0),
            ("--beat-tolerance", self.beat_tolerance, 0.0, 0.5),
            ("--duck", self.duck, 0.0, 60.0),
            ("--loudness", self.loudness, -70.0, -5.0),
            ("--true-peak", self.true_peak, -20.0, 0.0),
        ]
        for flag, value, lo, hi in checks:
            if not (isinstance(value, int | float) and lo <= value <= hi):
                raise UsageError(f"{flag} {value!r}: expected {lo:g} to {hi:g}")
        if self.source_audio not in SOURCE_AUDIO:
            raise UsageError(
                f"--source-audio {self.source_audio!r}: expected one of {', '.join(SOURCE_AUDIO)}"
            )
        if self.label_position not in LABEL_POSITIONS:
            raise UsageError(
                f"--label-position {self.label_position!r}: expected one of "
                f"{', '.join(LABEL_POSITIONS)}"
            )
        if not self.label_text.strip() or len(self.label_text) > 60:
            raise UsageError(f"--label-text {self.label_text!r}: expected 1 to 60 characters")
        if self.stems is not None and not Path(self.stems).expanduser().is_dir():
            raise UsageError(f"--stems {str(self.stems)!r}: not an existing folder")

    @property
    def frame_fit(self) -> str:
        """How generated and reference frames are conformed (crop or letterbox)."""
        return "letterbox" if self.fit == "letterbox" else "crop"

    def model(self, decision: str) -> str | None:
        """The diffusion model a final render uses for `decision` (None: the role's default)."""
        return self.restyle_model if decision == "restyle" else self.fill_model


__all__ = ["MakeOptions"]

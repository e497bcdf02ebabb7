"""Generate the sample footage that `rag-video demo` ships (``rag_video/samples/footage/``).

Run from the repository root::

    python tools/make_demo_footage.py [--out rag_video/samples/footage] \
        [--bunny tests/data/bigbuckbunny.mp4]

It writes, with PyAV only (no ffmpeg binary, no network):

* ``bigbuckbunny.mp4``: the Big Buck Bunny excerpt of ``tests/data`` re-encoded small
  (640x360, H.264 CRF 28, stereo AAC 96 kb/s); CC BY 3.0 Blender Foundation.
* one 640x360, 24 fps, H.264 clip per freely licensed photograph bundled with scikit-image
  (``skimage.data``), filmed as a single continuous shot by a slow, eased camera move (pan, tilt
  or zoom, "Ken Burns") over the picture cropped to 16:9;
* two clips made of two photographs joined by a hard cut (two shots each), whose per-shot
  descriptions are timed cues in an ``.srt`` sidecar;
* a ``name.json`` sidecar beside every clip (title, description, tags, license, creator) and
  ``ATTRIBUTION.md`` listing every file with its source, creator and licence.

Only images whose scikit-image docstring states a licence allowing redistribution (public domain
or CC0) are used; the licence and creator recorded are the ones scikit-image states. Output is
reproducible: frames are computed deterministically and x264 runs with fixed settings.

scikit-image and OpenCV are build-time tools for this script only, not runtime dependencies of
rag-video.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from rag_video.media.subtitles import format_srt

log = logging.getLogger("make_demo_footage")

WIDTH, HEIGHT = 640, 360
FPS = 24
CRF = 26
BUNNY_CRF = 28
PRESET = "slow"
ASPECT = WIDTH / HEIGHT


@dataclass(frozen=True)
class Framing:
    """A 16:9 window over the picture: centre and width as fractions of the picture's size."""

    cx: float
    cy: float
    width: float


@dataclass(frozen=True)
class Still:
    """A scikit-image sample photograph, its camera move and what is known about it."""

    key: str  # the skimage.data function name
    description: str
    start: Framing
    end: Framing
    license: str
    creator: str
    source: str  # where scikit-image says the picture comes from
    pad: bool = False  # widen the picture to 1.2 x 16:9 with its corner colour, so all of it fits

    @property
    def spdx(self) -> str:
        """The SPDX id of ``license``: the sidecar's value (the free text is in ATTRIBUTION.md)."""
        for prefix, spdx in (("CC0", "CC0-1.0"), ("Public domain", "LicenseRef-PublicDomain")):
            if self.license.startswith(prefix):
                return spdx
        raise ValueError(f"{self.key}: no SPDX id for licence {self.license!r}")


@dataclass(frozen=True)
class Clip:
    """One output file: one or more stills, each filmed for ``seconds`` and joined by hard cuts."""

    name: str
    title: str
    description: str
    tags: tuple[str, ...]
    stills: tuple[Still, ...]
    seconds: float = 5.0
    per_shot_text: bool = False  # write the stills' descriptions as timed .srt cues


STILLS: dict[str, Still] = {
    "astronaut": Still(
        key="astronaut",
        description="Astronaut Eileen Collins in an orange NASA spacesuit smiling "
        "in front of the American flag and a model of the space shuttle",
        start=Framing(0.5, 0.3, 1.0),
        end=Framing(0.42, 0.24, 0.72),
        license=(
            'Public domain ("No known copyright restrictions, released into the public domain.")'
        ),
        creator="NASA",
        source="NASA Great Images database, https://flic.kr/p/r9qvLn",
    ),
    "coffee": Still(
        key="coffee",
        description="A cup of espresso coffee on a red saucer with a spoon, seen from above on a "
        "wooden table",
        start=Framing(0.5, 0.5, 1.0),
        end=Framing(0.5, 0.42, 0.7),
        license='CC0 ("No copyright restrictions. CC0 by the photographer")',
        creator="Rachel Michetti (photograph courtesy of Pikolo Espresso Bar)",
        source="scikit-image sample data (skimage.data.coffee)",
    ),
    "chelsea": Still(
        key="chelsea",
        description="Close-up of Chelsea, a tabby cat with green eyes looking at the camera",
        start=Framing(0.5, 0.5, 1.0),
        end=Framing(0.46, 0.45, 0.72),
        license='CC0 ("No copyright restrictions. CC0 by the photographer")',
        creator="Stefan van der Walt",
        source="scikit-image sample data (skimage.data.chelsea)",
    ),
    "rocket": Still(
        key="rocket",
        description="A white SpaceX Falcon 9 rocket standing on the launch pad between lightning "
        "towers under a deep blue evening sky, before the launch of DSCOVR",
        start=Framing(0.5, 0.64, 0.85),
        end=Framing(0.5, 0.37, 0.85),
        license='Public domain ("captured by SpaceX and released in the public domain")',
        creator="SpaceX",
        source="SpaceX Photos, https://www.flickr.com/photos/spacexphotos/16511594820/",
    ),
    "hubble_deep_field": Still(
        key="hubble_deep_field",
        description="The Hubble eXtreme Deep Field: thousands of distant galaxies in deep space, "
        "small colourful spots of light on black",
        start=Framing(0.36, 0.5, 0.62),
        end=Framing(0.62, 0.47, 0.56),
        license='Public domain ("captured by NASA and may be freely used in the public domain")',
        creator="NASA",
        source="HubbleSite, http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/",
    ),
    "camera": Still(
        key="camera",
        description="Black and white photograph of a man in a dark coat looking through a film "
        "camera on a tripod in a grassy park, buildings in the distance",
        start=Framing(0.62, 0.45, 0.8),
        end=Framing(0.4, 0.42, 0.8),
        license='CC0 ("No copyright restrictions. CC0 by the photographer")',
        creator="Lav Varshney",
        source="scikit-image sample data (skimage.data.camera)",
    ),
    "retina": Still(
        key="retina",
        description="Fundus photograph of a human retina: an orange-red eye background with "
        "branching blood vessels and the bright optic disc",
        start=Framing(0.32, 0.47, 0.5),
        end=Framing(0.5, 0.5, 0.95),
        license="CC0 1.0 Universal Public Domain Dedication",
        creator="Mikael Häggström",
        source="Wikimedia Commons, https://commons.wikimedia.org/wiki/File:Fundus_photograph_of_normal_left_eye.jpg",
    ),
    "clock": Still(
        key="clock",
        description="A round wall clock blurred by a sideways camera movement against a grey wall",
        start=Framing(0.5, 0.52, 1.0),
        end=Framing(0.52, 0.52, 0.72),
        license='Public domain ("Released into the public domain by the photographer")',
        creator="Stefan van der Walt",
        source="scikit-image sample data (skimage.data.clock)",
    ),
    "cell": Still(
        key="cell",
        description="Microscope image of a single round cell floating in saline, bright on a grey "
        "banded background",
        start=Framing(0.5, 0.55, 1.0),
        end=Framing(0.68, 0.56, 0.7),
        license='CC0 ("dedicated to the public domain")',
        creator="Paul Müller, Mirjam Schürmann, Salvatore Girardo, Gheorghe Cojoc and Jochen Guck",
        source="scikit-image sample data (skimage.data.cell), from Müller et al., Optics Express "
        "26(8) 10729-10743 (2018), doi:10.1364/OE.26.010729",
    ),
    "grass": Still(
        key="grass",
        description="Close-up of grass blades and dry leaves on the ground, in black and white",
        start=Framing(0.5, 0.5, 0.95),
        end=Framing(0.5, 0.5, 0.8),
        license="CC0",
        creator='linolafett (DeviantArt, "Grass 01"); cropped and converted to grayscale by '
        "scikit-image",
        source="DeviantArt, https://www.deviantart.com/linolafett/art/Grass-01-434853879",
    ),
    "horse": Still(
        key="horse",
        description="Black silhouette of a standing horse on a plain white background",
        start=Framing(0.41, 0.5, 0.83),
        end=Framing(0.59, 0.5, 0.83),
        pad=True,
        license='CC0 ("No copyright restrictions. CC0 given by owner")',
        creator="Andreas Preuss (marauder)",
        source="openclipart, http://openclipart.org/detail/158377/horse-by-marauder",
    ),
}

CLIPS: tuple[Clip, ...] = (
    Clip(
        "astronaut",
        "Astronaut portrait",
        STILLS["astronaut"].description,
        ("astronaut", "spacesuit", "NASA", "American flag", "space shuttle", "portrait", "woman"),
        (STILLS["astronaut"],),
    ),
    Clip(
        "coffee",
        "Cup of coffee",
        STILLS["coffee"].description,
        ("coffee", "espresso", "cup", "saucer", "spoon", "table", "cafe", "drink"),
        (STILLS["coffee"],),
    ),
    Clip(
        "tabby_cat",
        "Tabby cat",
        STILLS["chelsea"].description,
        ("cat", "tabby", "pet", "animal", "eyes", "close-up"),
        (STILLS["chelsea"],),
    ),
    Clip(
        "rocket_launch_pad",
        "Rocket on the launch pad",
        STILLS["rocket"].description,
        ("rocket", "launch pad", "Falcon 9", "SpaceX", "space", "sky", "dusk", "countdown"),
        (STILLS["rocket"],),
    ),
    Clip(
        "deep_field_galaxies",
        "Hubble deep field",
        STILLS["hubble_deep_field"].description,
        ("galaxies", "deep space", "universe", "stars", "Hubble", "astronomy"),
        (STILLS["hubble_deep_field"],),
        seconds=6.0,
    ),
    Clip(
        "photographer",
        "Photographer with a camera",
        STILLS["camera"].description,
        ("photographer", "man", "camera", "tripod", "park", "black and white"),
        (STILLS["camera"],),
    ),
    Clip(
        "retina",
        "Human retina",
        STILLS["retina"].description,
        ("retina", "eye", "fundus", "medical", "blood vessels", "red"),
        (STILLS["retina"],),
    ),
    Clip(
        "clock_and_cell",
        "Still photographs, two shots",
        "Two still photographs joined by a hard cut, each filmed with a slow zoom; the subtitles "
        "describe each shot",
        ("two shots", "hard cut", "still photograph"),
        (STILLS["clock"], STILLS["cell"]),
        seconds=3.0,
        per_shot_text=True,
    ),
    Clip(
        "grass_and_horse",
        "Black and white pictures, two shots",
        "Two black and white pictures joined by a hard cut, each filmed with a slow camera move; "
        "the subtitles describe each shot",
        ("two shots", "hard cut", "black and white"),
        (STILLS["grass"], STILLS["horse"]),
        seconds=3.0,
        per_shot_text=True,
    ),
)

BUNNY_SIDECAR = {
    "title": "Big Buck Bunny in the meadow",
    "description": "A big grey rabbit comes out of his burrow under a tree in a green grassy "
    "meadow and stretches in the sunny meadow in the morning sun at sunrise (animated)",
    "tags": [
        "rabbit",
        "bunny",
        "meadow",
        "sunrise",
        "morning",
        "tree",
        "forest",
        "grass",
        "animation",
        "cartoon",
    ],
    "license": "CC-BY-3.0",  # Creative Commons Attribution 3.0 (ATTRIBUTION.md)
    "creator": "Blender Foundation | www.bigbuckbunny.org",
}


# ---------------------------------------------------------------------------------------- frames


def load_still(key: str) -> np.ndarray:
    """The scikit-image sample picture ``key`` as an RGB uint8 array."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, key)())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype != np.uint8:
        raise ValueError(f"still {key!r} has dtype {image.dtype}, expected uint8")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def pad_to_wide(image: np.ndarray) -> np.ndarray:
    """The picture centred on a canvas 1.2 x 16:9 wide, filled with its top-left pixel's colour."""
    ih, iw = image.shape[:2]
    width = max(iw, round(1.2 * ih * ASPECT))
    canvas = np.empty((ih, width, 3), np.uint8)
    canvas[:] = image[0, 0]
    left = (width - iw) // 2
    canvas[:, left : left + iw] = image
    return canvas


def ease(t: float) -> float:
    """Smootherstep: 0→1 with zero velocity and acceleration at both ends."""
    t = min(max(t, 0.0), 1.0)
    return t * t * t * (t * (6 * t - 15) + 10)


def window(image_hw: tuple[int, int], framing: Framing) -> tuple[float, float, float, float]:
    """The framing in pixels ``(x0, y0, w, h)``, 16:9 and clamped inside the picture."""
    ih, iw = image_hw
    w = min(framing.width * iw, iw, ih * ASPECT)
    h = w / ASPECT
    x0 = min(max(framing.cx * iw - w / 2, 0.0), iw - w)
    y0 = min(max(framing.cy * ih - h / 2, 0.0), ih - h)
    return x0, y0, w, h


def prescale(image: np.ndarray, still: Still) -> np.ndarray:
    """Shrink (area filter) a picture whose widest window is much wider than the output, to
    avoid aliasing."""
    import cv2

    widest = max(window(image.shape[:2], still.start)[2], window(image.shape[:2], still.end)[2])
    factor = 1.25 * WIDTH / widest
    if factor >= 1.0:
        return image
    size = (round(image.shape[1] * factor), round(image.shape[0] * factor))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def camera_move(image: np.ndarray, still: Still, n_frames: int) -> Iterator[np.ndarray]:
    """``n_frames`` RGB frames of a continuous, eased move from ``still.start`` to ``still.end``."""
    import cv2

    a = np.array(window(image.shape[:2], still.start))
    b = np.array(window(image.shape[:2], still.end))
    for i in range(n_frames):
        x0, y0, w, h = a + (b - a) * ease(i / max(n_frames - 1, 1))
        sx, sy = w / WIDTH, h / HEIGHT
        # output pixel (u, v) samples source (x0 + (u + 0.5) * sx - 0.5, y0 + (v + 0.5) * sy - 0.5)
        matrix = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]])
        yield cv2.warpAffine(
            image,
            matrix,
            (WIDTH, HEIGHT),
            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT101,
        )


# -------------------------------------------------------------------------------------- encoding


def _open_h264(
    container: av.container.OutputContainer, rate: Fraction | int, crf: int
) -> av.VideoStream:
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.options = {"crf": str(crf), "preset": PRESET}
    return stream


def write_clip(path: Path, frames: Iterator[np.ndarray]) -> int:
    """Encode RGB frames as a 640x360 H.264 mp4 at ``FPS``; returns the number of frames."""
    count = 0
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        stream = _open_h264(container, FPS, CRF)
        for count, rgb in enumerate(frames, 1):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = count - 1
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return count


def clip_frames(clip: Clip) -> Iterator[np.ndarray]:
    """Every frame of a clip: each still's move in turn, joined by hard cuts."""
    per_still = round(clip.seconds * FPS)
    for still in clip.stills:
        image = load_still(still.key)
        if still.pad:
            image = pad_to_wide(image)
        yield from camera_move(prescale(image, still), still, per_still)


def reencode_bunny(src: Path, dst: Path) -> None:
    """Re-encode the Big Buck Bunny excerpt at 640x360 (CRF 28) with stereo 96 kb/s AAC audio."""
    with (
        av.open(str(src)) as inp,
        av.open(str(dst), "w", options={"movflags": "+faststart"}) as out,
    ):
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        vout = _open_h264(out, vin.average_rate, BUNNY_CRF)
        vout.time_base = vin.time_base
        aout = out.add_stream("aac", rate=48000, layout="stereo")
        aout.bit_rate = 96_000
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        for frame in inp.decode(vin, ain):
            if isinstance(frame, av.VideoFrame):
                small = frame.reformat(
                    width=WIDTH, height=HEIGHT, format="yuv420p", interpolation="AREA"
                )
                small.pts, small.time_base = frame.pts, frame.time_base
                out.mux(vout.encode(small))
            else:
                for block in resampler.resample(frame):
                    out.mux(aout.encode(block))
        for block in resampler.resample(None):
            out.mux(aout.encode(block))
        out.mux(vout.encode(None))
        out.mux(aout.encode(None))


# -------------------------------------------------------------------------------------- sidecars


def srt_text(clip: Clip) -> str:
    """One cue per still, spanning exactly that still's shot."""
    per_still = round(clip.seconds * FPS) / FPS
    return format_srt(
        [
            (i * per_still, (i + 1) * per_still, still.description)
            for i, still in enumerate(clip.stills)
        ]
    )


def clip_sidecar(clip: Clip) -> dict:
    """The ``name.json`` sidecar of a generated clip."""
    licenses = list(dict.fromkeys(s.spdx for s in clip.stills))  # SPDX: "A AND B" for two
    creators = list(dict.fromkeys(s.creator for s in clip.stills))
    return {
        "title": clip.title,
        "description": clip.description,
        "tags": list(clip.tags),
        "license": " AND ".join(licenses),
        "creator": "; ".join(creators),
    }


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def attribution_markdown() -> str:
    """ATTRIBUTION.md: every file with its source, creator and licence."""
    lines = [
        "# Sample footage: sources and licences",
        "",
        "Sample library of `rag-video demo`. Regenerate with `python tools/make_demo_footage.py`.",
        "Every clip has a `name.json` sidecar (title, description, tags, license, creator); its",
        "license is the SPDX id of the licence stated below (`LicenseRef-PublicDomain AND",
        "CC0-1.0` for a clip of two pictures under those). The two-shot clips also have a",
        "`name.srt` whose cues describe each shot.",
        "",
        "## bigbuckbunny.mp4",
        "",
        (
            "An excerpt of *Big Buck Bunny* (2008), © Blender Foundation | www.bigbuckbunny.org, "
            "licensed"
        ),
        "under the Creative Commons Attribution 3.0 licence (CC BY 3.0,",
        "https://creativecommons.org/licenses/by/3.0/). Changes: re-encoded to 640x360 H.264 with",
        "stereo AAC audio. Content: a large grey rabbit emerges from his burrow in a grassy meadow",
        "and stretches in the morning sun. One continuous shot.",
        "",
        "## Clips made from scikit-image sample photographs",
        "",
        "Each picture is one of the sample images bundled with scikit-image (`skimage.data`); the",
        "licence and creator are as stated in scikit-image's documentation of that image. Changes:",
        "cropped to 16:9 (the horse silhouette is instead widened with white), resampled to",
        "640x360 and filmed with a slow pan, tilt or zoom.",
        "",
    ]
    for clip in CLIPS:
        lines += [f"### {clip.name}.mp4", ""]
        for still in clip.stills:
            lines.append(f"- `skimage.data.{still.key}`: {still.description}.")
            lines.append(
                f"  Creator: {still.creator}. Licence: {still.license}. Source: {still.source}."
            )
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ main


def build(out: Path, bunny: Path) -> None:
    """Write every clip, sidecar and ATTRIBUTION.md into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    reencode_bunny(bunny, out / "bigbuckbunny.mp4")
    write_json(out / "bigbuckbunny.json", BUNNY_SIDECAR)
    log.info("wrote %s", out / "bigbuckbunny.mp4")
    for clip in CLIPS:
        n = write_clip(out / f"{clip.name}.mp4", clip_frames(clip))
        write_json(out / f"{clip.name}.json", clip_sidecar(clip))
        if clip.per_shot_text:
            (out / f"{clip.name}.srt").write_text(srt_text(clip), encoding="utf-8")
        log.info("wrote %s (%d frames)", out / f"{clip.name}.mp4", n)
    (out / "ATTRIBUTION.md").write_text(attribution_markdown(), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--out", type=Path, default=root / "rag_video" / "samples" / "footage")
    parser.add_argument("--bunny", type=Path, default=root / "tests" / "data" / "bigbuckbunny.mp4")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(args.out, args.bunny)


if __name__ == "__main__":
    main()

"""Benchmark: what retrieval saves in diffusion compute, through the generator seam.

One fixed 10-shot plan is rendered with decision mixes of 0, 25, 50, 75 and 100 % reuse (the
best-scoring shots are reused; the rest are split by score, the higher half restyled at a
strength derived from its score, the lower half filled from its best keyframe and the previous
shot's last frame), and against generating every shot from scratch with the same models (the fill
model with no context, or — for a model that needs a frame — the restyle model at strength 1).
A reuse shot costs no generator call. Cost is counted denoiser calls × latent frames per call.

Prints one JSON line; `--table` adds a human table after it. Without model arguments it builds a
tiny random LTXConditionPipeline (tests/tiny_pipelines.py) in a temporary folder and uses it for
both roles: on CPU that measures the accounting and the overheads, not real model speed. Pass
real model ids/folders (and a GPU) for real figures. The cost ratio compares like with like when
one model family serves every role; the seconds ratio is comparable across models.

    python benchmarks/generate.py [--restyle-model M] [--fill-model M] [--steps 4] [--table]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag_video.generate.base import FillContext, GenerationError, GenResult  # noqa: E402
from rag_video.generate.diffusion import DiffusionGenerator, strength_from_score  # noqa: E402

REUSE_THRESHOLD, FILL_THRESHOLD = 0.85, 0.55
MIXES = (0, 25, 50, 75, 100)


@dataclass(frozen=True)
class PlannedShot:
    """One shot of the fixed plan: its text, length and its best candidate's retrieval score."""

    index: int
    text: str
    frames: int
    score: float


PLAN = [
    PlannedShot(i, text, frames, score)
    for i, (text, frames, score) in enumerate(
        [
            ("a city street at night", 8, 0.95),
            ("a dog running on the beach", 12, 0.91),
            ("waves on the sea at dusk", 6, 0.88),
            ("a car on a mountain road", 10, 0.84),
            ("a woman walking in the rain", 9, 0.80),
            ("a painting of the sky", 7, 0.74),
            ("a crowd in a market", 11, 0.69),
            ("a train crossing a bridge", 8, 0.63),
            ("a cat asleep on a sofa", 6, 0.58),
            ("fireworks over the city", 10, 0.52),
        ]
    )
]


def source_clip(shot: PlannedShot, size: tuple[int, int]) -> list[np.ndarray]:
    """The retrieved clip of a shot's best candidate: a deterministic moving colour gradient."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.array(
        [(shot.index * 53) % 256, (shot.index * 97) % 256, (shot.index * 29) % 256], np.float32
    )
    frames = []
    for t in range(shot.frames):
        ramp = ((x + 3 * t) / w * 128 + (y / h) * 64)[..., None]
        frames.append(np.clip(base + ramp, 0, 255).astype(np.uint8))
    return frames


def decisions(reuse_pct: int) -> list[str]:
    """Reuse the best-scoring shots; split the rest by score: restyle the upper half (and the odd
    one), fill the lower half."""
    n = len(PLAN)
    reuse = math.floor(n * reuse_pct / 100 + 0.5)
    rest = n - reuse
    restyle = math.ceil(rest / 2)
    by_score = sorted(PLAN, key=lambda s: -s.score)
    kind = {s.index: "reuse" for s in by_score[:reuse]}
    kind.update({s.index: "restyle" for s in by_score[reuse : reuse + restyle]})
    kind.update({s.index: "fill" for s in by_score[reuse + restyle :]})
    return [kind[s.index] for s in PLAN]


@dataclass
class Spend:
    """What rendering a plan cost."""

    calls: int = 0  # generator calls (restyle/fill requests)
    denoiser_calls: int = 0
    cost: int = 0  # Σ denoiser calls × latent frames per call
    seconds: float = 0.0

    def add(self, result: GenResult) -> None:
        self.calls += 1
        self.denoiser_calls += result.steps
        self.cost += result.steps * result.latent_frames


def render(
    gen: DiffusionGenerator, kinds: list[str], size: tuple[int, int], steps: int, seed: int
) -> Spend:
    """Render the plan with per-shot decisions; return the counted spend and wall seconds."""
    spend, previous_last = Spend(), None
    started = time.perf_counter()
    for shot, kind in zip(PLAN, kinds, strict=False):
        clip = source_clip(shot, size)
        if kind == "reuse":
            frames = clip
        elif kind == "restyle":
            strength = strength_from_score(shot.score, REUSE_THRESHOLD, FILL_THRESHOLD)
            result = gen.restyle(
                clip, shot.text, "film still", strength, size, steps, seed=seed + shot.index
            )
            spend.add(result)
            frames = result.frames
        else:
            context = FillContext(reference=clip[len(clip) // 2], first=previous_last)
            result = gen.fill(context, shot.text, shot.frames, size, steps, seed=seed + shot.index)
            spend.add(result)
            frames = result.frames
        previous_last = frames[-1]
    spend.seconds = time.perf_counter() - started
    return spend


def render_from_scratch(
    gen: DiffusionGenerator, size: tuple[int, int], steps: int, seed: int
) -> tuple[Spend, str]:
    """Every shot generated with no retrieval: fill without context, or restyle at strength 1."""
    try:
        gen.fill(FillContext(), PLAN[0].text, 2, size, 1, seed=seed)
        method = "fill without context"
    except GenerationError:
        method = "restyle at strength 1.0"
    spend = Spend()
    started = time.perf_counter()
    for shot in PLAN:
        if method.startswith("fill"):
            result = gen.fill(
                FillContext(), shot.text, shot.frames, size, steps, seed=seed + shot.index
            )
        else:
            grey = [np.full((size[1], size[0], 3), 127, np.uint8)] * shot.frames
            result = gen.restyle(
                grey, shot.text, "film still", 1.0, size, steps, seed=seed + shot.index
            )
        spend.add(result)
    spend.seconds = time.perf_counter() - started
    return spend, method


def fastest(runs: list[tuple[Spend, str]]) -> tuple[Spend, str]:
    """The fastest of repeated renders; their counted spend must agree (it is deterministic)."""
    counts = {(r.calls, r.denoiser_calls, r.cost) for r, _ in runs}
    if len(counts) != 1:
        raise RuntimeError(f"repeated renders counted different spends: {sorted(counts)}")
    return min(runs, key=lambda run: run[0].seconds)


def warm_up(gen: DiffusionGenerator, size: tuple[int, int]) -> float:
    """Load both pipelines and run one tiny call each, so the first mix pays no start-up cost."""
    started = time.perf_counter()
    clip = source_clip(PLAN[0], size)[:2]
    gen.restyle(clip, "warm up", None, 1.0, size, 1)
    gen.fill(FillContext(reference=clip[0]), "warm up", 2, size, 1)
    return time.perf_counter() - started


def tiny_model(folder: Path) -> str:
    """Build (or reuse) a tiny random LTXConditionPipeline under folder; it serves both roles."""
    sys.path.insert(0, str(ROOT / "tests"))
    import tiny_pipelines

    return str(tiny_pipelines.build_all(folder, ["ltx_condition"])["ltx_condition"])


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--restyle-model", help="diffusers id or folder (default: tiny random LTXCondition)"
    )
    parser.add_argument(
        "--fill-model", help="diffusers id or folder (default: tiny random LTXCondition)"
    )
    parser.add_argument("--tiny-dir", type=Path, help="where to build/reuse the tiny pipelines")
    parser.add_argument(
        "--size", type=parse_size, default=(48, 32), help="output WxH (default 48x32)"
    )
    parser.add_argument(
        "--gen-size",
        type=parse_size,
        default=None,
        help="generation WxH (default 32x32 for tiny models, else the model's native size)",
    )
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-window", type=int, default=None)
    parser.add_argument(
        "--repeat", type=int, default=3, help="renders per mix; the fastest is reported"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 for the tiny models, else torch's default)",
    )
    parser.add_argument("--table", action="store_true", help="also print a human table")
    return parser.parse_args(argv)


def mix_row(pct: int, kinds: list[str], spend: Spend, scratch: Spend) -> dict:
    """One mix's JSON record, with its ratios against from-scratch."""
    return {
        "reuse_pct": pct,
        "reuse": kinds.count("reuse"),
        "restyle": kinds.count("restyle"),
        "fill": kinds.count("fill"),
        "generator_calls": spend.calls,
        "denoiser_calls": spend.denoiser_calls,
        "cost": spend.cost,
        "seconds": round(spend.seconds, 3),
        "cost_ratio": round(spend.cost / scratch.cost, 4),
        "seconds_ratio": round(spend.seconds / scratch.seconds, 4),
    }


def measure(gen: DiffusionGenerator, args: argparse.Namespace) -> dict:
    """Warm up, render from scratch and every mix; the measured part of the report."""
    warm = warm_up(gen, args.size)
    scratch, method = fastest(
        [render_from_scratch(gen, args.size, args.steps, args.seed) for _ in range(args.repeat)]
    )
    mixes = []
    for pct in MIXES:
        kinds = decisions(pct)
        spend, _ = fastest(
            [(render(gen, kinds, args.size, args.steps, args.seed), "") for _ in range(args.repeat)]
        )
        mixes.append(mix_row(pct, kinds, spend, scratch))
    return {
        "device": gen.adapter("fill").pipe.device.type,
        "restyle_pipeline": gen.adapter("restyle").pipeline_class,
        "fill_pipeline": gen.adapter("fill").pipeline_class,
        "cost_unit": "denoiser calls x latent frames",
        "load_seconds": round(gen.load_seconds, 3),
        "warmup_seconds": round(warm, 3),
        "scratch": {
            "method": method,
            "generator_calls": scratch.calls,
            "denoiser_calls": scratch.denoiser_calls,
            "cost": scratch.cost,
            "seconds": round(scratch.seconds, 3),
        },
        "mixes": mixes,
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and print its JSON line (and the table with --table)."""
    import torch

    args = parse_args(argv)
    tiny = not (args.restyle_model and args.fill_model)
    gen_size = args.gen_size or ((32, 32) if tiny else None)
    if args.threads or tiny:  # tiny models: one thread is faster and steadier than contended two
        torch.set_num_threads(args.threads or 1)
    with tempfile.TemporaryDirectory(prefix="rag-video-bench-") as tmp:
        tiny_folder = tiny_model(args.tiny_dir or Path(tmp)) if tiny else ""
        with DiffusionGenerator(
            restyle_model=args.restyle_model or tiny_folder,
            fill_model=args.fill_model or tiny_folder,
            device=args.device,
            gen_size=gen_size,
            max_window=args.max_window,
        ) as gen:
            measured = measure(gen, args)
    report = {
        "benchmark": "generate",
        "shots": len(PLAN),
        "frames": sum(s.frames for s in PLAN),
        "steps": args.steps,
        "repeat": args.repeat,
        "threads": torch.get_num_threads(),
        "size": list(args.size),
        "gen_size": list(gen_size) if gen_size else None,
        "restyle_model": args.restyle_model or "tiny-random",
        "fill_model": args.fill_model or "tiny-random",
        **measured,
    }
    sys.stdout.write(json.dumps(report) + "\n")
    if args.table:
        sys.stdout.write(table(report))
    return report


def table(report: dict) -> str:
    """A human table of the mixes against from-scratch."""
    s = report["scratch"]
    scratch_mix = "0/0/10 " + ("fill" if s["method"].startswith("fill") else "restyle@1")
    lines = [
        f"{'mix':>10} {'reuse/restyle/fill':>19} {'calls':>6} {'cost':>7} {'seconds':>8} "
        f"{'cost×':>7} {'time×':>7}",
        f"{'scratch':>10} {scratch_mix:>19} "
        f"{s['denoiser_calls']:>6} "
        f"{s['cost']:>7} {s['seconds']:>8.2f} {1:>7.3f} {1:>7.3f}",
    ]
    for m in report["mixes"]:
        split = f"{m['reuse']}/{m['restyle']}/{m['fill']}"
        name = f"{m['reuse_pct']}% reuse"
        lines.append(
            f"{name:>10} {split:>19} {m['denoiser_calls']:>6} {m['cost']:>7} "
            f"{m['seconds']:>8.2f} {m['cost_ratio']:>7.3f} {m['seconds_ratio']:>7.3f}"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

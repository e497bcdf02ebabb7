"""Benchmark: image embedding throughput against the machine's measured GEMM peak.

Builds the encoder with random weights (``pretrained none``: the same compute as the real model, no
download) and measures, on the same frames in the same run:

- ``embed_images_per_s``: `Encoder.encode_images` end to end (batched torch preprocessing +
  model) at the resolved precision (``auto`` → bf16 on CPUs with native bf16);
- ``bare_encode_images_per_s``: a bare fp32 ``model.encode_image`` loop over already preprocessed
  tensors, same batch size (the baseline without our preprocessing and without low precision);
- ``gemm_gflops``: the best of a 4096×4096 matmul in the encoder's dtype, measured just before and
  just after the embedding runs (the machine is shared, so both ends are sampled);
- ``flops_per_image``: counted with ``torch.utils.flop_counter.FlopCounterMode`` on one image with
  autograd enabled (so nn.MultiheadAttention decomposes into countable matmuls instead of its fused
  inference kernel). It counts convolution and (add)mm FLOPs as 2×MACs; the two attention matmuls
  inside CPU SDPA (~1% for ViT-B-32) are not counted, so the achieved figure is slightly
  conservative.
- ``embed_gflops`` = ``flops_per_image`` × ``embed_images_per_s``; ``share_of_gemm_peak`` = that
  over ``gemm_gflops``; ``cosine_vs_fp32_min``: the least cosine between the encoder's embeddings
  and the fp32 ones of the same frames.

Run: ``python benchmarks/embed.py [--n-images N] [--model NAME] [--batch-size B] [--table]``;
prints one JSON line. Importable: ``measure(n_images=256, model="ViT-B-32") -> dict``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable

import numpy as np

FRAME_SIZE = (224, 398)  # (h, w): what the ingest decode pass hands over for 16:9 footage
GEMM_N = 4096


def synthetic_frames(n: int, size: tuple[int, int] = FRAME_SIZE, seed: int = 0) -> list[np.ndarray]:
    """`n` structured RGB uint8 frames (gradients, a moving square, noise), reproducible by
    `seed`."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        phase = i / max(n, 1)
        base = np.stack([xx / w * 255, yy / h * 255, np.full_like(xx, 255 * phase)], axis=-1)
        top, left = int((h - 40) * phase), int((w - 40) * (1 - phase))
        base[top : top + 40, left : left + 40] = rng.integers(0, 256, 3)
        noise = rng.normal(0, 12, size=base.shape)
        frames.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return frames


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Shortest wall time of `repeats` calls of `fn` (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_gflops(dtype_name: str, n: int = GEMM_N, repeats: int = 3) -> float:
    """Achieved GFLOP/s of an n×n×n matmul in `dtype_name` (fp32/bf16/fp16)."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    with torch.inference_mode():
        seconds = best_seconds(lambda: a @ b, repeats)
    return 2 * n**3 / seconds / 1e9


def flops_per_image(model: object, image_size: int) -> float:
    """FLOPs (2×MACs) of one `encode_image` call, counted by FlopCounterMode with autograd on."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    pixels = torch.zeros(1, 3, image_size, image_size, requires_grad=True)
    with counter:
        model.encode_image(pixels)
    return float(counter.get_total_flops())


def bare_fp32_loop(model: object, pixels: object, batch_size: int) -> tuple[float, np.ndarray]:
    """(seconds, normalised features) of a bare fp32 `encode_image` loop over preprocessed
    pixels."""
    import torch
    import torch.nn.functional as F

    outputs = []
    with torch.inference_mode():
        model.encode_image(pixels[:batch_size])  # warm-up
        start = time.perf_counter()
        for i in range(0, len(pixels), batch_size):
            outputs.append(model.encode_image(pixels[i : i + batch_size]))
        seconds = time.perf_counter() - start
        features = F.normalize(torch.cat(outputs).float(), dim=-1).numpy()
    return seconds, features


def measure(n_images: int = 256, model: str = "ViT-B-32", *, batch_size: int = 64) -> dict:
    """Run the benchmark once and return the figures (see the module docstring)."""
    import torch

    from rag_video.embed import load_encoder

    frames = synthetic_frames(n_images)
    encoder = load_encoder(model, "none", device="cpu", precision="auto", batch_size=batch_size)
    reference = load_encoder(model, "none", device="cpu", precision="fp32", batch_size=batch_size)
    flops = flops_per_image(reference.model.requires_grad_(True), reference.image_size)
    reference.model.requires_grad_(False)
    pixels = reference.preprocess(frames)

    gemm_before = gemm_gflops(encoder.precision)
    encoder.encode_images(frames[: min(8, n_images)])  # warm-up (oneDNN primitive creation)
    start = time.perf_counter()
    embeddings = encoder.encode_images(frames)
    embed_seconds = time.perf_counter() - start
    gemm_after = gemm_gflops(encoder.precision)
    bare_seconds, fp32_embeddings = bare_fp32_loop(reference.model, pixels, batch_size)

    gemm = max(gemm_before, gemm_after)
    embed_rate = n_images / embed_seconds
    embed_gflops = flops * embed_rate / 1e9
    cosines = np.sum(embeddings * fp32_embeddings, axis=1)
    return {
        "benchmark": "embed",
        "model": model,
        "pretrained": "none",
        "device": encoder.device,
        "precision": encoder.precision,
        "n_images": n_images,
        "frame_size": list(FRAME_SIZE),
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "embed_images_per_s": round(embed_rate, 2),
        "bare_encode_images_per_s": round(n_images / bare_seconds, 2),
        "bare_encode": f"fp32 model.encode_image on preprocessed tensors, batch {batch_size}",
        "flops_per_image": round(flops),
        "flops_method": (
            "FlopCounterMode, 1 image, autograd on (conv+addmm+mm, 2*MACs; SDPA not counted)"
        ),
        "gemm_gflops": round(gemm, 1),
        "gemm_gflops_before_after": [round(gemm_before, 1), round(gemm_after, 1)],
        "gemm": f"{GEMM_N}x{GEMM_N} matmul, {encoder.precision}",
        "embed_gflops": round(embed_gflops, 1),
        "bare_encode_gflops": round(flops * n_images / bare_seconds / 1e9, 1),
        "share_of_gemm_peak": round(embed_gflops / gemm, 3),
        "cosine_vs_fp32_min": round(float(cosines.min()), 5),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--table", action="store_true", help="also print a human table after the JSON"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = measure(args.n_images, args.model, batch_size=args.batch_size)
    print(json.dumps(result))
    if args.table:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

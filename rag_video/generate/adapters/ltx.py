"""The LTX-Video family: LTXConditionPipeline as latent-SDEdit restyle and as first/last-frame
fill."""

from __future__ import annotations

from typing import Any

import numpy as np

from rag_video.generate.adapters.base import FillAdapter, RestyleAdapter, frames_from_output, to_pil
from rag_video.generate.base import FillContext


class _LTXFamily:
    """Native size, window and frame rules of LTX-Video (frames = k × temporal ratio + 1)."""

    pipe: Any
    cuda_dtype = "bfloat16"
    default_window = 121
    default_steps = 40

    @property
    def native_size(self) -> tuple[int, int]:
        return 704, 480

    @property
    def size_multiple(self) -> int:
        return max(32, int(self.pipe.vae_spatial_compression_ratio))

    @property
    def _ratio(self) -> int:
        return int(self.pipe.vae_temporal_compression_ratio)

    def valid_frames(self, n: int, *, up: bool = True) -> int:
        k = -(-(n - 1) // self._ratio) if up else (n - 1) // self._ratio
        return max(0, k) * self._ratio + 1

    def latent_frames(self, n_frames: int) -> int:
        return (n_frames - 1) // self._ratio + 1


class LTXRestyle(_LTXFamily, RestyleAdapter):
    """LTXConditionPipeline video-to-video: the clip's latents noised to `denoise_strength`.

    The clip is VAE-encoded and passed as `latents`; the pipeline noises them to the first sigma
    of the truncated schedule and runs about strength × steps calls (SDEdit, as in LTX-Video's
    own multi-scale refinement).
    """

    pipeline_class = "LTXConditionPipeline"

    def _encode(self, frames: list[np.ndarray], size: tuple[int, int], generator: Any) -> Any:
        import torch
        from diffusers.pipelines.ltx.pipeline_ltx_condition import retrieve_latents

        pipe = self.pipe
        video = pipe.video_processor.preprocess_video(
            [to_pil(f, size) for f in frames], size[1], size[0]
        )
        video = video.to(pipe._execution_device, dtype=pipe.vae.dtype)
        with torch.no_grad():
            latents = retrieve_latents(pipe.vae.encode(video), generator=generator)
        return pipe._normalize_latents(latents, pipe.vae.latents_mean, pipe.vae.latents_std)

    def run(self, frames, prompt, strength, steps, size, generator, callback):
        latents = self._encode(frames, size, generator)
        out = self.pipe(
            latents=latents,
            denoise_strength=strength,
            prompt=prompt,
            num_frames=len(frames),
            **self._common(steps, size, generator, callback),
        )
        return frames_from_output(out.frames)


class LTXFill(_LTXFamily, FillAdapter):
    """LTXConditionPipeline first-and-last-frame fill: image conditions at frame 0 and/or the end.

    `first` (the previous shot's last frame) pins frame 0 and `last` (the next shot's first
    frame) pins the final frame; with neither, `reference` pins frame 0; with nothing the
    pipeline generates from the prompt alone.
    """

    pipeline_class = "LTXConditionPipeline"

    def _conditions(self, context: FillContext, n_frames: int, size: tuple[int, int]) -> list:
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        conditions = []
        if context.first is not None:
            conditions.append(LTXVideoCondition(image=to_pil(context.first, size), frame_index=0))
        if context.last is not None and (n_frames > 1 or not conditions):
            conditions.append(
                LTXVideoCondition(image=to_pil(context.last, size), frame_index=n_frames - 1)
            )
        if not conditions and context.reference is not None:
            conditions.append(
                LTXVideoCondition(image=to_pil(context.reference, size), frame_index=0)
            )
        return conditions

    def run(self, context, prompt, n_frames, steps, size, generator, callback):
        conditions = self._conditions(context, n_frames, size)
        out = self.pipe(
            conditions=conditions or None,
            prompt=prompt,
            num_frames=n_frames,
            **self._common(steps, size, generator, callback),
        )
        return frames_from_output(out.frames)

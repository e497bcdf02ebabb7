"""The UNet family (SD-1.5 / SVD): AnimateDiff video-to-video restyle and SVD image-to-video
fill."""

from __future__ import annotations

from typing import Any

from rag_video.generate.adapters.base import FillAdapter, RestyleAdapter, frames_from_output, to_pil
from rag_video.generate.base import FillContext, GenerationError


class _SDFamily:
    """Native size and frame window of UNet-based pipelines (SD-1.5 / SVD)."""

    pipe: Any

    @property
    def native_size(self) -> tuple[int, int]:
        side = int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)
        return side, side


class AnimateDiffRestyle(_SDFamily, RestyleAdapter):
    """AnimateDiffVideoToVideoPipeline: SDEdit of the clip, about strength × steps calls."""

    pipeline_class = "AnimateDiffVideoToVideoPipeline"
    default_steps = 25

    @classmethod
    def load(cls, path: str, motion_adapter: str | None = None, **kwargs: Any) -> Any:
        """Load a saved AnimateDiff video-to-video folder, or an SD-1.5 base plus a motion
        adapter."""
        import diffusers

        if motion_adapter is not None:
            shared = {
                k: v for k, v in kwargs.items() if k in ("dtype", "torch_dtype", "local_files_only")
            }
            kwargs["motion_adapter"] = diffusers.MotionAdapter.from_pretrained(
                motion_adapter, **shared
            )
        return diffusers.AnimateDiffVideoToVideoPipeline.from_pretrained(path, **kwargs)

    @property
    def frame_window(self) -> int:
        return min(self.default_window, int(self.pipe.unet.config.motion_max_seq_length))

    def run(self, frames, prompt, strength, steps, size, generator, callback):
        video = [to_pil(f, size) for f in frames]
        out = self.pipe(
            video=video,
            prompt=prompt,
            strength=strength,
            **self._common(steps, size, generator, callback),
        )
        return frames_from_output(out.frames)


class SVDFill(_SDFamily, FillAdapter):
    """StableVideoDiffusionPipeline: image-to-video from one keyframe; the prompt is not used.

    The keyframe is the best retrieved match (`reference`), else the previous shot's last frame
    (`first`); with only the next shot's first frame (`last`) the clip is generated from it and
    reversed, so it ends on that frame.
    """

    pipeline_class = "StableVideoDiffusionPipeline"

    @property
    def frame_window(self) -> int:
        return int(self.pipe.unet.config.num_frames)

    def valid_frames(self, n: int, *, up: bool = True) -> int:
        """At least 2: with one frame the pipeline's guidance ramp is a single value (1.0), it
        drops classifier-free guidance and fails on its doubled image latents."""
        return max(2, n)

    def plan_context(self, context: FillContext) -> tuple[FillContext, bool]:
        if context.reference is not None or context.first is not None:
            return context, False
        if context.last is not None:
            return FillContext(reference=context.last), True
        raise GenerationError(
            "StableVideoDiffusionPipeline fill needs a context frame "
            "(reference, first or last); got none"
        )

    def run(self, context, prompt, n_frames, steps, size, generator, callback):
        key = context.reference if context.reference is not None else context.first
        out = self.pipe(
            image=to_pil(key, size),
            num_frames=n_frames,
            decode_chunk_size=min(8, n_frames),
            **self._common(steps, size, generator, callback),
        )
        return frames_from_output(out.frames)

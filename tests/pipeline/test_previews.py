"""Previews while denoising, and stopping a render at once, against the real tiny Wan model."""

import io
import logging
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from generation.pipeline import previews, runner
from tests.pipeline.conftest import REQUEST, Spec, run_python

# The demo renders 9 frames of 64x48: latents of 3 frames of 8x6, shown at the video's own size.
DEMO_PREVIEW_SHAPE = (3, 48, 64, 3)


class Recorder:
    def __init__(self) -> None:
        self.previews: list[tuple[int, int, np.ndarray]] = []

    def __call__(self, step: int, total: int, frames: np.ndarray) -> None:
        self.previews.append((step, total, frames))

    @property
    def steps(self) -> list[int]:
        return [step for step, _, _ in self.previews]


def wan_latents(frames: int = 9, height: int = 60, width: int = 104) -> torch.Tensor:
    """Latents of a 33-frame 480x832 video, the benchmark size."""
    return torch.randn(1, previews.LATENT_CHANNELS, frames, height, width)


def smooth_frames() -> np.ndarray:
    ramp = np.linspace(0, 255, 147 * 256 * 3).reshape(147, 256, 3)
    return np.stack([np.roll(ramp, 40 * i, axis=1) for i in range(4)]).astype(np.uint8)


# --- turning latents into preview frames --------------------------------------------------------


def test_a_preview_is_a_few_uint8_rgb_frames_no_larger_than_256_pixels() -> None:
    frames = previews.latents_to_preview(wan_latents())

    assert isinstance(frames, np.ndarray)
    assert frames.dtype == np.uint8
    assert frames.shape == (4, 147, 256, 3)


def test_a_portrait_preview_is_limited_by_its_height() -> None:
    frames = previews.latents_to_preview(wan_latents(height=104, width=60))

    assert frames.shape == (4, 256, 147, 3)


def test_a_preview_is_never_larger_than_the_video() -> None:
    frames = previews.latents_to_preview(wan_latents(frames=3, height=6, width=8))

    assert frames.shape == DEMO_PREVIEW_SHAPE


@pytest.mark.parametrize(
    ("latent_frames", "expected"),
    [(21, [0, 7, 13, 20]), (9, [0, 3, 5, 8]), (3, [0, 1, 2]), (1, [0])],
)
def test_preview_frames_are_spread_evenly_from_first_to_last(latent_frames, expected) -> None:
    assert previews.frame_indices(latent_frames) == expected


def test_preview_colours_come_from_the_wan_latent_rgb_factors() -> None:
    zeros = torch.zeros(1, 16, 2, 4, 4)
    ones_in_channel_two = zeros.clone()
    ones_in_channel_two[:, 2] = 1.0

    blank = previews.latents_to_preview(zeros)
    tinted = previews.latents_to_preview(ones_in_channel_two)

    # RGB = latents @ factors + bias, in [-1, 1], shown as (x + 1) / 2.
    bias = np.array(previews.WAN21_RGB_BIAS)
    assert (blank == np.round((bias + 1) / 2 * 255)).all()
    assert (tinted == np.round((bias + previews.WAN21_RGB_FACTORS[2] + 1) / 2 * 255)).all()


def test_preview_refuses_latents_that_are_not_wan_video_latents() -> None:
    with pytest.raises(ValueError, match="Wan latents"):
        previews.latents_to_preview(torch.zeros(1, 4, 9, 8, 8))


# --- encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("image_format", "pil_format"), [("WEBP", "WEBP"), ("JPEG", "JPEG")])
def test_encode_preview_puts_the_frames_side_by_side_in_one_small_image(
    image_format: str, pil_format: str
) -> None:
    data = previews.encode_preview(smooth_frames(), image_format=image_format)

    assert len(data) < 30_000
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size, image.mode) == (pil_format, (4 * 256, 147), "RGB")


def test_encode_preview_keeps_even_a_preview_of_pure_noise_under_30_kb() -> None:
    data = previews.encode_preview(previews.latents_to_preview(wan_latents()))

    assert len(data) < 30_000
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "WEBP"


def test_encode_preview_refuses_float_frames() -> None:
    with pytest.raises(ValueError, match="uint8"):
        previews.encode_preview(np.zeros((2, 8, 8, 3), dtype=np.float32))


def test_importing_previews_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from generation.pipeline.previews import encode_preview, latents_to_preview\n"
        "print(sorted({'torch', 'diffusers', 'transformers'} & set(sys.modules)))"
    )
    assert run_python(code) == "[]"


# --- previews during a render ------------------------------------------------------------------


def test_render_sends_a_preview_every_k_steps_but_not_for_the_last_step(spec: Spec) -> None:
    recorder = Recorder()

    runner.render(
        spec, replace(REQUEST, steps=6), lambda d, t: True, on_preview=recorder, preview_every=2
    )

    assert recorder.steps == [2, 4]
    for _, total, frames in recorder.previews:
        assert total == 6
        assert (frames.shape, frames.dtype) == (DEMO_PREVIEW_SHAPE, np.uint8)


def test_render_sends_previews_in_step_order_between_progress_reports(spec: Spec) -> None:
    events: list[tuple[str, int]] = []

    runner.render(
        spec,
        replace(REQUEST, steps=7),
        lambda done, total: events.append(("step", done)) or True,
        on_preview=lambda step, total, frames: events.append(("preview", step)),
        preview_every=3,
    )

    assert events == [
        *[("step", 1), ("step", 2), ("step", 3), ("preview", 3)],
        *[("step", 4), ("step", 5), ("step", 6), ("preview", 6), ("step", 7)],
    ]


def test_render_sends_no_previews_unless_asked_to(spec: Spec) -> None:
    recorder = Recorder()

    runner.render(spec, REQUEST, lambda d, t: True, on_preview=recorder, preview_every=0)
    runner.render(spec, REQUEST, lambda d, t: True, preview_every=1)

    assert recorder.previews == []


def test_previews_do_not_change_the_rendered_video(spec: Spec) -> None:
    plain = runner.render(spec, REQUEST, lambda d, t: True)
    previewed = runner.render(
        spec, REQUEST, lambda d, t: True, on_preview=Recorder(), preview_every=1
    )

    assert np.array_equal(plain, previewed)


def test_no_preview_is_sent_for_or_after_the_step_that_cancels(spec: Spec) -> None:
    recorder = Recorder()

    with pytest.raises(runner.RenderCancelled, match="step 3 of 4"):
        runner.render(spec, REQUEST, lambda d, t: d < 3, on_preview=recorder, preview_every=1)

    assert recorder.steps == [1, 2]


def test_a_failing_preview_is_logged_and_does_not_fail_the_render(
    spec: Spec, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def broken(step: int, total: int, frames: np.ndarray) -> None:
        calls.append(step)
        raise OSError("channel layer is down")

    with caplog.at_level(logging.ERROR, logger="generation.pipeline.runner"):
        frames = runner.render(spec, REQUEST, lambda d, t: True, on_preview=broken, preview_every=1)

    assert frames.shape == (9, 48, 64, 3)
    assert calls == [1]  # previews are off for the rest of this render
    assert "Preview at step 1 failed" in caplog.text


def test_previews_show_the_denoised_estimate_on_a_flow_matching_path() -> None:
    # Flow matching: x_s = (1 - s) * x0 + s * noise; two consecutive samples pin down x0.
    x0, noise = torch.randn(1, 16, 2, 4, 4), torch.randn(1, 16, 2, 4, 4)
    sigmas = torch.tensor([1.0, 0.8, 0.5, 0.0])
    pipe = SimpleNamespace(scheduler=SimpleNamespace(sigmas=sigmas), num_timesteps=3)
    after_step_1, after_step_2 = ((1 - s) * x0 + s * noise for s in (0.8, 0.5))

    estimate = runner._clean_estimate(pipe, 1, after_step_1, after_step_2)

    assert torch.allclose(estimate, x0, atol=1e-5)
    assert runner._clean_estimate(pipe, 0, None, after_step_1) is after_step_1


# --- cancelling --------------------------------------------------------------------------------


def test_a_cancelled_render_skips_the_vae_decode_and_the_next_render_works(
    spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = runner.render(spec, REQUEST, lambda d, t: True)
    vae = runner.load_pipeline(spec).vae
    decodes: list[tuple] = []
    decode = vae.decode
    monkeypatch.setattr(vae, "decode", lambda *a, **k: decodes.append(a) or decode(*a, **k))
    steps: list[int] = []

    with pytest.raises(runner.RenderCancelled, match="step 2 of 4"):
        runner.render(spec, REQUEST, lambda done, total: steps.append(done) or done < 2)

    assert steps == [1, 2]
    assert decodes == []
    assert np.array_equal(runner.render(spec, REQUEST, lambda d, t: True), expected)
    assert len(decodes) == 1

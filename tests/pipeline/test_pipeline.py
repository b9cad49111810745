"""The pipeline package against a real tiny Wan model built on the spot: no downloads, no Django."""

import json
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from generation.pipeline import runner
from generation.pipeline.constraints import check_shape
from generation.pipeline.demo import ensure_demo_model
from generation.pipeline.video import VideoEncodingError, encode_video, probe_video, to_uint8
from tests.pipeline.conftest import REQUEST, Spec, run_python


def render_all_steps(spec: Spec, request: runner.RenderRequest = REQUEST) -> np.ndarray:
    return runner.render(spec, request, lambda done, total: True)


# --- demo model ---------------------------------------------------------------------------------


def test_demo_model_loads_back_as_a_wan_pipeline_while_offline(demo_model: Path) -> None:
    code = (
        "import sys; from diffusers import DiffusionPipeline; "
        "print(type(DiffusionPipeline.from_pretrained(sys.argv[1])).__name__)"
    )
    code = code.replace("sys.argv[1]", repr(str(demo_model)))
    assert run_python(code, HF_HUB_OFFLINE="1").splitlines()[-1] == "WanPipeline"


def test_ensure_demo_model_leaves_an_existing_model_alone(demo_model: Path) -> None:
    index = demo_model / "model_index.json"
    before = index.stat().st_mtime_ns

    assert ensure_demo_model(demo_model) is False
    assert index.stat().st_mtime_ns == before
    assert json.loads(index.read_text())["_class_name"] == "WanPipeline"


def test_demo_model_weights_are_the_same_on_every_build(demo_model: Path, tmp_path: Path) -> None:
    ensure_demo_model(tmp_path / "again")

    for part in (
        "transformer/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
    ):
        assert (tmp_path / "again" / part).read_bytes() == (demo_model / part).read_bytes()


def test_demo_model_build_leaves_no_staging_folder(tmp_path: Path) -> None:
    ensure_demo_model(tmp_path / "model")

    assert [p.name for p in tmp_path.iterdir()] == ["model"]


# --- loading and rendering ----------------------------------------------------------------------


def test_load_pipeline_returns_the_same_pipeline_and_loads_it_once(spec: Spec) -> None:
    first = runner.load_pipeline(spec)
    second = runner.load_pipeline(spec)

    assert second is first
    assert runner.loaded_pipeline_count() == 1


def test_load_pipeline_refuses_an_unknown_dtype(spec: Spec) -> None:
    with pytest.raises(ValueError, match="dtype"):
        runner.load_pipeline(replace(spec, dtype="float8"))


def test_render_reports_every_step_and_returns_uint8_pixels(spec: Spec) -> None:
    steps: list[tuple[int, int]] = []

    frames = runner.render(spec, REQUEST, lambda done, total: steps.append((done, total)) or True)

    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert frames.shape == (9, 48, 64, 3)
    assert frames.dtype == np.uint8
    assert frames.flags.c_contiguous and frames.flags.writeable


def test_the_pixels_are_the_decoded_float_frames_rounded(spec: Spec) -> None:
    """Converted on the render's device, the pixels are exactly what rounding the float frames
    (the pipeline's "np" output, which the encoder used to convert) gives."""
    pipe = runner.load_pipeline(spec)
    floats = pipe(
        prompt=REQUEST.prompt,
        negative_prompt=REQUEST.negative_prompt,
        num_frames=REQUEST.num_frames,
        width=REQUEST.width,
        height=REQUEST.height,
        num_inference_steps=REQUEST.steps,
        guidance_scale=REQUEST.guidance_scale,
        generator=torch.Generator(device="cpu").manual_seed(REQUEST.seed),
        output_type="np",
    ).frames[0]

    pixels = render_all_steps(spec)

    assert np.array_equal(pixels, np.round(np.clip(floats, 0.0, 1.0) * 255.0).astype(np.uint8))


def test_to_pixels_rounds_and_clips_a_frame_tensor_without_keeping_it_float() -> None:
    video = torch.tensor([0.0, 0.2 / 255, 1.7 / 255, 0.4, 1.0, 1.2, -0.1]).repeat(2, 3, 2, 1)

    with torch.inference_mode():
        pixels = runner.to_pixels(video)

    assert (pixels.dtype, pixels.shape) == (np.uint8, (2, 2, 7, 3))
    assert pixels[0, 0, :, 0].tolist() == [0, 0, 2, 102, 255, 255, 0]


def test_the_same_seed_renders_the_same_frames(spec: Spec) -> None:
    assert np.array_equal(render_all_steps(spec), render_all_steps(spec))


def test_a_different_seed_renders_different_frames(spec: Spec) -> None:
    other = render_all_steps(spec, replace(REQUEST, seed=REQUEST.seed + 1))

    assert not np.allclose(render_all_steps(spec), other)


def test_returning_false_from_on_step_cancels_the_render(spec: Spec) -> None:
    steps: list[int] = []

    def stop_after_two(done: int, total: int) -> bool:
        steps.append(done)
        return done < 2

    with pytest.raises(runner.RenderCancelled, match="step 2 of 4"):
        runner.render(spec, REQUEST, stop_after_two)
    assert steps == [1, 2]


def test_a_cancelled_render_leaves_the_cached_pipeline_usable(spec: Spec) -> None:
    with pytest.raises(runner.RenderCancelled):
        runner.render(spec, REQUEST, lambda done, total: False)

    steps: list[int] = []
    runner.render(spec, REQUEST, lambda done, total: steps.append(done) or True)
    assert steps == [1, 2, 3, 4]


def test_render_refuses_a_shape_the_model_would_silently_round(spec: Spec) -> None:
    with pytest.raises(ValueError, match="num_frames"):
        runner.render(spec, replace(REQUEST, num_frames=10), lambda done, total: True)
    assert runner.loaded_pipeline_count() == 0


# --- shape rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_frames", "width", "height"), [(1, 16, 16), (9, 64, 48), (81, 832, 480)]
)
def test_check_shape_accepts_wan_shapes(num_frames: int, width: int, height: int) -> None:
    assert check_shape(num_frames, width, height) == {}


@pytest.mark.parametrize(
    ("num_frames", "width", "height", "field"),
    [
        (8, 64, 64, "num_frames"),
        (0, 64, 64, "num_frames"),
        (9, 70, 64, "width"),
        (9, 64, 0, "height"),
    ],
)
def test_check_shape_names_the_invalid_field(
    num_frames: int, width: int, height: int, field: str
) -> None:
    errors = check_shape(num_frames, width, height)

    assert list(errors) == [field]
    assert errors[field].startswith(field)


def test_check_shape_reports_every_invalid_field() -> None:
    errors = check_shape(10, 65, 33)

    assert list(errors) == ["num_frames", "width", "height"]


# --- video files --------------------------------------------------------------------------------


def gradient_frames(count: int = 9, height: int = 48, width: int = 64) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, count * height * width * 3, dtype=np.float32)
    return ramp.reshape(count, height, width, 3)


def test_encode_video_writes_a_faststart_h264_yuv420p_mp4_and_a_poster(tmp_path: Path) -> None:
    video, poster = tmp_path / "out.mp4", tmp_path / "poster.jpg"

    encode_video(gradient_frames(), fps=8, video_path=video, poster_path=poster)

    probe = probe_video(video)
    assert (probe.codec, probe.pix_fmt, probe.faststart) == ("h264", "yuv420p", True)
    assert (probe.width, probe.height, probe.frames) == (64, 48, 9)
    with Image.open(poster) as image:
        assert (image.format, image.size) == ("JPEG", (64, 48))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "poster.jpg"]


def test_encode_video_replaces_existing_files(tmp_path: Path) -> None:
    video, poster = tmp_path / "out.mp4", tmp_path / "poster.webp"
    video.write_bytes(b"stale")

    encode_video(gradient_frames(count=5), fps=8, video_path=video, poster_path=poster)

    assert probe_video(video).frames == 5
    with Image.open(poster) as image:
        assert image.format == "WEBP"


def test_encode_video_reports_ffmpeg_errors_and_leaves_no_file(tmp_path: Path) -> None:
    video = tmp_path / "out.mp4"

    with pytest.raises(VideoEncodingError, match="framerate"):
        encode_video(gradient_frames(), fps=0, video_path=video, poster_path=tmp_path / "p.jpg")
    assert list(tmp_path.iterdir()) == []


def test_encode_video_refuses_integer_frames_other_than_uint8(tmp_path: Path) -> None:
    frames = (gradient_frames() * 255).astype(np.int64)

    with pytest.raises(ValueError, match="uint8 pixels or floats"):
        encode_video(frames, fps=8, video_path=tmp_path / "v.mp4", poster_path=tmp_path / "p.jpg")
    assert list(tmp_path.iterdir()) == []


def test_uint8_pixels_and_their_float_frames_encode_to_the_same_video(tmp_path: Path) -> None:
    floats = gradient_frames()
    pixels = np.round(floats * 255).astype(np.uint8)

    encode_video(floats, fps=8, video_path=tmp_path / "f.mp4", poster_path=tmp_path / "f.jpg")
    encode_video(pixels, fps=8, video_path=tmp_path / "p.mp4", poster_path=tmp_path / "p.jpg")

    assert (tmp_path / "f.mp4").read_bytes() == (tmp_path / "p.mp4").read_bytes()
    assert (tmp_path / "f.jpg").read_bytes() == (tmp_path / "p.jpg").read_bytes()


def test_float_frames_become_pixels_one_frame_at_a_time_as_a_whole_clip_round_would(
    tmp_path: Path,
) -> None:
    floats = np.random.default_rng(3).uniform(-0.2, 1.2, (5, 48, 64, 3)).astype(np.float32)

    pixels = to_uint8(floats)

    assert np.array_equal(pixels, np.round(np.clip(floats, 0.0, 1.0) * 255.0).astype(np.uint8))


def test_a_hung_ffmpeg_is_killed_after_the_encode_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hung = tmp_path / "hung-ffmpeg"
    hung.write_text("#!/bin/sh\nexec sleep 600\n")  # never reads its input, never exits
    hung.chmod(0o755)
    monkeypatch.setattr(
        "generation.pipeline.video.imageio_ffmpeg.get_ffmpeg_exe", lambda: str(hung)
    )
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(VideoEncodingError, match=r"killed after 0\.5 s"):
        encode_video(
            gradient_frames(),
            fps=8,
            video_path=out / "v.mp4",
            poster_path=out / "p.jpg",
            timeout_s=0.5,
        )
    assert list(out.iterdir()) == []


def test_probe_video_sees_a_file_without_faststart(tmp_path: Path) -> None:
    video = tmp_path / "slow.mp4"
    # imageio-ffmpeg's own writer leaves the index at the end, as ffmpeg does by default.
    writer = imageio_ffmpeg.write_frames(str(video), (64, 48), fps=8, macro_block_size=16)
    writer.send(None)
    for frame in (gradient_frames() * 255).astype(np.uint8):
        writer.send(frame)
    writer.close()

    probe = probe_video(video)
    assert (probe.codec, probe.faststart) == ("h264", False)


# --- keeping torch out of the web process --------------------------------------------------------


def test_importing_the_pipeline_package_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import generation.pipeline, generation.pipeline.constraints, generation.pipeline.video\n"
        "import generation.pipeline.runner, generation.pipeline.demo\n"
        "import generation.pipeline.previews\n"
        "print(sorted({'torch', 'diffusers', 'transformers'} & set(sys.modules)))"
    )
    assert run_python(code) == "[]"

"""Cheap previews of a Wan video while it is still being denoised: no VAE, a few frames, ≤ 256 px.

Decoding latents through the VAE costs as much as a couple of denoising steps, so previews use the
"latent RGB factors" approximation instead: each of the 16 latent channels contributes a fixed
amount to red, green and blue. The factors and bias are those ComfyUI publishes for Wan 2.1
(``comfy/latent_formats.py``, class ``Wan21``), fitted by linear regression from latents to
decoded pixels. They map the *normalised* latents a pipeline denoises, ``(z - mean) / std``, which
is what diffusers' ``WanPipeline`` hands to ``callback_on_step_end``, into RGB in [-1, 1].

Everything up to the uint8 frames runs on the latents' device, so only a few hundred kilobytes
cross to the host. Importing this module does not import torch; the functions that take tensors
import it when called.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

MAX_FRAMES = 4
MAX_SIDE = 256
MAX_BYTES = 30_000
CONTENT_TYPES = {"WEBP": "image/webp", "JPEG": "image/jpeg"}
LATENT_CHANNELS = 16
VAE_SPATIAL_FACTOR = 8  # never show a preview larger than the video itself

# Rows are latent channels; columns are R, G, B. Source: ComfyUI, comfy/latent_formats.py, Wan21.
WAN21_RGB_FACTORS = (
    (-0.1299, -0.1692, 0.2932),
    (0.0671, 0.0406, 0.0442),
    (0.3568, 0.2548, 0.1747),
    (0.0372, 0.2344, 0.1420),
    (0.0313, 0.0189, -0.0328),
    (0.0296, -0.0956, -0.0665),
    (-0.3477, -0.4059, -0.2925),
    (0.0166, 0.1902, 0.1975),
    (-0.0412, 0.0267, -0.1364),
    (-0.1293, 0.0740, 0.1636),
    (0.0680, 0.3019, 0.1128),
    (0.0032, 0.0581, 0.0639),
    (-0.1251, 0.0927, 0.1699),
    (0.0060, -0.0633, 0.0005),
    (0.3477, 0.2275, 0.2950),
    (0.1984, 0.0913, 0.1861),
)
WAN21_RGB_BIAS = (-0.1835, -0.0868, -0.3360)

# Copying the factors to a GPU waits for the work queued before it; do it once per device.
_factors_on_device: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}


def can_preview(latents: torch.Tensor) -> bool:
    """Whether ``latents`` look like Wan 2.1 video latents: (batch, 16, frames, height, width)."""
    return latents.ndim == 5 and latents.shape[1] == LATENT_CHANNELS and latents.shape[0] >= 1


def preview_size(
    latent_height: int, latent_width: int, max_side: int = MAX_SIDE
) -> tuple[int, int]:
    """(height, width) of preview frames: longest side ≤ ``max_side``, aspect kept."""
    scale = min(max_side / max(latent_height, latent_width), VAE_SPATIAL_FACTOR)
    return max(1, math.floor(latent_height * scale)), max(1, math.floor(latent_width * scale))


def frame_indices(latent_frames: int, max_frames: int = MAX_FRAMES) -> list[int]:
    """At most ``max_frames`` latent frame indices spread evenly from the first to the last."""
    count = max(1, min(max_frames, latent_frames))
    return sorted({round(i * (latent_frames - 1) / max(1, count - 1)) for i in range(count)})


def preview_tensor(
    latents: torch.Tensor, *, max_frames: int = MAX_FRAMES, max_side: int = MAX_SIDE
) -> torch.Tensor:
    """uint8 frames (F, h, w, 3) of the first video in ``latents``, on the latents' device."""
    import torch
    import torch.nn.functional as F

    if not can_preview(latents):
        raise ValueError(f"Expected Wan latents (B, 16, T, H, W); got {tuple(latents.shape)}.")
    video = latents[0]
    # A stack of views, not fancy indexing: indexing would copy an index tensor to the device.
    picked = torch.stack([video[:, i] for i in frame_indices(video.shape[1], max_frames)])
    factors, bias = _factors(picked.device)
    rgb = torch.einsum("fchw,cr->frhw", picked.float(), factors) + bias.view(1, 3, 1, 1)
    height, width = rgb.shape[-2:]
    rgb = F.interpolate(rgb, size=preview_size(height, width, max_side), mode="bilinear")
    unit = ((rgb + 1.0) / 2.0).clamp(0.0, 1.0)  # the factors give RGB in [-1, 1]
    return unit.mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def latents_to_preview(
    latents: torch.Tensor, *, max_frames: int = MAX_FRAMES, max_side: int = MAX_SIDE
) -> np.ndarray:
    """Like ``preview_tensor``, copied to the host as a numpy array (waits for the device)."""
    frames = preview_tensor(latents, max_frames=max_frames, max_side=max_side)
    return frames.cpu().numpy()


def _factors(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    key = (str(device), "float32")
    if key not in _factors_on_device:
        _factors_on_device[key] = (
            torch.tensor(WAN21_RGB_FACTORS, dtype=torch.float32, device=device),
            torch.tensor(WAN21_RGB_BIAS, dtype=torch.float32, device=device),
        )
    return _factors_on_device[key]


def encode_preview(
    frames: np.ndarray, *, max_bytes: int = MAX_BYTES, image_format: str = "WEBP"
) -> bytes:
    """One image with ``frames`` (uint8, (F, h, w, 3)) side by side, of at most ``max_bytes``.

    ``image_format`` is ``"WEBP"`` (smaller for smooth images) or ``"JPEG"`` (faster to encode).
    Quality, then size, go down until the image fits: a preview is a glimpse, not the output.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise ValueError(f"frames must be uint8 (F, h, w, 3); got {frames.dtype} {frames.shape}.")
    strip = Image.fromarray(np.concatenate(list(frames), axis=1))
    for quality in (70, 50, 30):
        data = _save(strip, image_format, quality)
        if len(data) <= max_bytes:
            return data
    while len(data) > max_bytes and min(strip.size) > 1:
        strip = strip.resize((max(1, strip.width // 2), max(1, strip.height // 2)))
        data = _save(strip, image_format, 30)
    return data


def _save(image: Image.Image, image_format: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    # method=0 is libwebp's fastest: 3x quicker than its default for a few percent more bytes.
    options = {"method": 0} if image_format.upper() == "WEBP" else {}
    image.save(buffer, format=image_format, quality=quality, **options)
    return buffer.getvalue()

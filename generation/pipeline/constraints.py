"""Shape rules of Wan-family video pipelines, importable without torch.

The Wan VAE compresses time by 4 (keeping the first frame) and space by 8, and the transformer
patchifies latents 2x2, so a video must have 4k+1 frames and sides that are multiples of 16. The
pipeline silently rounds other values, which would hand users a video of a different shape than
they asked for, so we refuse them instead.
"""

FRAME_STEP = 4
SIZE_MULTIPLE = 16


def is_valid_frame_count(num_frames: int) -> bool:
    return num_frames >= 1 and (num_frames - 1) % FRAME_STEP == 0


def check_shape(num_frames: int, width: int, height: int) -> dict[str, str]:
    """Map each invalid field to a human-readable message; an empty dict means valid."""
    errors = {}
    if not is_valid_frame_count(num_frames):
        errors["num_frames"] = (
            f"num_frames must be {FRAME_STEP}k+1 (1, 5, 9, 13, …); got {num_frames}."
        )
    for field, value in (("width", width), ("height", height)):
        if value < SIZE_MULTIPLE or value % SIZE_MULTIPLE:
            errors[field] = f"{field} must be a positive multiple of {SIZE_MULTIPLE}; got {value}."
    return errors

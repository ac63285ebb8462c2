"""Target images for initial-condition fitting: the default "diffphys" rendering, or any PNG/JPG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["default_target_image", "load_target", "normalise_target"]


def default_target_image(shape=(64, 108), text="diffphys"):
    """The word ``text`` in Pillow's default font, white on black, as a float array of ``shape`` (rows, cols)."""
    from PIL import Image, ImageDraw, ImageFont

    rows, cols = shape
    up = 4
    W, H = cols * up, rows * up
    img = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(img)
    size = H
    while size > 4:
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # very old Pillow: bitmap font only
            font = ImageFont.load_default()
        l, t, r, b = draw.textbbox((0, 0), text, font=font, stroke_width=max(1, size // 14))
        if r - l <= 0.92 * W and b - t <= 0.8 * H:
            break
        size -= 2
    sw = max(1, size // 14)
    l, t, r, b = draw.textbbox((0, 0), text, font=font, stroke_width=sw)
    draw.text(((W - (r - l)) / 2 - l, (H - (b - t)) / 2 - t), text, fill=255, font=font,
              stroke_width=sw, stroke_fill=255)
    small = img.resize((cols, rows), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64) / 255.0


def load_target(path, shape):
    """Read an image file as greyscale (bright = mass), resized to ``shape`` (rows, cols)."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"target image {str(path)!r} does not exist or is not a file")
    try:
        with Image.open(p) as im:
            im = im.convert("L")
            if im.size[0] == 0 or im.size[1] == 0:
                raise ValueError(f"target image {str(path)!r} is empty (0 pixels)")
            im = im.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
            return np.asarray(im, dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"target image {str(path)!r} cannot be read as an image: {err}") from None


def normalise_target(img, total):
    """Scale a non-negative image so that it sums to ``total`` (the particle count)."""
    img = np.clip(np.asarray(img, dtype=np.float64), 0.0, None)
    s = img.sum()
    if not np.isfinite(s) or s <= 0 or np.ptp(img) == 0:
        raise ValueError("target image is empty or uniform (no contrast to fit)")
    return img * (total / s)

"""Regenerate cv2_rotation.npz: detectron2 RotationTransform outputs computed by OpenCV 4.x.

Needs ``opencv-python-headless==4.10.0.84`` (not a project dependency; OpenCV 5 changed its
warp kernels). Run: ``python tests/training/data/make_cv2_rotation_golden.py``.
"""

from pathlib import Path

import cv2
import numpy as np


def main() -> None:
    rng = np.random.default_rng(2025)
    cases = {}
    for k, (h, w, angle) in enumerate([(37, 53, 13.7), (48, 40, -9.25), (41, 41, 0.6), (30, 44, -15.0)]):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        blocks = rng.integers(1, 2**24, (h // 6 + 1, w // 6 + 1))
        ids = np.kron(blocks, np.ones((6, 6), np.int64))[:h, :w]
        png = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)  # RGB PNG
        center = tuple(float(c) for c in rng.uniform(0.4, 0.6, 2))
        # detectron2 RotationTransform(expand=False, center=(cx w, cy h)): matrix about centre - 0.5
        m = cv2.getRotationMatrix2D((center[0] * w - 0.5, center[1] * h - 0.5), angle, 1)
        cases[f"image_{k}"] = image
        cases[f"png_{k}"] = png
        cases[f"params_{k}"] = np.array([angle, *center])
        cases[f"image_rot_{k}"] = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR)
        cases[f"png_rot_{k}"] = cv2.warpAffine(png, m, (w, h), flags=cv2.INTER_NEAREST)
    np.savez_compressed(Path(__file__).with_name("cv2_rotation.npz"), opencv=cv2.__version__, **cases)


if __name__ == "__main__":
    main()

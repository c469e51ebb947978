"""CPU time to prepare one training clip (decode, augment, targets) from a COCO-panoptic image.

    python benchmarks/clip_prep.py                       # 8-frame 1024 px clips of 640 x 480 images
    python benchmarks/clip_prep.py --frames 1 --clips 20  # stage-1 clips

Generates a synthetic COCO-panoptic set (640 x 480 images with 20-25 entities) in a temporary
folder, prepares clips through ``PseudoVideoClips`` + ``ClipStream`` exactly as training does,
on one thread, and writes the per-clip seconds (median, min, max) and the target-mask bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--out", default="benchmarks/results/clip_prep_cpu.json")
    args = ap.parse_args()
    from entitysam.training.clips import ClipStream, PseudoVideoClips
    from entitysam.training.coco_panoptic import CocoPanoptic
    from entitysam.synthetic.coco import SyntheticConfig, write_synthetic_coco_panoptic

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one data-loader worker's view
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = SyntheticConfig(num_images=args.clips, height=480, width=640, stuff_per_image=(4, 5),
                                  things_per_image=(16, 20), seed=0)
            root = write_synthetic_coco_panoptic(os.path.join(tmp, "coco"), cfg)
            stream = ClipStream(PseudoVideoClips(CocoPanoptic.from_root(root), num_frames=args.frames), seed=0)
            seconds, entities, mask_bytes = [], [], []
            for k in range(args.clips):
                t0 = time.process_time()
                clip = stream.clip(k)
                seconds.append(time.process_time() - t0)
                entities.append(int(clip.targets.masks.shape[0]))
                mask_bytes.append(int(clip.targets.masks.numel() * clip.targets.masks.element_size()))
    finally:
        torch.set_num_threads(threads)
    result = {
        "frames_per_clip": args.frames, "image_size": [480, 640], "clips": args.clips,
        "cpu_seconds_per_clip": {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds)},
        "entities_per_clip": entities, "target_mask_mib_max": max(mask_bytes) / 2**20,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
    }
    print(json.dumps(result, indent=1))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()

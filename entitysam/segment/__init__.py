"""The segment pipeline: one video (:mod:`.video`) or a whole dataset (:mod:`.dataset`).

Example::

    from entitysam.segment import segment_video, segment_dataset
    segment_video("clip.mp4", "out/", model="vit-s")
    segment_dataset("VIPSeg_720P/", "vipseg", "out/", model="vit-s")
"""

from entitysam.segment.video import DEFAULT_FORMATS, build_predictor, segment_video


def segment_dataset(*args, **kwargs):
    """See :func:`entitysam.segment.dataset.segment_dataset` (imported on first use)."""
    from entitysam.segment.dataset import segment_dataset as run

    return run(*args, **kwargs)


__all__ = ["DEFAULT_FORMATS", "build_predictor", "segment_video", "segment_dataset"]

"""Video-level panoptic merge of per-slot mask logits (spec model.md §7).

* :mod:`~entitysam.inference.merge.options`: parameters (defaults official);
* :mod:`~entitysam.inference.merge.steps`: the arithmetic shared by both merges;
* :mod:`~entitysam.inference.merge.spill`: the offline merge's files on disk;
* :mod:`~entitysam.inference.merge.offline`: the official two-pass merge (:class:`VideoMerger`);
* :mod:`~entitysam.inference.merge.online`: the one-pass merge for streams (:class:`OnlineMerger`).
"""

from entitysam.inference.merge.offline import VideoMerger, merge_video
from entitysam.inference.merge.online import OnlineMerger
from entitysam.inference.merge.options import MergeOptions

__all__ = ["MergeOptions", "OnlineMerger", "VideoMerger", "merge_video"]

"""Core data shared by every layer (io, inference, pipelines): plain types, no behaviour."""

from entitysam.core.segments import FrameSegment, MergedFrame, SegmentInfo

__all__ = ["FrameSegment", "MergedFrame", "SegmentInfo"]

"""entitysam: find, segment and track every entity in a video, no prompts (EntitySAM, CVPR 2025)."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("entitysam")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

from entitysam.segment import segment_video  # noqa: E402  (cheap: heavy imports happen inside)

__all__ = ["__version__", "segment_video"]

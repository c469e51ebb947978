"""Open-vocabulary labels for entity tracks (``entitysam classify``).

Pick each track's best frame, crop the entity, ask a backend (an OpenAI-compatible chat
model or a local CLIP) which candidate category it is, and write video panoptic (VIPSeg),
instance (YouTube-VIS) or semantic (VSPW) outputs. See :mod:`.pipeline` for the flow.

Modules: :mod:`.tracks` (read segment outputs), :mod:`.crops` (best frame, crop),
:mod:`.vocab` (category lists), :mod:`.answers` (free text -> category),
:mod:`.backends` (openai, clip), :mod:`.convert` (task layouts).
"""

from entitysam.classify.crops import CropConfig, best_frame, crop_entity
from entitysam.classify.pipeline import TASKS, ClassifySummary, classify
from entitysam.classify.vocab import Category, Vocabulary, load_vocabulary

__all__ = ["CropConfig", "best_frame", "crop_entity", "TASKS", "ClassifySummary", "classify",
           "Category", "Vocabulary", "load_vocabulary"]

"""The interface every classification backend implements.

A backend receives crops (PIL RGB images, one per track) and a vocabulary and returns one
:class:`Label` per crop, in order. It also proposes the crop settings that suit it
(``default_crop``): a chat model reads a larger, non-square image; CLIP centre-crops a square.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

from PIL import Image

from entitysam.classify.crops import CropConfig
from entitysam.classify.vocab import Category, Vocabulary


@dataclass(frozen=True)
class Label:
    """A classification result.

    ``category``: the chosen category, None for "none" (no candidate fits, unknown or
    ambiguous answer); ``confidence``: in [0, 1] - CLIP's softmax probability, 1.0 for a chat
    model's answer (it gives no calibrated probability), 0.0 for none; ``answer``: the raw
    answer text (chat) or the best candidate's prompt name (CLIP), kept for auditing.
    """

    category: Category | None
    confidence: float
    answer: str


class Backend(ABC):
    """Classifies crops into a vocabulary. Subclasses set ``name`` and ``default_crop``.

    ``crop``: how the pipeline crops entities for this backend (``default_crop`` unless given);
    it lives here because a chat prompt describes the mask treatment to the model.
    """

    name = "base"
    default_crop = CropConfig()

    def __init__(self, crop: CropConfig | None = None):
        self.crop = crop or self.default_crop

    @abstractmethod
    def classify(self, crops: Sequence[Image.Image], vocab: Vocabulary) -> list[Label]:
        """One Label per crop, in the order of ``crops``."""

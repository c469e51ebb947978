"""Local CLIP through ``open_clip`` (optional extra: ``pip install entitysam[clip]``).

Each category's text embedding is the normalised mean, over its names (the prompt name and,
for "a or b" classes, each alternative) and over prompt templates, of the normalised text
embeddings - the prompt ensembling of CLIP and of open-vocabulary segmentation work (ViLD's
templates, used by OVSeg / FC-CLIP). A crop's label is the category with the highest cosine
similarity; ``confidence`` is the softmax over all categories at the model's logit scale.
With ``min_confidence`` set, a crop whose best probability is below it gets none.

Example::

    backend = ClipBackend.from_pretrained("ViT-B-32", "laion2b_s34b_b79k")
    labels = backend.classify(crops, load_vocabulary("vipseg"))
"""

from __future__ import annotations

from typing import Sequence

from PIL import Image

from entitysam.classify.backends.base import Backend, Label
from entitysam.classify.crops import CropConfig
from entitysam.classify.vocab import Vocabulary
from entitysam.errors import EntitySAMError

#: ViLD's prompt templates (Gu et al. 2022), as used by open-vocabulary segmenters.
TEMPLATES = (
    "a photo of a {}.",
    "This is a photo of a {}",
    "There is a {} in the scene",
    "There is the {} in the scene",
    "a photo of a {} in the scene",
    "a photo of a small {}.",
    "a photo of a medium {}.",
    "a photo of a large {}.",
    "This is a photo of a small {}.",
    "This is a photo of a medium {}.",
    "This is a photo of a large {}.",
    "There is a small {} in the scene.",
    "There is a medium {} in the scene.",
    "There is a large {} in the scene.",
)


def import_open_clip():
    try:
        import open_clip
    except ImportError:
        raise EntitySAMError("the clip backend needs open_clip: pip install 'entitysam[clip]' "
                             "(or pip install open_clip_torch)") from None
    return open_clip


class ClipBackend(Backend):
    """Zero-shot classification of crops with an open_clip model (see the module docstring)."""

    name = "clip"
    # CLIP centre-crops a square: give it a square crop so nothing of the entity is cut off
    default_crop = CropConfig(margin=0.1, treatment="blur", size=224, square=True)

    def __init__(self, model, preprocess, tokenizer, templates: Sequence[str] = TEMPLATES,
                 batch_size: int = 32, min_confidence: float | None = None, device=None,
                 crop: CropConfig | None = None):
        import torch

        super().__init__(crop)
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.templates = tuple(templates)
        if not self.templates or any("{}" not in t for t in self.templates):
            raise EntitySAMError("every CLIP template must contain {} (the class name)")
        self.batch_size = max(1, batch_size)
        self.min_confidence = min_confidence
        self.device = torch.device(device) if device else next(model.parameters()).device
        self._text_cache: dict[tuple, object] = {}

    @classmethod
    def from_pretrained(cls, model_name: str = "ViT-B-32", pretrained: str | None = None,
                        device: str | None = None, **kwargs) -> "ClipBackend":
        """Build with ``open_clip.create_model_and_transforms`` (``pretrained=None``: random weights)."""
        from entitysam.inference.precision import resolve_device

        open_clip = import_open_clip()
        device = str(resolve_device(device or "cpu"))  # one-line error for 'gpu', missing CUDA, ...
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained, device=device)
        except RuntimeError as exc:  # open_clip reports unknown models / weights this way
            raise EntitySAMError(f"cannot build CLIP model {model_name!r} "
                                 f"(pretrained={pretrained!r}): {exc}") from None
        return cls(model, preprocess, open_clip.get_tokenizer(model_name), device=device, **kwargs)

    def text_embeddings(self, vocab: Vocabulary):
        """(num categories, D) float tensor of normalised class embeddings (cached per vocabulary)."""
        import torch

        key = tuple((c.id, c.aliases[:1] + _alternatives(c.prompt)) for c in vocab)
        if key in self._text_cache:
            return self._text_cache[key]
        texts, owner = [], []  # every (name, template) sentence and the class it belongs to
        for k, (_, names) in enumerate(key):
            for n in dict.fromkeys(names):
                texts += [t.format(n) for t in self.templates]
                owner += [k] * len(self.templates)
        chunk = 8 * self.batch_size  # all sentences in a few large batches: far fewer calls
        with torch.no_grad():
            emb = torch.cat([self.model.encode_text(self.tokenizer(texts[i:i + chunk]).to(self.device)).float()
                             for i in range(0, len(texts), chunk)])
        emb = emb / emb.norm(dim=-1, keepdim=True)
        index = torch.tensor(owner, device=emb.device)
        sums = torch.zeros(len(key), emb.shape[1], device=emb.device).index_add_(0, index, emb)
        means = sums / torch.bincount(index, minlength=len(key)).unsqueeze(1)
        table = means / means.norm(dim=-1, keepdim=True)
        self._text_cache[key] = table
        return table

    def image_embeddings(self, crops: Sequence[Image.Image]):
        """(len(crops), D) float tensor of normalised image embeddings, in batches."""
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(crops), self.batch_size):
                batch = torch.stack([self.preprocess(c.convert("RGB")) for c in crops[i:i + self.batch_size]])
                emb = self.model.encode_image(batch.to(self.device)).float()
                out.append(emb / emb.norm(dim=-1, keepdim=True))
        return torch.cat(out) if out else torch.zeros(0, 1)

    def probabilities(self, crops: Sequence[Image.Image], vocab: Vocabulary):
        """(len(crops), len(vocab)) softmax probabilities at the model's logit scale."""
        import torch

        text = self.text_embeddings(vocab)
        image = self.image_embeddings(crops)
        scale = self.model.logit_scale.exp().float() if hasattr(self.model, "logit_scale") else 100.0
        with torch.no_grad():
            return torch.softmax(scale * image @ text.T, dim=-1)

    def classify(self, crops: Sequence[Image.Image], vocab: Vocabulary) -> list[Label]:
        if not crops:
            return []
        probs = self.probabilities(crops, vocab)
        labels = []
        for row in probs:
            best = int(row.argmax())
            cat, p = vocab.categories[best], float(row[best])
            if self.min_confidence is not None and p < self.min_confidence:
                labels.append(Label(None, 0.0, cat.prompt))
            else:
                labels.append(Label(cat, p, cat.prompt))
        return labels


def _alternatives(prompt: str) -> tuple[str, ...]:
    """"a or b" -> ("a", "b"): each alternative gets its own templates; else ()."""
    parts = tuple(p.strip() for p in prompt.split(" or ") if p.strip())
    return parts if len(parts) > 1 else ()

"""The local CLIP backend: logic on a transparent fake model, and the real open_clip code path
with a tiny random-weight architecture (skipped only when open_clip is not installed)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from entitysam.classify.backends.clip import TEMPLATES, ClipBackend
from entitysam.classify.vocab import Vocabulary
from entitysam.errors import EntitySAMError

VOCAB = Vocabulary.from_names(["cat", "dog", "handrail_or_fence"])
WORDS = ["cat", "dog", "handrail", "fence"]  # the fake text encoder's dimensions


class FakeClip(torch.nn.Module):
    """Text -> one-hot of the words it contains; image -> its mean (r, g, b, b) as 'features'."""

    def __init__(self):
        super().__init__()
        self.logit_scale = torch.nn.Parameter(torch.tensor(np.log(10.0)))
        self.texts: list[str] = []
        self.text_calls = 0

    def tokenize(self, texts):
        start = len(self.texts)
        self.texts.extend(texts)
        return torch.arange(start, start + len(texts))

    def encode_text(self, idx):
        self.text_calls += 1
        rows = [[float(w in self.texts[i]) for w in WORDS] for i in idx.tolist()]
        return torch.tensor(rows) + 1e-3

    def encode_image(self, batch):
        mean = batch.mean(dim=(2, 3))
        return torch.cat([mean, mean[:, 2:3]], dim=1)


def preprocess(image):
    return torch.from_numpy(np.asarray(image.resize((4, 4)), dtype=np.float32)).permute(2, 0, 1) / 255


def fake_backend(**kw):
    model = FakeClip()
    return ClipBackend(model, preprocess, model.tokenize, **kw), model


def test_ensemble_and_argmax_on_a_transparent_model():
    backend, model = fake_backend()
    crops = [Image.new("RGB", (8, 8), c) for c in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    labels = backend.classify(crops, VOCAB)
    # red ~ "cat", green ~ "dog", blue ~ handrail + fence: the "a or b" class matches both words
    assert [lab.category.name for lab in labels] == ["cat", "dog", "handrail_or_fence"]
    # every class is prompted with every template, the "or" class also with each alternative
    assert len(model.texts) == len(TEMPLATES) * (1 + 1 + 3)
    assert "a photo of a fence." in model.texts and "There is a handrail or fence in the scene" in model.texts
    probs = backend.probabilities(crops, VOCAB)
    assert torch.allclose(probs.sum(dim=1), torch.ones(3))
    assert labels[0].confidence == pytest.approx(float(probs[0, 0]))


def test_text_embeddings_are_computed_once_per_vocabulary():
    backend, model = fake_backend()
    crops = [Image.new("RGB", (8, 8), (250, 0, 0))]
    backend.classify(crops, VOCAB)
    calls = model.text_calls
    backend.classify(crops, VOCAB)
    assert model.text_calls == calls
    backend.classify(crops, Vocabulary.from_names(["cat", "dog"]))
    assert model.text_calls > calls


def test_min_confidence_gives_none():
    backend, _ = fake_backend(min_confidence=0.999)
    (label,) = backend.classify([Image.new("RGB", (8, 8), (90, 90, 90))], VOCAB)
    assert label.category is None and label.confidence == 0.0


def test_bad_templates():
    model = FakeClip()
    with pytest.raises(EntitySAMError, match="template"):
        ClipBackend(model, preprocess, model.tokenize, templates=["no placeholder"])


# ----------------------------------------------------------------------------- real open_clip


def test_open_clip_random_weights_code_path(tiny_clip):
    import open_clip

    torch.manual_seed(0)
    backend = ClipBackend.from_pretrained(tiny_clip, pretrained=None)
    crops = [Image.new("RGB", (40, 30), c) for c in ((250, 0, 0), (0, 250, 0), (20, 20, 200))]
    labels = backend.classify(crops, VOCAB)
    assert len(labels) == 3 and all(lab.category in VOCAB.categories for lab in labels)
    # the same decision computed directly with open_clip
    tok = open_clip.get_tokenizer(tiny_clip)
    with torch.no_grad():
        rows = []
        for names in (["cat"], ["dog"], ["handrail or fence", "handrail", "fence"]):
            e = backend.model.encode_text(tok([t.format(n) for n in names for t in TEMPLATES]))
            e = (e / e.norm(dim=-1, keepdim=True)).mean(0)
            rows.append(e / e.norm())
        img = backend.model.encode_image(torch.stack([backend.preprocess(c) for c in crops]))
        img = img / img.norm(dim=-1, keepdim=True)
        expected = (img @ torch.stack(rows).T).argmax(dim=1).tolist()
    assert [VOCAB.categories.index(lab.category) for lab in labels] == expected


def test_clip_cli_end_to_end(tiny_clip, scene, tmp_path, capsys):
    from entitysam.cli import main

    out = tmp_path / "out"
    assert main(["classify", str(scene.tracks), "--frames", str(scene.frames), "--vocab", "vipseg",
                 "--backend", "clip", "--clip-model", tiny_clip, "-o", str(out), "--task", "semantic",
                 "--save-crops"]) == 0
    assert "random weights" in capsys.readouterr().err
    labels = json.loads((out / "labels.json").read_text())
    assert labels["backend"] == "clip" and labels["crop"]["square"] is True
    assert all(t["category_id"] is not None for t in labels["videos"][0]["tracks"])
    crop = Image.open(next((out / "crops" / "vid0").iterdir()))
    assert crop.size == (224, 224)
    assert len(list((out / "vid0").glob("*.png"))) == len(scene.names)


def test_unknown_clip_model(tiny_clip):
    with pytest.raises(EntitySAMError, match="cannot build CLIP model"):
        ClipBackend.from_pretrained("no-such-architecture", None)


def test_clip_pretrained_from_a_local_file(tiny_clip, tmp_path):
    torch.manual_seed(1)
    first = ClipBackend.from_pretrained(tiny_clip, pretrained=None)
    path = tmp_path / "tiny.pt"
    torch.save(first.model.state_dict(), path)
    torch.manual_seed(2)
    loaded = ClipBackend.from_pretrained(tiny_clip, pretrained=str(path))
    for (name, a), (_, b) in zip(first.model.state_dict().items(), loaded.model.state_dict().items()):
        assert torch.equal(a, b), name

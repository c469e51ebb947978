"""The optional Mask2Former first-frame segmenter (``--init-model``), with a random small config.

Skipped (with the reason shown) when the optional extra ``transformers`` is not installed.
"""

import importlib.util
import warnings

import numpy as np
import pytest
import torch

from entitysam.errors import EntitySAMError

transformers = pytest.importorskip(
    "transformers", reason="optional extra not installed: pip install 'entitysam[mask2former]'")


@pytest.fixture(scope="module")
def tiny_mask2former(tmp_path_factory):
    """A randomly initialised Mask2Former (Swin, 4 one-block stages, 8 queries), saved to a folder."""
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    backbone = SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4,
                          image_size=64, out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = Mask2FormerConfig(backbone_config=backbone, hidden_dim=32, num_queries=8, encoder_layers=1,
                            decoder_layers=2, dim_feedforward=64, encoder_feedforward_dim=64, feature_size=32,
                            mask_feature_size=32, num_labels=5, num_attention_heads=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Mask2FormerForUniversalSegmentation(cfg).eval()
    with torch.no_grad():  # random mask logits are ~0; sharpen them so several segments appear
        model.get_parameter("model.transformer_module.decoder.mask_predictor.mask_embedder.2.0.weight").mul_(20)
    folder = tmp_path_factory.mktemp("m2f")
    model.save_pretrained(folder)
    Mask2FormerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


def _segmenter(folder):
    from entitysam.baselines.mask2former import Mask2FormerSegmenter

    # random weights: keep every query and every pixel so that segments exist
    return Mask2FormerSegmenter.from_pretrained(str(folder), threshold=0.0, mask_threshold=0.0,
                                                overlap_mask_area_threshold=0.0)


def test_segmenter_gives_disjoint_panoptic_masks(tiny_mask2former):
    yy, xx = np.mgrid[0:50, 0:70]
    rgb = np.stack([(xx * 3) % 256, (yy * 5) % 256, ((xx + yy) * 2) % 256], -1).astype(np.uint8)
    init = _segmenter(tiny_mask2former)(rgb)
    assert init.masks.shape[0] >= 2 and init.masks.shape[1:] == (50, 70)
    assert init.masks.sum(0).max() == 1  # panoptic: one segment per pixel
    assert np.all((init.scores > 0) & (init.scores <= 1))


def test_mask2former_init_end_to_end(tiny_mask2former, sam2_test_model, synthetic_root, tmp_path):
    """``sam2-mask-init`` with the Mask2Former segmenter: frame 0 of the output is its segments."""
    from PIL import Image

    from entitysam.baselines import run_baseline

    video = synthetic_root / "images" / "synth_0003_000"
    seg = _segmenter(tiny_mask2former)
    first = np.asarray(Image.open(sorted(video.iterdir())[0]).convert("RGB"))
    expected = seg(first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        summary = run_baseline("sam2-mask-init", video, tmp_path / "out", "panoptic,rle", model=sam2_test_model,
                               segmenter=seg, max_frames=2, progress=False)
    assert summary.frames == 2
    assert [s["area_per_frame"][0] for s in summary.segments] == [int(m.sum()) for m in expected.masks]
    np.testing.assert_allclose([s["init_score"] for s in summary.segments], expected.scores)


def test_load_errors_are_one_line(monkeypatch):
    from entitysam.baselines import mask2former

    def offline(*args, **kwargs):
        raise OSError("offline")

    monkeypatch.setattr(transformers.AutoImageProcessor, "from_pretrained", offline)
    with pytest.raises(EntitySAMError, match="facebook/mask2former-swin-small-coco-panoptic.*--init-masks"):
        mask2former.Mask2FormerSegmenter.from_pretrained("mask2former-swin-s-coco-panoptic")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "transformers" else real(n, *a))
    with pytest.raises(EntitySAMError, match=r"pip install 'entitysam\[mask2former\]'"):
        mask2former.require_transformers()

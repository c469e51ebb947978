"""Shared fixtures: a random-weight SAM 2.1 model small enough for CPU tests (built once)."""

import warnings

import pytest
import torch


def objects_present(model, shift: float = 5.0):
    """Shift the object-presence logit of a random-weight model above 0.

    Random weights put SAM 2's object score near 0; when it is <= 0, SAM 2 replaces the mask
    logits by the constant no-object score -1024 and every comparison of outputs becomes
    vacuous. With the shift, tracked masks depend on the image and the memory.
    """
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias += shift
    return model


@pytest.fixture(scope="session")
def sam2_test_model():
    """``sam2.1-test``: the SAM 2.1 Hiera-T config shrunk (128 px, 5-block trunk), random weights, CPU."""
    from entitysam.baselines.models import build_sam2_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "random weights" warning, tested elsewhere
        return objects_present(build_sam2_model("sam2.1-test", device="cpu"))


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """One 3-frame 64x96 synthetic video with VIPSeg-layout ground truth."""
    from entitysam.synthetic.videos import write_synthetic_videos

    return write_synthetic_videos(tmp_path_factory.mktemp("synth") / "data", num_videos=1, num_frames=3,
                                  size=(64, 96), seed=3)


@pytest.fixture(scope="session")
def short_memory_model():
    """64 px test model with a short memory (3 mask memories, 4 object pointers) for pruning."""
    from entitysam.baselines.models import build_sam2_model, small_test_overrides

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return objects_present(build_sam2_model("sam2.1-test", device="cpu", overrides=small_test_overrides(64) + (
            "++model.num_maskmem=3", "++model.max_obj_ptrs_in_encoder=4")))

"""Building SAM 2.1 models, loading checkpoints, and the baselines' user errors."""

import importlib.util

import pytest
import torch

from entitysam.baselines import models
from entitysam.baselines.models import SAM2_VARIANTS, build_sam2_model
from entitysam.errors import CheckpointError, EntitySAMError


def test_variants_use_sam2_package_configs():
    from hydra import compose

    import sam2  # noqa: F401 - importing sam2 registers its configs with hydra

    for v in SAM2_VARIANTS.values():
        cfg = compose(config_name=v.config)  # resolvable inside the installed sam2 package
        assert cfg.model._target_ == "sam2.modeling.sam2_base.SAM2Base"
    assert SAM2_VARIANTS["sam2.1-small"].filename == "sam2.1_hiera_small.pt"
    assert SAM2_VARIANTS["sam2.1-large"].hf_repo == "facebook/sam2.1-hiera-large"


def test_builds_after_hydra_state_was_cleared():
    from hydra.core.global_hydra import GlobalHydra

    import sam2  # noqa: F401

    GlobalHydra.instance().clear()
    with pytest.warns(UserWarning, match="random weights"):
        assert build_sam2_model("sam2.1-test", device="cpu").image_size == 128
    assert GlobalHydra.instance().is_initialized()


def test_random_weights_warn_and_are_reproducible():
    with pytest.warns(UserWarning, match="random weights"):
        first = build_sam2_model("sam2.1-test", device="cpu")
    torch.manual_seed(123)  # the global RNG state does not matter (and is not changed)
    state = torch.random.get_rng_state()
    with pytest.warns(UserWarning, match="random weights"):
        again = build_sam2_model("sam2.1-test", device="cpu")
    assert torch.equal(state, torch.random.get_rng_state())
    assert again.image_size == 128 and again.fill_hole_area == 0
    for (name, a), b in zip(first.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_round_trip_and_strict_mismatch(sam2_test_model, tmp_path):
    sd = {k: v.clone() for k, v in sam2_test_model.state_dict().items()}
    sd["no_mem_embed"] += 1.0  # differs from the seeded random init
    torch.save({"model": sd}, tmp_path / "ok.pt")
    loaded = build_sam2_model("sam2.1-test", checkpoint=tmp_path / "ok.pt", device="cpu")
    assert torch.equal(loaded.no_mem_embed, sd["no_mem_embed"])

    bad = dict(sd)
    bad.pop("no_mem_embed")
    bad["extra.weight"] = torch.zeros(1)
    torch.save({"model": bad}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"1 missing keys .*no_mem_embed.*1 unexpected keys .*extra.weight"):
        build_sam2_model("sam2.1-test", checkpoint=tmp_path / "bad.pt", device="cpu")
    torch.save(sd, tmp_path / "flat.pt")  # a bare state dict loads too
    loaded = build_sam2_model("sam2.1-test", checkpoint=tmp_path / "flat.pt", device="cpu")
    assert torch.equal(loaded.no_mem_embed, sd["no_mem_embed"])
    (tmp_path / "page.pt").write_text("<html>rate limited</html>")
    with pytest.raises(CheckpointError, match="page.pt is not a PyTorch checkpoint"):
        build_sam2_model("sam2.1-test", checkpoint=tmp_path / "page.pt", device="cpu")
    with pytest.raises(EntitySAMError, match="checkpoint file not found"):
        build_sam2_model("sam2.1-test", checkpoint=tmp_path / "missing.pt", device="cpu")


def test_offline_download_says_to_pass_checkpoint(monkeypatch):
    import huggingface_hub

    def offline(**kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("offline")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(EntitySAMError, match=r"facebook/sam2.1-hiera-small/sam2.1_hiera_small.pt.*--checkpoint PATH"):
        build_sam2_model("sam2.1-small", device="cpu")
    with pytest.raises(EntitySAMError, match="unknown SAM 2.1 model 'sam3'"):
        build_sam2_model("sam3")


def test_run_baseline_user_errors(sam2_test_model, media_dir, tmp_path, monkeypatch):
    from entitysam.baselines import EverythingOptions, run_baseline

    video = media_dir / "example3_input.mp4"
    kw = dict(model=sam2_test_model, progress=False)
    with pytest.raises(EntitySAMError, match="unknown baseline method"):
        run_baseline("sam3", video, tmp_path / "a", **kw)
    with pytest.raises(EntitySAMError, match="exactly one of --init-masks PATH or --init-model NAME"):
        run_baseline("sam2-mask-init", video, tmp_path / "b", **kw)
    with pytest.raises(EntitySAMError, match="only apply to --method sam2-mask-init"):
        run_baseline("sam2-everything", video, tmp_path / "c", init_masks=video, **kw)
    with pytest.raises(EntitySAMError, match="only apply to --method sam2-everything"):
        run_baseline("sam2-mask-init", video, tmp_path / "c", init_masks=video, everything=EverythingOptions(), **kw)
    # checked before any model is built or downloaded
    with pytest.raises(EntitySAMError, match="missing.png: --init-masks: no such file"):
        run_baseline("sam2-mask-init", video, tmp_path / "e", init_masks=tmp_path / "missing.png",
                     sam2_model="sam2.1-large", progress=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "cv2" else real(n, *a))
    with pytest.raises(EntitySAMError, match="opencv-python-headless"):
        run_baseline("sam2-everything", video, tmp_path / "d",
                     everything=EverythingOptions(min_mask_region_area=10), **kw)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_model_module_has_no_cuda_default():
    import inspect

    assert inspect.signature(models.build_sam2_model).parameters["device"].default == "auto"

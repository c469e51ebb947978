"""Issue 16 research options of the model: off by default, state-dict names unchanged, and
each one changes exactly what it says, on the fast path and on the reference path alike."""

import pytest
import torch

from entitysam.configs import MODEL_OPTION_DEFAULTS, resolve_config
from entitysam.inference.predictor import EntitySAMPredictor
from entitysam.modeling import build_entitysam

OPTIONS = {
    "memory": dict(memory=False),
    "semantic": dict(semantic=False),
    "shared_queries": dict(shared_queries=True),
    "decoder_logits": dict(entity_logits_from="decoder"),
}


def _model(**options):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = build_entitysam("tiny", **options)
        with torch.no_grad():  # non-trivial weights everywhere (zero-initialised parts too)
            for p in m.parameters():
                p.add_(torch.randn_like(p) * 0.05)
    return m


def _frames(n=2):
    g = torch.Generator().manual_seed(5)
    S = resolve_config("tiny").image_size
    return [torch.randn(3, S, S, generator=g) for _ in range(n)]


def _run(model, frames, reference=False, warmup=1):
    pred = EntitySAMPredictor(model, warmup=warmup, reference=reference)
    return [o for f in frames for o in pred.step(f)]


def _same(a, b, tol=1e-4):
    return all((getattr(x, k).float() - getattr(y, k).float()).abs().max().item() <= tol
               for x, y in zip(a, b) for k in ("entity_logits", "iou", "lowres_logits"))


def test_defaults_are_the_official_model():
    for name in ("vit-s", "vit-l", "tiny"):
        cfg = resolve_config(name)
        assert cfg.options == {}
        assert {k: getattr(cfg, k) for k in MODEL_OPTION_DEFAULTS} == MODEL_OPTION_DEFAULTS
    with pytest.raises(ValueError):
        resolve_config("tiny", entity_logits_from="nonsense")


@pytest.mark.parametrize("option", OPTIONS)
def test_state_dict_names_and_shapes_unchanged(option):
    ref = {k: tuple(v.shape) for k, v in build_entitysam("tiny").state_dict().items()}
    ours = {k: tuple(v.shape) for k, v in build_entitysam("tiny", **OPTIONS[option]).state_dict().items()}
    assert ours == ref


def test_decoder_depth_option_changes_only_the_decoder_layers():
    ref = set(build_entitysam("tiny").state_dict())
    deep = set(build_entitysam("tiny", decoder_depth=3).state_dict())
    assert deep - ref and all(k.startswith("sam_mask_decoder.transformer.layers.2.") for k in deep - ref)
    assert ref <= deep


@pytest.mark.parametrize("option", OPTIONS)
def test_option_changes_the_output_and_fast_equals_reference(option):
    frames = _frames()
    official, ours = _model(), _model(**OPTIONS[option])
    ours.load_state_dict(official.state_dict())
    a = _run(official, frames)
    b = _run(ours, frames)
    assert not _same(a, b), "the option has no effect"
    assert _same(b, _run(ours, frames, reference=True))  # fast path (issue 13) honours it


def test_no_memory_decodes_every_frame_alone():
    frames = _frames(3)
    model = _model(memory=False)
    together = _run(model, frames, warmup=0)
    for t, f in enumerate(frames):  # frame t alone, as a video's first frame
        assert _same([together[t]], _run(model, [f], warmup=0), tol=1e-5)
    assert not _same([together[1]], [together[0]])


def _perturb(model, prefix):
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.startswith(prefix):
                p.add_(torch.randn_like(p))


@pytest.mark.parametrize("option, unused, used", [
    ("semantic", "dinov2_", "backbone_feature_enhancement"),
    ("shared_queries", "sam_mask_decoder.iou_queries", "sam_mask_decoder.queries"),
    ("decoder_logits", "offset_cls", "sam_mask_decoder.cls_prediction_head"),
])
def test_option_reads_what_it_says(option, unused, used):
    """With the option the output ignores ``unused`` and depends on ``used``; the official model
    depends on ``unused``."""
    frames = _frames()
    for options, depends_on_unused in ((OPTIONS[option], False), ({}, True)):
        model = _model(**options)
        base = _run(model, frames)
        changed = _model(**options)
        _perturb(changed, unused)
        assert _same(base, _run(changed, frames), tol=1e-6) != depends_on_unused, (options, unused)
    changed = _model(**OPTIONS[option])
    _perturb(changed, used)
    assert not _same(_run(_model(**OPTIONS[option]), frames), _run(changed, frames))


def test_tiny_wide_config_widens_only_the_hiera_trunk(tmp_path):
    """``tiny-wide`` (issue 16 capacity lever): same names as ``tiny``; only the Hiera trunk and
    what reads its channels change shape; a checkpoint of one does not load into the other."""
    from entitysam.checkpoint import load_checkpoint, save_checkpoint
    from entitysam.errors import EntitySAMError

    tiny, wide = build_entitysam("tiny").state_dict(), build_entitysam("tiny-wide").state_dict()
    assert tiny.keys() == wide.keys()
    changed = {k for k in tiny if tiny[k].shape != wide[k].shape}
    assert changed and all(k.startswith("image_encoder.") for k in changed)
    assert any(k.startswith("image_encoder.trunk.") for k in changed)
    assert resolve_config("tiny-wide").hiera.channel_list == [128, 64, 32, 16]
    save_checkpoint(build_entitysam("tiny"), tmp_path / "tiny.pth")
    with pytest.raises((EntitySAMError, RuntimeError)):
        load_checkpoint(build_entitysam("tiny-wide"), tmp_path / "tiny.pth")

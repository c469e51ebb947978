"""Fast modes (issue 15 §3): active-slot pruning, a slot subset in the model, reduced input size,
and their command-line options. Defaults stay official (tests/test_golden*.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from entitysam.inference.fast_modes import FastModes
from entitysam.inference.predictor import EntitySAMPredictor
from entitysam.inference.pruning import PRUNED_LOGIT, PruningState, SlotPruning
from entitysam.modeling import build_entitysam


@pytest.fixture(scope="module")
def model():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_entitysam("tiny")


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory):
    """Four 48x64 PNG frames (a moving square)."""
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("frames")
    for i in range(4):
        img = np.full((48, 64, 3), 40, np.uint8)
        img[10:30, 5 + 5 * i:25 + 5 * i] = (220, 60, 60)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
    return folder


def _frames(n, size=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(3, size, size, generator=g) for _ in range(n)]


def test_pruning_that_never_prunes_is_the_official_predictor(model):
    official = EntitySAMPredictor(model)
    never = EntitySAMPredictor(model, prune=SlotPruning(below=0.0, patience=1, revisit=3))
    for f in _frames(6):
        for a, b in zip(official.step(f), never.step(f)):
            assert b.computed_slots is None
            assert torch.equal(a.lowres_logits, b.lowres_logits)
            assert torch.equal(a.eiou, b.eiou)
    assert never.pruning.computed_fraction == 1.0


def _position_inputs(model, seed=1):
    """Frame features, 3 random memories and points for one later position."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    from entitysam.modeling.entitysam import Memory

    with torch.inference_mode():
        feats = model.encode_frame(torch.randn(1, 3, cfg.image_size, cfg.image_size, generator=g))
    Q, gs = cfg.num_slots, cfg.grid_size
    mems = [(k, Memory(torch.randn(Q, cfg.mem_dim, gs, gs, generator=g), torch.randn(1, cfg.mem_dim, gs, gs, generator=g)))
            for k in (1, 2, 3)]
    points = torch.rand(Q, 2, generator=g) * cfg.image_size
    return feats, mems, points


@pytest.mark.parametrize("reference", [False, True])
def test_every_slot_as_a_subset_equals_no_subset(model, reference):
    feats, mems, points = _position_inputs(model)
    with torch.inference_mode():
        full = model.step(feats, mems, points, reference=reference)
        sub = model.step(feats, mems, points, reference=reference, slots=torch.arange(model.cfg.num_slots))
    for name in ("lowres_logits", "eiou", "iou", "entity_logits", "points"):
        assert torch.equal(getattr(full, name), getattr(sub, name)), name
    assert torch.equal(full.memory.features, sub.memory.features)


@pytest.mark.parametrize("reference", [False, True])
def test_a_slot_subset_is_a_model_built_with_only_those_slots(model, reference):
    """Oracle: a model with len(A) slots whose slot-specific rows are rows A of the big model
    (no slot indexing anywhere in its computation)."""
    A = torch.tensor([1, 4, 5, 10])
    small = build_entitysam("tiny", num_slots=len(A))
    state = model.state_dict()
    per_slot = {k for k, v in small.state_dict().items() if v.shape != state[k].shape}
    assert per_slot == {"sam_mask_decoder.queries.weight", "sam_mask_decoder.iou_queries.weight",
                        "point_sampler_num.weight", "point_sampler_num.bias", "offset_embedding.weight"}
    small.load_state_dict({k: v[A] if k in per_slot else v for k, v in state.items()})
    feats, mems, points = _position_inputs(model)
    from entitysam.modeling.entitysam import Memory

    mems_a = [(k, Memory(m.features[A].clone(), m.pos_enc)) for k, m in mems]
    with torch.inference_mode():
        sub = model.step(feats, mems, points, reference=reference, slots=A)
        ref = small.step(feats, mems_a, points[A].clone(), reference=reference)
        first_sub = model.step(feats, [], None, reference=reference, slots=None)  # position 0: all slots
        first_small = small.step(feats, [], None, reference=reference)
    for name in ("lowres_logits", "eiou", "iou", "entity_logits", "points"):
        torch.testing.assert_close(getattr(sub, name), getattr(ref, name), rtol=1e-5, atol=1e-5, msg=name)
    torch.testing.assert_close(sub.memory.features, ref.memory.features, rtol=1e-5, atol=1e-5)
    # the point sampler's per-slot rows: slot A[i] of the big model is slot i of the small one
    torch.testing.assert_close(first_sub.points[A], first_small.points, rtol=1e-5, atol=1e-4)


def test_pruning_rule_patience_and_revisit():
    st = PruningState(SlotPruning(below=0.5, patience=2, revisit=4), num_slots=3)
    assert st.slots_for(0, "cpu") is None  # a video's first frame: every slot
    lo_hi = torch.tensor([0.1, 0.9, 0.1])
    st.update(lo_hi, None, is_warmup=True)  # warm-ups do not count
    assert st.active.all()
    st.update(lo_hi, None, is_warmup=False)  # frame 0
    assert st.active.all() and st.low.tolist() == [1, 0, 1]
    assert st.slots_for(1, "cpu") is None  # nothing pruned yet: every slot
    st.update(lo_hi, None, is_warmup=False)  # frame 1: slots 0 and 2 reach the patience
    assert st.active.tolist() == [False, True, False]
    s = st.slots_for(2, "cpu")
    assert s.tolist() == [1]
    st.update(torch.tensor([0.1, 0.2, 0.1]), s, is_warmup=False)  # frame 2: slot 1 low once
    assert st.active.tolist() == [False, True, False] and st.low.tolist() == [2, 1, 2]
    assert st.slots_for(4, "cpu") is None  # frame 4: a revisit computes every slot
    st.update(torch.tensor([0.7, 0.9, 0.2]), None, is_warmup=False)  # slot 0 comes back (late entity)
    assert st.active.tolist() == [True, True, False]
    assert st.slots_for(5, "cpu").tolist() == [0, 1]
    assert st.computed_fraction == pytest.approx((3 + 3 + 1 + 3) / 12)


def test_pruned_slots_keep_history_frozen_memory_and_empty_masks(model):
    """Every slot pruned after frame 1 (threshold 1.0, patience 2): pruned positions carry the
    newest memory and the points over, masks are empty, eIoU is the last computed one; the
    revisit frame computes every slot again."""
    p = EntitySAMPredictor(model, prune=SlotPruning(below=1.0, patience=2, revisit=4))
    frames = _frames(6)
    outs = [p.step(f)[-1] for f in frames[:2]]
    assert p.pruning.active.sum() == 0
    last_eiou, mem_before, pts = outs[-1].eiou.clone(), p.memory.newest().features.clone(), p._points.clone()
    o2 = p.step(frames[2])[-1]
    assert o2.computed_slots is not None and o2.computed_slots.numel() == 0
    assert (o2.lowres_logits == PRUNED_LOGIT).all()
    assert torch.equal(o2.eiou, last_eiou) and torch.equal(o2.points, pts.float())
    assert torch.equal(p.memory.newest().features, mem_before)
    p.step(frames[3])
    o4 = p.step(frames[4])[-1]  # revisit
    assert o4.computed_slots is None and (o4.lowres_logits != PRUNED_LOGIT).any()
    assert p.pruning.computed_fraction == pytest.approx(3 / 5)


def test_partial_pruning_scatters_computed_rows(model):
    """Slots computed at a pruned position carry their own outputs; the others the pruned values."""
    probe = EntitySAMPredictor(model)
    eiou0 = probe.step(_frames(1)[0])[-1].eiou
    thr = float(eiou0.sort().values[eiou0.numel() // 2])  # about half the slots below
    p = EntitySAMPredictor(model, prune=SlotPruning(below=thr, patience=1, revisit=100))
    frames = _frames(4)
    p.step(frames[0])
    seen_partial = False
    for f in frames[1:]:
        active = p.pruning.active.clone()
        out = p.step(f)[-1]
        if out.computed_slots is None or out.computed_slots.numel() in (0, model.cfg.num_slots):
            continue
        seen_partial = True
        assert out.computed_slots.tolist() == torch.nonzero(active).flatten().tolist()
        pruned = ~active
        assert (out.lowres_logits[pruned] == PRUNED_LOGIT).all()
        assert (out.lowres_logits[active] != PRUNED_LOGIT).any()
    assert seen_partial


def test_reduced_input_size_loads_the_same_weights(model):
    small = build_entitysam("tiny", image_size=128)
    small.load_state_dict(model.state_dict())  # strict: no weight depends on the input size
    p = EntitySAMPredictor(small)
    out = [p.step(f)[-1] for f in _frames(2, size=128)][-1]
    assert out.lowres_logits.shape == (model.cfg.num_slots, 1, 32, 32)
    assert torch.isfinite(out.lowres_logits).all()


def test_reduced_input_size_vit_s_state_dict_shapes():
    big = {k: v.shape for k, v in build_entitysam("vit-s").state_dict().items()}
    half = {k: v.shape for k, v in build_entitysam("vit-s", image_size=512).state_dict().items()}
    assert big == half


def test_fast_modes_validation():
    assert FastModes.from_dict(None).to_dict() == {}
    fm = FastModes.from_dict({"max_memories": 2, "prune": {"below": 0.1, "patience": 3, "revisit": 6}, "input_size": 512})
    assert fm.prune == SlotPruning(0.1, 3, 6) and fm.config_overrides() == {"image_size": 512}
    for bad in ({"input_size": 100}, {"input_size": 32}, {"max_memories": 0}, {"speed": 2},
                {"prune": {"below": 2.0}}, {"prune": {"below": 0.1, "patience": 0}}):
        with pytest.raises((ValueError, TypeError)):
            FastModes.from_dict(bad)


@pytest.mark.parametrize("flags, message", [
    (["--input-size", "100"], "input size must be a multiple of 32"),
    (["--max-memories", "9"], "--max-memories must be in 1..7"),
    (["--prune-revisit", "3"], "--prune-revisit needs --prune-slots"),
    (["--prune-slots", "1.5"], "must be between 0 and 1"),
    (["--method", "sam2-everything", "--max-memories", "2"], "--max-memories apply only to --method entitysam"),
])
def test_cli_rejects_bad_fast_modes(tmp_path, frame_folder, flags, message):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "entitysam.cli", "segment", str(frame_folder), "-o", str(out),
                        "--model", "tiny", "--device", "cpu", "--no-progress", *flags],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.stderr
    assert not out.exists()


def test_cli_fast_modes_run_and_write(tmp_path, frame_folder):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "entitysam.cli", "segment", str(frame_folder), "-o", str(out),
                        "--model", "tiny", "--device", "cpu", "--no-progress", "--formats", "panoptic",
                        "--max-memories", "2", "--prune-slots", "0.3", "--prune-patience", "1",
                        "--prune-revisit", "2", "--input-size", "128"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out / "summary.json").is_file() and (out / "pred.json").is_file()

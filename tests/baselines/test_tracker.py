"""The streaming tracker computes what Meta's SAM2VideoPredictor computes, in bounded memory."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from entitysam.baselines.overlap import upsample_logits
from entitysam.baselines.tracker import SAM2StreamTracker
from entitysam.io.frames import preprocess


def _frames(n, h=60, w=80, seed=0):
    """Smoothly moving random texture so that the frames are related but different."""
    rng = np.random.default_rng(seed)
    base = (rng.random((h, w + 4 * n, 3)) * 255).astype(np.uint8)
    return [Image.fromarray(np.ascontiguousarray(base[:, 4 * t:4 * t + w])) for t in range(n)]


def _masks(h=60, w=80):
    a = np.zeros((h, w), bool)
    a[10:30, 20:50] = True
    b = np.zeros((h, w), bool)
    b[35:55, 5:40] = True
    return np.stack([a, b, ~(a | b)])


def test_matches_upstream_video_predictor(sam2_test_model, tmp_path):
    """Same model, frames and masks: Meta's init_state / add_new_mask / propagate_in_video
    (one object at a time) and our per-frame tracker (objects batched) give the same logits."""
    model = sam2_test_model
    frames, masks = _frames(3), _masks()
    for t, im in enumerate(frames):
        im.save(tmp_path / f"{t:05d}.jpg", quality=95)
    decoded = [Image.open(tmp_path / f"{t:05d}.jpg").convert("RGB") for t in range(3)]

    state = model.init_state(str(tmp_path))
    for k, m in enumerate(masks):
        model.add_new_mask(state, 0, k + 1, m)
    upstream = {t: v.clone() for t, _, v in model.propagate_in_video(state)}

    # upstream stores memories in bf16; no hole filling on CPU (sam2._C is CUDA-only)
    tracker = SAM2StreamTracker(model, num_frames=3, fill_hole_area=0, object_batch=3,
                                memory_dtype=torch.bfloat16)
    outs = [tracker.start(preprocess(decoded[0], model.image_size), torch.from_numpy(masks))]
    outs += [tracker.step(preprocess(im, model.image_size)) for im in decoded[1:]]
    for t, out in enumerate(outs):
        ours = upsample_logits(out.logits, (60, 80))
        torch.testing.assert_close(ours, upstream[t][:, 0], rtol=0, atol=1e-5)
    # not vacuous: objects are present on later frames and their masks vary
    assert all((o.object_score_logits > 0).all() for o in outs[1:])
    assert upstream[2].std() > 0.01 and not torch.allclose(upstream[2], upstream[1], atol=1e-2)


def _run(model, frames, masks, prune=True, memory_window=None, pointer_window=None):
    tr = SAM2StreamTracker(model, num_frames=None, object_batch=8)
    if memory_window is not None:
        tr.memory_window = memory_window
    if pointer_window is not None:
        tr.pointer_window = pointer_window
    logits = [tr.start(preprocess(frames[0], model.image_size), masks).logits]
    held = []
    for im in frames[1:]:
        logits.append(tr.step(preprocess(im, model.image_size), prune=prune).logits)
        held.append(tr.stored_frames())
    return logits, held, tr


_REFERENCE = {}


@pytest.mark.parametrize("stride", [1, 2])
def test_pruning_is_exact_and_bounded(short_memory_model, stride):
    """Dropping what SAM 2 no longer reads changes no output, and the bank stops growing."""
    model = short_memory_model
    model.memory_temporal_stride_for_eval = stride
    try:
        frames, masks = _frames(7, 48, 48, seed=5), torch.from_numpy(_masks(48, 48))
        kept, held_pruned, tr = _run(model, frames, masks, prune=True)
        full, held_full, _ = _run(model, frames, masks, prune=False)
    finally:
        model.memory_temporal_stride_for_eval = 1
    for a, b in zip(kept, full):
        assert torch.equal(a, b)
    assert all(a.std() > 0.01 for a in kept[1:])  # real masks, not SAM 2's constant no-object score
    assert held_full[-1] == 6  # unpruned: one entry per tracked frame
    bound = max(tr.memory_window, tr.pointer_window)
    assert max(held_pruned) == bound < 6
    assert tr.banks[0].num_frames_with_features() <= tr.memory_window
    if stride == 1:
        _REFERENCE["stride1"] = (frames, masks, kept, tr)


def _differs_or_breaks(model, frames, masks, ref, **windows) -> bool:
    try:
        got, _, _ = _run(model, frames, masks, **windows)
    except KeyError:  # SAM 2 asked for a memory that was dropped
        return True
    return not all(torch.equal(a, b) for a, b in zip(ref, got))


def test_pruning_windows_are_tight(short_memory_model):
    """One frame less of either window changes the output: the windows are what SAM 2 reads."""
    if "stride1" not in _REFERENCE:
        test_pruning_is_exact_and_bounded(short_memory_model, 1)
    frames, masks, ref, tr = _REFERENCE["stride1"]
    assert (tr.memory_window, tr.pointer_window) == (2, 3)
    model = short_memory_model
    assert _differs_or_breaks(model, frames, masks, ref, memory_window=tr.memory_window - 1)
    assert _differs_or_breaks(model, frames, masks, ref, pointer_window=tr.pointer_window - 1)


def test_step_before_start_is_an_error(sam2_test_model):
    tr = SAM2StreamTracker(sam2_test_model)
    with pytest.raises(RuntimeError, match="start"):
        tr.step(torch.zeros(3, 128, 128))

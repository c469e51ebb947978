"""The streaming tracker computes what Meta's SAM2VideoPredictor computes, in bounded memory."""


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

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


def _cpu_connected_components(mask):
    """Exact CPU stand-in for ``sam2._C.get_connected_componnets`` (CUDA-only): 8-connected
    labels of the nonzero pixels of (N, 1, H, W) masks, and each pixel's component area."""
    m = mask.to(torch.uint8).cpu().numpy()
    labels = np.zeros(m.shape, np.int32)
    counts = np.zeros(m.shape, np.int32)
    for i in range(m.shape[0]):
        lab, n = ndimage.label(m[i, 0], structure=np.ones((3, 3), bool))
        areas = np.bincount(lab.ravel(), minlength=n + 1)
        areas[0] = 0
        labels[i, 0], counts[i, 0] = lab, areas[lab]
    return torch.from_numpy(labels).to(mask.device), torch.from_numpy(counts).to(mask.device)


def _holed_masks(s=128):
    """Masks at the model resolution with background patches that survive the 4x low-res
    downsampling (4 px = 1 low-res px): in A a 1x2 and a 2x3 hole (filled: <= 8 low-res px)
    and a 3x3 one (9 px: kept); in B a 1-px notch touching the image border (filled too:
    SAM 2 has no enclosure test); C is the rest."""
    a = np.zeros((s, s), bool)
    a[16:96, 16:96] = True
    a[32:36, 32:40] = False  # 1x2 low-res px
    a[48:56, 60:72] = False  # 2x3
    a[68:80, 28:40] = False  # 3x3
    b = np.zeros((s, s), bool)
    b[104:, 64:] = True
    b[112:116, 124:] = False  # background speck on the right border
    return np.stack([a, b, ~(a | b)])


def test_matches_upstream_with_hole_filling(sam2_test_model, tmp_path, monkeypatch):
    """Hole filling on both sides (fill_hole_area 8, the sam2.1 configs' value): upstream
    fills the conditioning frame's low-res output (_run_single_frame_inference) and encodes
    its memory from the filled mask (propagate_in_video_preflight); so must we, or a small
    background patch of an initial mask shifts every later frame."""
    import sam2.utils.misc

    model = sam2_test_model
    s, n = model.image_size, 6
    monkeypatch.setattr(sam2.utils.misc, "get_connected_components", _cpu_connected_components)
    monkeypatch.setattr(model, "fill_hole_area", 8)
    frames, masks = _frames(n, s, s, seed=1), _holed_masks(s)
    for t, im in enumerate(frames):
        im.save(tmp_path / f"{t:05d}.jpg", quality=95)
    decoded = [Image.open(tmp_path / f"{t:05d}.jpg").convert("RGB") for t in range(n)]

    # the holes exist in the low-res mask SAM 2 outputs on frame 0 (areas in low-res px)
    low_in = F.interpolate(torch.from_numpy(masks)[:, None].float() * 20 - 10, size=(s // 4, s // 4),
                           mode="bilinear", align_corners=False, antialias=True)
    holes = [sorted(np.bincount(ndimage.label(low_in[k, 0].numpy() <= 0, np.ones((3, 3)))[0].ravel())[1:])[:-1]
             for k in range(2)]
    assert holes == [[2, 6, 9], [1]]

    state = model.init_state(str(tmp_path))
    for k, m in enumerate(masks):
        model.add_new_mask(state, 0, k + 1, m)
    upstream = {t: v.clone() for t, _, v in model.propagate_in_video(state)}
    per_obj = state["output_dict_per_obj"]
    up_low = [torch.cat([per_obj[k]["cond_frame_outputs" if t == 0 else "non_cond_frame_outputs"][t]["pred_masks"]
                         for k in range(3)]) for t in range(n)]
    # upstream really filled (the CPU labelling ran): 2 + 6 px in A, the border speck in B
    assert [int((up_low[0][k] == 0.1).sum()) for k in range(3)] == [8, 1, 0]

    tracker = SAM2StreamTracker(model, num_frames=n, fill_hole_area=8, object_batch=3,
                                memory_dtype=torch.bfloat16)
    outs = [tracker.start(preprocess(decoded[0], s), torch.from_numpy(masks))]
    outs += [tracker.step(preprocess(im, s)) for im in decoded[1:]]
    assert torch.equal(outs[0].logits, up_low[0])
    for t, out in enumerate(outs):
        torch.testing.assert_close(out.logits, up_low[t], rtol=0, atol=1e-5, msg=lambda m: f"frame {t}: {m}")
        torch.testing.assert_close(upsample_logits(out.logits, (s, s)), upstream[t][:, 0], rtol=0, atol=1e-5)
    assert all((o.object_score_logits > 0).all() for o in outs[1:])
    assert all(u.std() > 0.01 for u in up_low[1:])


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

"""The merge's per-pixel work on the model's device (issue 15 §2): the float32 owners with an
exact recheck (``method="float32-recheck"``, the default off a CPU) equal the float64 ones bit
for bit, and the offline / online mergers give the same frames whatever the method. The
device path is forced on the CPU here; the CUDA test runs where a GPU exists."""

import numpy as np
import pytest
import torch

from entitysam.inference.merge import MergeOptions, OnlineMerger, merge_video
from entitysam.inference.merge.steps import assign_owners, count_ids, default_owner_method
from tests.inference.test_merger import WARMUP, check_equal, make_video, positions

FIELDS = ("owner", "owner_prob", "foreground", "area_orig")


def compare(logits, final, size, thr=0.5, max_elements=1 << 24, limit=None):
    """float64 vs float32-recheck: every FrameOwners field and the counts, bit for bit."""
    a = assign_owners(logits, final, size, thr, max_elements, method="float64")
    b = assign_owners(logits, final, size, thr, max_elements, method="float32-recheck", recheck_limit=limit)
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and torch.equal(x, y), name
    assert torch.equal(a.in_tube(thr), b.in_tube(thr))
    for x, y in zip(a.counts(thr), b.counts(thr)):
        assert torch.equal(x, y)
    return b


def test_float32_sigmoid_is_within_a_few_ulps_of_the_exact_one():
    # the recheck assumes |torch.sigmoid(x) - round32(sigmoid64(x))| <= 16 ulps; measured: 2
    g = torch.Generator().manual_seed(0)
    bits = torch.randint(0, 2**31, (4_000_000,), generator=g, dtype=torch.int32).view(torch.float32)
    uniform = (torch.rand(4_000_000, generator=g) * 2 - 1) * 90
    for x in (bits[bits.abs() < 87], -bits[bits.abs() < 87], uniform[uniform.abs() < 87]):
        q = torch.sigmoid(x)
        p = x.double().sigmoid().float()
        ulps = (q.view(torch.int32).long() - p.view(torch.int32).long()).abs()
        assert int(ulps.max()) <= 4, int(ulps.max())


@pytest.mark.parametrize("seed", range(12))
def test_recheck_equals_float64_on_random_maps(seed):
    g = torch.Generator().manual_seed(seed)
    k = [1, 2, 5, 9][seed % 4]
    logits = torch.randn(k, 12, 12, generator=g) * [1, 4, 12][seed % 3]
    final = torch.rand(k, generator=g) + 0.05
    size = [(31, 45), (12, 12), (7, 50)][seed % 3]
    compare(logits, final, size)
    compare(logits, final, size, max_elements=2 * size[0] * size[1])  # chunks of 2 slots
    compare(logits, final, size, thr=[0.3, 0.5, 0.9][seed % 3])


def test_exact_ties_between_equal_slots_go_to_the_first():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 10, 10, generator=g) * 3
    logits[4] = logits[1]
    logits[5] = logits[1]
    final = torch.tensor([0.3, 0.5, 0.2, 0.4, 0.5, 0.5])
    for me in (1, 2 * 400, 1 << 24):
        b = compare(logits, final, (20, 20), max_elements=me)
        assert b.rechecked > 0 and not (b.owner >= 4).any()


def test_all_equal_logits():
    for value in (0.0, 3.0, -5.0, -95.0, -120.0):  # 0: p = 0.5 exactly; < -88: float32 underflow
        logits = torch.full((5, 6, 6), value)
        for final in (torch.ones(5), torch.tensor([0.2, 0.7, 0.7, 0.1, 0.7])):
            b = compare(logits, final, (9, 11), max_elements=2 * 99)
            assert b.rechecked > 0


def test_probabilities_at_the_threshold():
    # logits j 2^-26: p - 1/2 ~ j 2^-28, around the float32 neighbours of 0.5 (spacing 2^-25
    # below, 2^-24 above), including the rounding midpoints, and two slots per pixel
    grid = torch.arange(-200, 200, dtype=torch.float32) * 2.0 ** -26
    logits = torch.stack([grid.view(20, 20), grid.flip(0).view(20, 20), torch.zeros(20, 20)])
    final = torch.tensor([0.5, 0.5, 0.5])
    for thr in (0.5, float(np.nextafter(np.float32(0.5), np.float32(1))),
                float(np.nextafter(np.float32(0.5), np.float32(0)))):
        b = compare(logits, final, (20, 20), thr=thr)  # same size: the grid is not resized
        assert b.rechecked > 0
    # thresholds equal to the exact probability of logits whose float32 sigmoid differs
    x = torch.linspace(-6, 6, 200_001)
    x = x[torch.sigmoid(x) != x.double().sigmoid().float()][::997][:8]
    assert x.numel() == 8
    for xi in x.tolist():
        thr = float(torch.tensor([xi]).double().sigmoid().float())
        logits = torch.full((2, 4, 4), xi)
        logits[1] -= 1.0
        b = compare(logits, torch.tensor([0.4, 0.6]), (4, 4), thr=thr)
        assert b.area_orig[0] == 16 and b.rechecked > 0
    # thresholds lying on float32 probabilities of other logits
    x = torch.linspace(-6, 6, 400).view(20, 20)
    logits = torch.stack([x, -x])
    for t in (0.01, 0.25, 0.7, 0.95):
        thr = float(np.float32(t))
        compare(logits, torch.tensor([0.4, 0.6]), (20, 20), thr=thr)
        compare(logits, torch.tensor([0.4, 0.6]), (33, 29), thr=thr)


def test_products_one_ulp_apart():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(16, 16, generator=g) * 3
    up_one = torch.from_numpy(np.nextafter(a.numpy(), np.float32(np.inf)))  # logits 1 ulp apart
    f = np.float32(0.61)
    f_next = float(np.nextafter(f, np.float32(1)))  # scores 1 ulp apart
    logits = torch.stack([a, up_one, a, a])
    for final in (torch.tensor([float(f)] * 4), torch.tensor([f_next, float(f), float(f), f_next])):
        assert compare(logits, final, (16, 16)).rechecked > 0
        compare(logits, final, (16, 16), max_elements=256)
        compare(logits, final, (24, 40))


def test_recheck_limit_and_negative_scores_fall_back_to_float64():
    logits = torch.zeros(4, 5, 5)
    b = compare(logits, torch.ones(4), (10, 10), limit=10)  # 400 undecided pairs > 10
    assert b.rechecked is None
    g = torch.Generator().manual_seed(3)
    b = compare(torch.randn(4, 5, 5, generator=g), torch.tensor([0.5, -0.1, 0.2, 0.3]), (10, 10))
    assert b.rechecked is None


def test_count_ids_is_bincount():
    idx = torch.tensor([[0, 3, 3], [5, 1, 3]])
    assert torch.equal(count_ids(idx, 5), torch.bincount(idx.flatten(), minlength=6)[:5])


def test_default_method_per_device():
    assert default_owner_method("cpu") == "float64"
    assert default_owner_method("cuda") == "float32-recheck"
    with pytest.raises(ValueError):
        assign_owners(torch.zeros(1, 2, 2), torch.ones(1), (2, 2), 0.5, method="float16")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_offline_merge_with_the_float32_method_is_unchanged(seed, tmp_path):
    eiou, logits = make_video(seed=seed)
    frames = [logits[:, t][:, None] for t in range(logits.shape[1])]
    for thr in (0.7, 0.25):
        ref = merge_video(eiou, frames, (23, 37), overlap_threshold=thr, spill_dir=tmp_path)
        got = merge_video(eiou, frames, (23, 37), overlap_threshold=thr, spill_dir=tmp_path,
                          device="cpu", method="float32-recheck")
        np.testing.assert_array_equal(got[0], ref[0])
        assert got[1] == ref[1]


def test_offline_merge_with_the_float32_method_equals_the_oracle(tmp_path, monkeypatch):
    import entitysam.inference.merge.steps as steps

    monkeypatch.setattr(steps, "default_owner_method", lambda device: "float32-recheck")
    eiou, logits = make_video(n=5, q=4, seed=6)
    eiou[:, 2] = eiou[:, 1]
    logits[2] = logits[1]  # exact ties
    check_equal(eiou, logits, (16, 16), tmp_path=tmp_path)
    check_equal(eiou, logits, (20, 30), MergeOptions(overlap_threshold=0.25), tmp_path)


def test_more_than_254_kept_slots_use_a_16_bit_owner_map(tmp_path):
    q = 300
    eiou, logits = make_video(n=3, q=q, s=6, seed=9, blobs=False)
    logits[:, :, :3, :3] += 8 * torch.rand(q, 1, 1, 1)  # a few slots win the top-left corner
    frames = [logits[:, t][:, None] for t in range(logits.shape[1])]
    kw = dict(overlap_threshold=0.1, test_topk_per_image=1000, spill_dir=tmp_path)
    ref = merge_video(eiou, frames, (9, 10), **kw)
    got = merge_video(eiou, frames, (9, 10), device="cpu", method="float32-recheck", **kw)
    assert len(ref[1]) > 0
    np.testing.assert_array_equal(got[0], ref[0])
    assert got[1] == ref[1]
    opts = MergeOptions(overlap_threshold=0.1, test_topk_per_image=1000)
    a = list(OnlineMerger((9, 10), opts).add_all(positions(eiou, logits)))
    b = list(OnlineMerger((9, 10), opts, method="float32-recheck").add_all(positions(eiou, logits)))
    assert [f.id_map.tolist() for f in a] == [f.id_map.tolist() for f in b]
    assert any(f.id_map.any() for f in a)


def _online_reference(eiou, logits, out_size, options):
    """Today's per-slot OnlineMerger loop (numpy masks per slot), for comparison."""
    from entitysam.core.segments import SegmentInfo
    from entitysam.inference.merge.steps import frame_segments, quality_counts, quality_from_counts, select_slots

    q = logits.shape[0]
    eiou_sum, npos = torch.zeros(q, dtype=torch.float64), 0
    q_hi, q_lo = torch.zeros(q, dtype=torch.int64), torch.zeros(q, dtype=torch.int64)
    a_own_t, a_orig_t = torch.zeros(q, dtype=torch.int64), torch.zeros(q, dtype=torch.int64)
    ids, out, real = {}, [], 0
    for pos in positions(eiou, logits):
        eiou_sum += pos.eiou.double()
        npos += 1
        if pos.is_warmup:
            continue
        lg = pos.lowres_logits.reshape(q, logits.shape[-2], logits.shape[-1])
        if real % 5 == 0:
            hi, lo = quality_counts(lg)
            q_hi += hi
            q_lo += lo
        real += 1
        mean = (eiou_sum / npos).float()
        quality = quality_from_counts(q_hi, q_lo)
        slots = torch.nonzero(select_slots(mean, options.object_mask_threshold, options.test_topk_per_image)).flatten()
        id_map = np.zeros(out_size, dtype=np.int32)
        infos = {}
        if slots.numel():
            final = mean[slots] + 0.5 * quality[slots]
            fo = assign_owners(lg[slots], final, out_size, options.mask_binary_threshold, method="float64")
            a, b, _ = fo.counts(options.mask_binary_threshold)
            a_own_t[slots] += a
            a_orig_t[slots] += b
            in_tube = fo.in_tube(options.mask_binary_threshold).numpy()
            for k in range(slots.numel()):
                slot = int(slots[k])
                own, orig = int(a_own_t[slot]), int(a_orig_t[slot])
                pix = in_tube & (fo.owner.numpy() == k)
                if not pix.any() or orig == 0 or own / orig < options.overlap_threshold:
                    continue
                sid = ids.setdefault(slot, len(ids) + 1)
                id_map[pix] = sid
                infos[sid] = SegmentInfo(sid, slot, float(final[k]), float(mean[slot]), float(quality[slot]),
                                         own / orig)
        out.append((id_map, frame_segments(id_map, infos, pos.eiou.float())))
    return out


@pytest.mark.parametrize("method", [None, "float32-recheck"])
def test_online_merger_frames_are_unchanged(method):
    eiou, logits = make_video(n=7, seed=4)
    opts = MergeOptions(overlap_threshold=0.25)
    ref = _online_reference(eiou, logits, (21, 19), opts)
    got = list(OnlineMerger((21, 19), opts, device="cpu", method=method).add_all(positions(eiou, logits)))
    assert len(got) == len(ref) == logits.shape[1]
    assert any(f.id_map.any() for f in got)
    for frame, (id_map, segs) in zip(got, ref):
        np.testing.assert_array_equal(frame.id_map, id_map)
        assert frame.segments == segs


def test_counting_pass_copies_one_owner_map_per_frame(tmp_path):
    from tests.inference.test_merger import run_streaming

    eiou, logits = make_video(n=4, seed=5)
    m, _, _ = run_streaming(eiou, logits, (12, 13), tmp_path=tmp_path)
    submitted = m._writer.submitted
    assert submitted == (4 + WARMUP) + 4 + 4  # eIoU rows, logits, then one owner map per frame


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_merge_equals_the_cpu_merge(tmp_path):
    # also checks that CUDA's bilinear resize gives the CPU's values (the recheck covers the
    # sigmoid only)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        logits = torch.randn(50, 64, 64, generator=g) * 6
        final = torch.rand(50, generator=g) + 0.05
        a = assign_owners(logits, final, (360, 640), 0.5, method="float64")
        b = assign_owners(logits.cuda(), final.cuda(), (360, 640), 0.5)
        for name in FIELDS:
            assert torch.equal(getattr(a, name), getattr(b, name).cpu()), name
    eiou, logits = make_video(seed=1)
    frames = [logits[:, t][:, None] for t in range(logits.shape[1])]
    ref = merge_video(eiou, frames, (23, 37), spill_dir=tmp_path)
    got = merge_video(eiou, [f.cuda() for f in frames], (23, 37), spill_dir=tmp_path, device="cuda")
    np.testing.assert_array_equal(got[0], ref[0])
    assert got[1] == ref[1]
    a = list(OnlineMerger((23, 37)).add_all(positions(eiou, logits)))
    b = list(OnlineMerger((23, 37), device="cuda").add_all(positions(eiou, logits)))
    assert [f.id_map.tolist() for f in a] == [f.id_map.tolist() for f in b]

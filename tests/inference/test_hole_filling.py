"""Hole filling: 8-connected background components of area <= 8 -> logit 0.1 (spec §6.6)."""

import numpy as np
import pytest
import torch

from entitysam.inference.hole_filling import fill_holes
from tests.oracles.hole_filling import scipy_fill_holes


def test_fills_small_components_including_border_ones():
    x = torch.full((2, 1, 12, 12), 5.0)
    x[0, 0, 3:5, 3:5] = -1.0  # enclosed hole, 4 px -> filled
    x[0, 0, 0, 0:3] = -2.0  # touches the border, 3 px -> filled too (no enclosure test)
    x[0, 0, 8:11, 8:11] = -3.0  # 9 px -> kept
    x[1, 0, 2:4, 2:4] = -1.0  # 4 px
    x[1, 0, 4:6, 4:6] = -1.0  # 4 px touching diagonally -> one 8-connected component of 8 -> filled
    x[1, 0, 6:8, 6:8] = 0.0  # logit 0 counts as background; diagonal to the previous one -> 12 px -> kept
    out, changed = fill_holes(x, 8)
    assert changed.tolist() == [7, 0]
    assert torch.all(out[0, 0, 3:5, 3:5] == 0.1) and torch.all(out[0, 0, 0, 0:3] == 0.1)
    assert torch.all(out[0, 0, 8:11, 8:11] == -3.0)
    assert torch.equal(out[1], x[1])  # 2:4 + 4:6 + 6:8 join diagonally into one 12-px component


def test_diagonal_join_of_two_small_components_counts_as_one():
    x = torch.full((1, 1, 10, 10), 1.0)
    x[0, 0, 1:3, 1:3] = -1.0
    x[0, 0, 3:5, 3:5] = -1.0  # 8 px together -> filled
    x[0, 0, 7, 7] = -1.0  # isolated 1 px -> filled
    out, changed = fill_holes(x, 8)
    assert changed.tolist() == [9]
    x[0, 0, 5, 5] = -1.0  # now 9 px connected -> not filled (the isolated one still is)
    out, changed = fill_holes(x, 8)
    assert changed.tolist() == [1]


def test_disabled_with_zero_area():
    x = -torch.ones(1, 1, 4, 4)
    out, changed = fill_holes(x, 0)
    assert out is x and changed.tolist() == [0]


# -- the torch implementation against an independent scipy oracle, bit for bit ---------------



def _check_equal(x: torch.Tensor, max_area: int = 8):
    ref, ref_changed = scipy_fill_holes(x.numpy(), max_area)
    for method in ("torch", "scipy"):
        out, changed = fill_holes(x, max_area, method=method)
        assert out.dtype == x.dtype and out.shape == x.shape
        assert np.array_equal(out.numpy().view(np.uint32), ref.view(np.uint32)), method  # bit for bit
        assert changed.dtype == torch.int64 and changed.tolist() == ref_changed.tolist(), method


@pytest.mark.parametrize("seed", range(6))
def test_torch_equals_scipy_on_random_maps(seed):
    g = torch.Generator().manual_seed(seed)
    # smoothed noise at several densities: components of every size, shape and border contact
    for density in (0.05, 0.2, 0.45, 0.6, 0.8):
        noise = torch.rand(16, 1, 48, 40, generator=g)
        x = torch.where(noise < density, -torch.rand(16, 1, 48, 40, generator=g),
                        torch.rand(16, 1, 48, 40, generator=g) + 1e-3)
        x[0, 0, 5, 7] = 0.0  # exactly zero is background
        x[1, 0, 5, 7] = float("nan")  # NaN is not background (logit <= 0 is False)
        for area in (1, 3, 8, 9, 20):
            _check_equal(x, area)


def test_torch_equals_scipy_on_a_full_size_map():
    g = torch.Generator().manual_seed(7)
    x = torch.nn.functional.avg_pool2d(torch.randn(50, 1, 256, 256, generator=g), 3, 1, 1)
    _check_equal(x, 8)


def _paint(h, w, cells):
    x = torch.full((1, 1, h, w), 2.0)
    for y, xx in cells:
        x[0, 0, y, xx] = -1.0
    return x


@pytest.mark.parametrize("cells, filled", [
    ([(i, i) for i in range(8)], True),  # diagonal-only chain of exactly 8 px
    ([(i, i) for i in range(9)], False),  # ... of 9 px
    ([(0, c) for c in range(8)], True),  # 8 px along the top border
    ([(0, c) for c in range(9)], False),  # 9 px along the top border
    ([(r, 0) for r in range(8)] + [(7, 1)], False),  # 9 px L touching the left border
    ([(9, 9), (8, 8), (9, 7), (8, 6), (9, 5), (8, 4), (9, 3), (8, 2)], True),  # zigzag, 8 px, corner
    ([(9, 9), (8, 8), (9, 7), (8, 6), (9, 5), (8, 4), (9, 3), (8, 2), (9, 1)], False),
    ([(0, 0)], True),  # corner pixel
])
def test_adversarial_shapes(cells, filled):
    x = _paint(10, 10, cells)
    for method in ("torch", "scipy"):
        out, changed = fill_holes(x, 8, method=method)
        assert changed.tolist() == [len(cells) if filled else 0]
    _check_equal(x, 8)
    # the same shape mirrored and transposed (border and diagonal directions all covered)
    for y in (x.flip(-1), x.flip(-2), x.transpose(-1, -2), x.flip(-1).flip(-2)):
        _check_equal(y.contiguous(), 8)


def test_long_snake_is_not_filled_by_a_short_propagation():
    # a 1-px snake of hundreds of pixels: only the group test (closed + small) can tell it
    # from small pieces; any label group of <= 8 px inside it is open
    x = torch.full((1, 1, 20, 20), 3.0)
    for r in range(0, 20, 2):
        x[0, 0, r, :] = -1.0
    for r in range(1, 20, 4):
        x[0, 0, r, 19] = -1.0
    for r in range(3, 20, 4):
        x[0, 0, r, 0] = -1.0
    out, changed = fill_holes(x, 8, method="torch")
    assert changed.tolist() == [0]
    _check_equal(x, 8)
    _check_equal(x, 200)  # and a threshold above its size fills it


def test_other_dtypes_and_values_kept():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 1, 16, 16, generator=g, dtype=torch.float64)
    ref, ref_changed = scipy_fill_holes(x.numpy(), 8)
    for method in ("torch", "scipy"):
        res = fill_holes(x, 8, method=method)
        assert res[0].dtype == torch.float64 and np.array_equal(res[0].numpy(), ref)
        assert res[1].tolist() == ref_changed.tolist()
    with pytest.raises(ValueError):
        fill_holes(x, 8, method="opencv")

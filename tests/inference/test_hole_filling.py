"""Hole filling: 8-connected background components of area <= 8 -> logit 0.1 (spec §6.6)."""

import torch

from entitysam.inference.hole_filling import fill_holes


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

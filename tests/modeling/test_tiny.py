"""The tiny config builds and runs on CPU; structural quirks of the model."""

import pytest
import torch
import torch.nn.functional as F

from entitysam.inference.predictor import EntitySAMPredictor
from entitysam.modeling import build_entitysam
from entitysam.modeling.dinov2 import DINOv2
from entitysam.modeling.entity_decoder import group_tokens, ungroup_tokens
from entitysam.modeling.prompt_generator import grid_coordinates


def test_tiny_runs_frames_on_cpu(tiny_model):
    p = EntitySAMPredictor(tiny_model)
    S, Q = p.image_size, p.num_slots
    outs = p.step(torch.randn(3, S, S))  # first frame: warm-ups + frame 0 (compiles kernels)
    outs2 = p.step(torch.randn(3, S, S))
    assert len(outs) == 4 and [o.is_warmup for o in outs] == [True, True, True, False]
    assert [o.position for o in outs + outs2] == [0, 1, 2, 3, 4]
    assert [o.frame_index for o in outs + outs2] == [0, 0, 0, 0, 1]
    o = outs2[0]
    assert o.lowres_logits.shape == (Q, 1, S // 4, S // 4) and o.lowres_logits.dtype == torch.float32
    assert o.eiou.shape == (Q,) and torch.all((o.eiou > 0) & (o.eiou < 1))
    expected = o.iou * torch.sigmoid(o.entity_logits.max(-1).values)
    torch.testing.assert_close(o.eiou, expected)


def test_memory_counts_positions_not_frames(tiny_model):
    """Warm-up copies of frame 0 are memories of their own; the bank keeps the last 7 positions."""
    p = EntitySAMPredictor(tiny_model)
    S = p.image_size
    p.step(torch.randn(3, S, S))
    assert len(p.memory) == 4  # positions 0..3, all video frame 0
    reads = [k for k, _ in p.memory.read()]
    assert reads == [1, 2, 3, 4]  # video frame 1 (position 4) reads 4 memories
    for _ in range(6):
        p.step(torch.randn(3, S, S))
    assert len(p.memory) == 7


def test_predictor_is_deterministic_and_reset_restarts(tiny_model):
    S = tiny_model.cfg.image_size
    frames = [torch.randn(3, S, S, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    p = EntitySAMPredictor(tiny_model)
    a = [o.lowres_logits for f in frames for o in p.step(f)]
    p.reset()
    b = [o.lowres_logits for f in frames for o in p.step(f)]
    assert len(a) == len(b) == 6
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_points_accumulate_offsets(tiny_model):
    p = EntitySAMPredictor(tiny_model)
    S = p.image_size
    outs = p.step(torch.randn(3, S, S)) + p.step(torch.randn(3, S, S))
    for prev, cur in zip(outs, outs[1:]):
        assert not torch.equal(prev.points, cur.points)
    # position 0 points are a soft-argmax on the grid: inside [0, S)
    assert torch.all((outs[0].points >= 0) & (outs[0].points < S))


@pytest.mark.parametrize("Q", [50, 5])
def test_decoder_token_grouping_rule(Q):
    """Image copy b gets rows b, Q+b, 2Q+b, 3Q+b of the 4Q tokens (spec §5.3, quirk 2)."""
    rows = torch.arange(4 * Q, dtype=torch.float32)[None, :, None]
    g = group_tokens(rows, Q)
    assert g.shape == (Q, 4, 1)
    for b in range(Q):
        assert g[b, :, 0].tolist() == [b, Q + b, 2 * Q + b, 3 * Q + b]
    assert torch.equal(ungroup_tokens(g), rows)
    if Q == 50:  # for even b = 2m the two prompt rows are the points of slots m and 25 + m
        b = 6
        sparse_rows = [r - 2 * Q for r in g[b, 2:, 0].int().tolist()]
        assert [r // 2 for r in sparse_rows] == [3, 28] and all(r % 2 == 0 for r in sparse_rows)


def test_grid_coordinates_ij_order():
    c = grid_coordinates(4, 4)
    assert c[1].tolist() == [0.0, 1.0] and c[4].tolist() == [1.0, 0.0] and c[15].tolist() == [3.0, 3.0]


def test_dinov2_position_embedding_uses_hub_scale_factor():
    """Bicubic with scale_factor (64 + 0.1)/37, no antialias — not size=64 (spec §4, quirk 18)."""
    torch.manual_seed(0)
    vit = DINOv2(embed_dim=8, depth=1, num_heads=2)
    torch.nn.init.normal_(vit.pos_embed)
    pe = vit.interpolate_pos_encoding(64 * 64 + 1, 896, 896)
    grid = vit.pos_embed[:, 1:].reshape(1, 37, 37, 8).permute(0, 3, 1, 2)
    ref = F.interpolate(grid, scale_factor=(64.1 / 37, 64.1 / 37), mode="bicubic", antialias=False)
    assert torch.equal(pe[0, 1:], ref.permute(0, 2, 3, 1).reshape(-1, 8)[:])
    other = F.interpolate(grid, size=(64, 64), mode="bicubic", antialias=False)
    assert not torch.allclose(ref, other, atol=1e-6)
    assert torch.equal(pe[0, 0], vit.pos_embed[0, 0])


def test_config_overrides_change_slots_and_size():
    m = build_entitysam("tiny", num_slots=5, image_size=128)
    p = EntitySAMPredictor(m)
    outs = p.step(torch.randn(3, 128, 128))
    assert outs[0].lowres_logits.shape == (5, 1, 32, 32)


def test_cpu_bf16_autocast_runs_and_official_bf16_needs_cuda(tiny_model):
    from entitysam.errors import EntitySAMError

    S = tiny_model.cfg.image_size
    p = EntitySAMPredictor(tiny_model, precision="bf16")
    o = p.step(torch.randn(3, S, S))[-1]
    assert o.lowres_logits.dtype == torch.float32 and torch.isfinite(o.lowres_logits).all()
    assert p.memory.read()[0][1].features.dtype == torch.float32  # memories stay float32 on CPU
    with pytest.raises(EntitySAMError, match="needs a CUDA device"):
        EntitySAMPredictor(tiny_model, precision="official-bf16")
    with pytest.raises(EntitySAMError, match="unknown precision"):
        EntitySAMPredictor(tiny_model, precision="fp8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (official-bf16 is CUDA-only)")
def test_official_bf16_on_cuda_stores_bf16_memories(tiny_model):
    import copy

    m = copy.deepcopy(tiny_model).cuda()
    S = m.cfg.image_size
    p = EntitySAMPredictor(m, precision="official-bf16")
    p.step(torch.randn(3, S, S))
    assert p.memory.read()[0][1].features.dtype == torch.bfloat16
    assert torch.backends.cuda.matmul.allow_tf32 is False  # restored after the call


def test_training_forward_gradients_stay_within_frames():
    from entitysam.modeling.trainable import set_trainable
    from entitysam.training.propagate import propagate_clip

    torch.manual_seed(0)
    m = build_entitysam("tiny").train()
    set_trainable(m)
    S, Q = m.cfg.image_size, m.cfg.num_slots
    out = propagate_clip(m, torch.randn(3, 3, S, S))
    assert out.pred_logits.shape == (1, Q, 2)
    assert out.pred_iou.shape == (1, Q, 3, 1) and out.pred_masks.shape == (1, Q, 3, S // 4, S // 4)
    # loss on the last frame only: the point sampler (frame 0 only) gets no gradient
    out.pred_masks[0, :, 2].sum().backward()
    assert m.point_sampler_num.weight.grad is None or torch.all(m.point_sampler_num.weight.grad == 0)
    assert m.offset_fc.weight.grad is not None and m.offset_fc.weight.grad.abs().sum() > 0
    assert all(p.grad is None for n, p in m.named_parameters() if n.startswith("memory_attention"))


def test_entity_score_option_changes_only_eiou(tiny_model):
    """Quirk 11: official eIoU = IoU x sigmoid(max of both entity logits); the option uses the
    foreground logit (column 1) and leaves every other output unchanged."""
    torch.manual_seed(3)
    frames = [torch.randn(3, 256, 256) for _ in range(2)]
    p_max, p_fg = EntitySAMPredictor(tiny_model), EntitySAMPredictor(tiny_model, entity_score="foreground")
    differs = False
    for f in frames:
        for a, b in zip(p_max.step(f), p_fg.step(f)):
            torch.testing.assert_close(a.lowres_logits, b.lowres_logits, rtol=0, atol=0)
            torch.testing.assert_close(a.entity_logits, b.entity_logits, rtol=0, atol=0)
            torch.testing.assert_close(a.eiou, a.iou * torch.sigmoid(a.entity_logits.max(-1).values))
            torch.testing.assert_close(b.eiou, b.iou * torch.sigmoid(b.entity_logits[:, 1]))
            differs |= not torch.equal(a.eiou, b.eiou)
    assert differs
    with pytest.raises(ValueError, match="entity_score"):
        EntitySAMPredictor(tiny_model, entity_score="background")

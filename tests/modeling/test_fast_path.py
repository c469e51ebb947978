"""The exact fast path (issue 13) computes the reference function: each rewritten piece
against the sam2 / official computation it replaces, and whole positions on the tiny config
and on ViT-S shapes (random weights)."""

import threading

import pytest
import torch

from entitysam.inference.predictor import EntitySAMPredictor
from entitysam.modeling import build_entitysam
from entitysam.modeling.dual_encoder import concat_features, fuse, fuse_split
from entitysam.modeling.entitysam import FrameFeatures, Memory
from entitysam.modeling.sam2_parts import build_memory_attention
from entitysam.modeling.memory_attention import attend_memory, memory_attention_slots, supports_slots_path
from entitysam.modeling.prompt_generator import PromptGenerator
from entitysam.modeling.slot_parallel import run_tasks

TOL = 1e-4  # issue 13: entity logits, IoU, eIoU, low-res logits


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("n, L, block, key_block", [(64, 96, 16, 32), (50, 70, 16, 32), (7, 5, 512, 1024)])
def test_attend_memory_is_softmax_attention(n, L, block, key_block):
    g = _gen(0)
    q = torch.randn(3, n, 32, generator=g) * 0.5
    k = torch.randn(3, L, 32, generator=g)
    x = torch.randn(3, L, 8, generator=g)
    ref = torch.softmax(q @ k.transpose(1, 2), dim=-1) @ x
    torch.testing.assert_close(attend_memory(q, k, x, block, key_block), ref, atol=1e-6, rtol=1e-5)
    # a query shared by every slot
    ref1 = torch.softmax(q[:1] @ k.transpose(1, 2), dim=-1) @ x
    torch.testing.assert_close(attend_memory(q[:1], k, x, block, key_block), ref1, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("workers", [0, 2])
def test_memory_attention_slots_matches_sam2_module(tiny_model, workers):
    """The rewritten forward against sam2's ``MemoryAttention.forward`` on slot copies."""
    cfg = tiny_model.cfg
    torch.manual_seed(1)
    ma = build_memory_attention(cfg).eval()
    for p in ma.parameters():  # non-trivial LayerNorm affine parameters and biases
        p.data.add_(torch.randn_like(p) * 0.05)
    assert supports_slots_path(ma)
    g = _gen(2)
    Q, n, N, C, m = 5, 3, cfg.grid_size**2, cfg.hidden_dim, cfg.mem_dim
    curr, curr_pos = torch.randn(N, C, generator=g), torch.randn(N, C, generator=g)
    mems = [torch.randn(Q, N, m, generator=g) for _ in range(n)]
    mem_pos = [torch.randn(N, m, generator=g) for _ in range(n)]
    with torch.inference_mode():
        ref = ma(
            curr=curr[:, None].expand(-1, Q, -1),
            curr_pos=curr_pos[:, None].expand(-1, Q, -1),
            memory=torch.cat(mems, dim=1).transpose(0, 1),
            memory_pos=torch.cat(mem_pos, dim=0)[:, None].expand(-1, Q, -1),
        ).transpose(0, 1)
        ours = memory_attention_slots(ma, curr, curr_pos, mems, mem_pos, workers=workers)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_training_mode_uses_the_reference(tiny_model):
    ma = build_memory_attention(tiny_model.cfg)
    assert not supports_slots_path(ma.train())
    model = build_entitysam("tiny").train()
    with torch.no_grad():
        assert not model.fast_path_ok()  # training mode
    model.eval()
    assert not model.fast_path_ok()  # autograd on
    with torch.inference_mode():
        assert model.fast_path_ok()


def test_split_offset_attention_and_fusion(tiny_model):
    cfg = tiny_model.cfg
    Q, N, C = cfg.num_slots, cfg.grid_size**2, cfg.hidden_dim
    g = _gen(3)
    pg = PromptGenerator(tiny_model)
    dino = torch.randn(1, N, C, generator=g)
    with torch.inference_mode():
        for batch in (1, Q):  # shared SAM tokens (position 0) and per-slot tokens
            sam = torch.randn(batch, C, cfg.grid_size, cfg.grid_size, generator=g)
            f_cat = concat_features(sam, dino)
            tokens = sam.flatten(2).transpose(1, 2)
            torch.testing.assert_close(pg.attend_split(tokens, dino[0]), pg.attend(f_cat), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(fuse_split(tiny_model.backbone_feature_enhancement, tokens, dino, cfg.grid_size),
                                       fuse(tiny_model.backbone_feature_enhancement, f_cat, cfg.grid_size),
                                       atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("chunk", [1, 5])
def test_decoder_in_slot_chunks(tiny_model, chunk):
    cfg = tiny_model.cfg
    Q, C, h = cfg.num_slots, cfg.hidden_dim, cfg.grid_size
    g = _gen(4)
    dec = tiny_model.sam_mask_decoder
    args = dict(
        image_pe=torch.randn(1, C, h, h, generator=g),
        sparse_prompt_embeddings=torch.randn(Q, 2, C, generator=g),
        dense_prompt_embeddings=torch.randn(1, C, 1, 1, generator=g).expand(Q, -1, h, h),
        high_res_features=(torch.randn(1, C // 8, 4 * h, 4 * h, generator=g), torch.randn(1, C // 4, 2 * h, 2 * h, generator=g)),
    )
    image = torch.randn(Q, C, h, h, generator=g)
    with torch.inference_mode():
        ref = dec(image_embeddings=image, **args)
        ours = dec(image_embeddings=image, slot_chunk=chunk, **args)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def _compare_outputs(a, b, tol=TOL):
    for name in ("entity_logits", "iou", "eiou", "lowres_logits"):
        d = (getattr(a, name).float() - getattr(b, name).float()).abs().max().item()
        assert d <= tol, f"{name}: max |diff| {d:.2e} > {tol}"


def test_tiny_predictor_fast_equals_reference(tiny_model):
    S = tiny_model.cfg.image_size
    frames = [torch.randn(3, S, S, generator=_gen(10 + i)) for i in range(2)]
    ref = EntitySAMPredictor(tiny_model, reference=True)
    fast = EntitySAMPredictor(tiny_model)
    outs = 0
    for f in frames:
        for a, b in zip(ref.step(f), fast.step(f)):  # positions 0..4: 0..4 memories
            _compare_outputs(a, b)
            torch.testing.assert_close(a.points, b.points, atol=1e-3, rtol=0)
            outs += 1
    assert outs == 5


def test_vits_shapes_fast_equals_reference():
    """ViT-S shapes (1024 input, 64x64 grid, 256/64 widths, 4 memory-attention layers), random
    weights, 3 slots, random frame features and memories: positions with and without memory."""
    torch.manual_seed(0)
    model = build_entitysam("vit-s", num_slots=3)
    cfg = model.cfg
    Q, C, g, m, S = cfg.num_slots, cfg.hidden_dim, cfg.grid_size, cfg.mem_dim, cfg.image_size
    gen = _gen(5)
    vision = torch.randn(1, C, g, g, generator=gen)
    feats = FrameFeatures(
        vision=vision,
        vision_pos=model.image_encoder.neck.position_encoding(vision),
        high_res=(torch.randn(1, C // 8, 4 * g, 4 * g, generator=gen), torch.randn(1, C // 4, 2 * g, 2 * g, generator=gen)),
        dino=torch.randn(1, g * g, cfg.dinov2.embed_dim, generator=gen),
    )
    pos_enc = model.memory_encoder.position_encoding(torch.zeros(1, m, g, g))
    mems = [(k, Memory(features=torch.randn(Q, m, g, g, generator=gen), pos_enc=pos_enc)) for k in (1, 2)]
    points = torch.rand(Q, 2, generator=gen) * S
    with torch.inference_mode():
        for memories, prev in (([], None), (mems, points)):
            a = model.step(feats, memories, prev, reference=True)
            b = model.step(feats, memories, prev)
            _compare_outputs(a, b)
            torch.testing.assert_close(a.memory.features, b.memory.features, atol=TOL, rtol=0)
            torch.testing.assert_close(a.memory.pos_enc, b.memory.pos_enc)


def test_workers_leave_thread_settings_and_modes():
    before = torch.get_num_threads()
    seen = []

    def task(i):
        seen.append((torch.get_num_threads(), torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
        return i * i

    with torch.inference_mode():
        assert run_tasks(task, list(range(6)), workers=2) == [0, 1, 4, 9, 16, 25]
    assert seen and all(s == (1, True, False) for s in seen)  # single-threaded, caller's modes
    assert torch.get_num_threads() == before
    fresh = []
    t = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert fresh == [before]  # threads started later get the usual count

    def boom(i):
        raise ValueError(f"task {i}")

    with pytest.raises(ValueError, match="task"):
        run_tasks(boom, [1, 2, 3], workers=2)
    assert torch.get_num_threads() == before

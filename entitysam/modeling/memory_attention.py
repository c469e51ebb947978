"""Memory attention for many slots, computed exactly but cheaper (issue 13).

Meta's ``sam2`` ``MemoryAttention`` stays the module and holds the parameters (same
state-dict names); :func:`memory_attention_slots` is another computation of its forward
for EntitySAM's case, where all Q slots share the current frame's features and differ only
in their memories:

* **Shared inputs computed once.** The input of layer 0 (L2 + 0.1 · sine PE) is the same
  for every slot, so layer 0's self-attention and its cross-attention queries are computed
  once instead of Q times. No slot copy of the current features or of the memory positional
  encodings is materialised.
* **Values in the 64-d memory space.** The cross-attention values are ``v_proj(memory)``;
  attention rows sum to one, so ``softmax(QKᵀ)·v_proj(X) = v_proj(softmax(QKᵀ)·X)`` (bias
  included). The weighted sum runs over the 64-d memory features and ``v_proj`` (then
  ``out_proj``) is applied to the 4096 results afterwards: the value half of the
  cross-attention costs a quarter. PyTorch's fused CPU attention needs equal q/k/v widths, so
  :func:`attend_memory` is a tiled attention (blockwise softmax, tiles of about one L2 cache).
* **One slot at a time.** Slots go through all layers separately (on CPU, one slot per
  single-threaded worker, :mod:`entitysam.modeling.slot_parallel`), so transient memory is a
  slot's, not Q × n·4096 keys'.

Everything else (self-attention of layers >= 1, LayerNorms, FFN, projections, RoPE tables)
calls the sam2 modules and their parameters. The result equals ``MemoryAttention.forward``
up to float rounding (``tests/modeling/test_fast_path.py`` compares the two). Inference only:
dropout must be inactive (eval mode). Under CPU bf16 autocast the cross-attention is sam2's
own (PyTorch's fused bf16 attention is faster there than 64-d float32 tiles).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from sam2.modeling.memory_attention import MemoryAttention
from sam2.modeling.sam.transformer import RoPEAttention

from entitysam.modeling.slot_parallel import cpu_workers, run_tasks

# Slots per work item when running in the caller's thread only (one CPU thread); on
# CPU with several threads each worker takes one slot at a time.
SLOT_CHUNK = 5
# Attention tiles: QUERY_BLOCK queries x KEY_BLOCK keys of scores (2 MB in float32, about one
# core's L2 cache).
QUERY_BLOCK = 512
KEY_BLOCK = 1024


def supports_slots_path(ma: MemoryAttention) -> bool:
    """Whether :func:`memory_attention_slots` computes this module's function: single-head
    RoPE attention everywhere, batch-first layers, dropout inactive."""
    if ma.training or not ma.batch_first:
        return False
    for layer in ma.layers:
        ca, sa = layer.cross_attn_image, layer.self_attn
        if not (isinstance(ca, RoPEAttention) and isinstance(sa, RoPEAttention)):
            return False
        if ca.num_heads != 1 or not ca.rope_k_repeat or layer.training:
            return False
    return True


def _freqs(attn: RoPEAttention, n_tokens: int, device) -> Tensor:
    """The RoPE table sam2's ``RoPEAttention.forward`` uses for ``n_tokens`` queries (without
    writing it back to the module)."""
    freqs = attn.freqs_cis
    if freqs.shape[0] != n_tokens:
        side = math.sqrt(n_tokens)
        freqs = attn.compute_cis(end_x=side, end_y=side)
    return freqs.to(device)


def rotate(x: Tensor, freqs: Tensor) -> Tensor:
    """RoPE as sam2's ``apply_rotary_enc``: x (..., N, C) times freqs (N, C/2) as complex pairs."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * freqs).flatten(-2).type_as(x)


def attend_memory(q: Tensor, k: Tensor, x: Tensor, block: int = QUERY_BLOCK, key_block: int = KEY_BLOCK) -> Tensor:
    """softmax(q kᵀ) x in tiles of ``block`` queries x ``key_block`` keys.

    Each tile's softmax is taken against the tile's own row maximum; the tiles of a query
    block are then combined with weights exp(m_t - max_t m_t) (the usual exact rescaling of
    blockwise softmax), so no score matrix larger than one tile exists.

    Args:
        q: (B or 1, N, C) queries, already rotated and scaled by C^-0.5.
        k: (B, L, C) keys; x: (B, L, m) values (any width m).
    Returns:
        (B, N, m) float32 (or x's dtype if wider).
    """
    B, L, _ = k.shape
    N = q.shape[1]
    m = x.shape[-1]
    dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), torch.float32)
    out = torch.empty(B, N, m, dtype=dtype, device=x.device)
    bq = min(block, N)
    starts = list(range(0, L, key_block))
    T = len(starts)
    buf = torch.empty(bq, min(key_block, L), dtype=dtype, device=k.device)
    mx = torch.empty(T, bq, 1, dtype=dtype, device=k.device)
    den = torch.empty(T, bq, 1, dtype=dtype, device=k.device)
    num = torch.empty(T, bq, m, dtype=dtype, device=k.device)
    q, k, x = q.to(dtype), k.to(dtype), x.to(dtype)
    for b in range(B):
        qb, kt, xb = q[b if q.shape[0] > 1 else 0], k[b].t(), x[b]
        for i in range(0, N, bq):
            j = min(i + bq, N)
            r = j - i
            for t, k0 in enumerate(starts):
                k1 = min(k0 + key_block, L)
                s = torch.mm(qb[i:j], kt[:, k0:k1], out=buf[:r, : k1 - k0])
                torch.amax(s, dim=-1, keepdim=True, out=mx[t, :r])
                s.sub_(mx[t, :r]).exp_()
                torch.sum(s, dim=-1, keepdim=True, out=den[t, :r])
                torch.mm(s, xb[k0:k1], out=num[t, :r])
            w = (mx[:, :r] - mx[:, :r].amax(dim=0)).exp_()  # (T, r, 1)
            torch.div((num[:, :r] * w).sum(dim=0), (den[:, :r] * w).sum(dim=0), out=out[b, i:j])
    return out


def _low_precision_autocast(device) -> bool:
    """Under CPU bf16/fp16 autocast the cross-attention keeps sam2's own computation: PyTorch's
    fused low-precision attention (same-width values) beats 64-d values in float32 tiles."""
    dev = torch.device(device).type
    return dev == "cpu" and torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") != torch.float32


def _query(layer, tgt: Tensor, query_pos: Tensor, freqs: Tensor) -> Tensor:
    """Rotated, scaled cross-attention queries of ``tgt`` (B, N, C)."""
    attn = layer.cross_attn_image
    x = layer.norm2(tgt)
    if layer.pos_enc_at_cross_attn_queries:
        x = x + query_pos
    q = rotate(attn.q_proj(x), freqs)
    return q * (q.shape[-1] ** -0.5)


def _cross_attention(layer, q: Tensor, mem: Tensor, mem_pos: Tensor, num_frames: int, freqs: Tensor) -> Tensor:
    """Cross-attention output (B, N, C) of queries q over the memories of B slots.

    mem: (B, n*N, m) memory features (values), mem_pos: (n*N, m) their positional
    encodings, identical for every slot.
    """
    attn = layer.cross_attn_image
    B, L, _ = mem.shape
    k_in = mem + mem_pos if layer.pos_enc_at_cross_attn_keys else mem
    k = attn.k_proj(k_in)  # (B, n*N, C)
    del k_in
    # RoPE repeated per memory frame (sam2's rope_k_repeat), in place when k is float32
    if k.dtype == torch.float32:
        torch.view_as_complex(k.view(B, num_frames, L // num_frames, -1, 2)).mul_(freqs)
    else:
        k = rotate(k.view(B, num_frames, L // num_frames, -1), freqs).view(B, L, -1)
    o = attend_memory(q, k, mem)  # (B, N, m): attention over the 64-d memory features
    return attn.out_proj(attn.v_proj(o))


def memory_attention_slots(
    ma: MemoryAttention,
    curr: Tensor,
    curr_pos: Tensor,
    memories: list[Tensor],
    memory_pos: list[Tensor],
    out: Tensor | None = None,
    workers: int | None = None,
) -> Tensor:
    """``MemoryAttention.forward`` for Q slots that share their current-frame input.

    Args:
        curr, curr_pos: (N, C) current tokens and their sine PE (the same for every slot).
        memories: per memory frame (oldest first) the slots' features (Q, N, m) (any strides).
        memory_pos: per memory frame its positional encoding (N, m) (sine + temporal), the
            same for every slot.
        out: optional (Q, N, C) tensor to write the result into.
        workers: CPU worker threads (default: :func:`~entitysam.modeling.slot_parallel.cpu_workers`).
    Returns:
        (Q, N, C) batch-first output (sam2 returns it sequence-first: (N, Q, C)).
    """
    n = len(memories)
    Q, N, _ = memories[0].shape
    C = curr.shape[-1]
    layers = ma.layers
    curr, curr_pos = curr[None], curr_pos[None]  # (1, N, C)
    tgt0 = curr + 0.1 * curr_pos if ma.pos_enc_at_input else curr
    mem_pos = torch.cat(memory_pos, dim=0)  # (n*N, m)
    freqs = [_freqs(layer.cross_attn_image, N, curr.device) for layer in layers]
    # layer 0: self-attention and cross-attention queries are the same for every slot
    tgt0 = layers[0]._forward_sa(tgt0, curr_pos)  # sam2's own, (1, N, C)
    low_precision = _low_precision_autocast(curr.device)
    q0 = None if low_precision else _query(layers[0], tgt0, curr_pos, freqs[0])
    if out is None:
        out = torch.empty(Q, N, C, dtype=tgt0.dtype, device=curr.device)
    if workers is None:
        workers = cpu_workers(curr.device)
    chunk = 1 if workers > 1 else SLOT_CHUNK

    def run(s0: int) -> None:
        s1 = min(s0 + chunk, Q)
        mem = torch.cat([m[s0:s1] for m in memories], dim=1)  # (B, n*N, m)
        tgt = tgt0
        for i, layer in enumerate(layers):
            if i > 0:
                tgt = layer._forward_sa(tgt, curr_pos)
            if low_precision:  # sam2's own cross-attention: PyTorch's fused bf16 kernel
                tgt = layer._forward_ca(tgt.expand(s1 - s0, -1, -1), mem, curr_pos, mem_pos[None])
            else:
                q = q0 if i == 0 else _query(layer, tgt, curr_pos, freqs[i])
                tgt = tgt + _cross_attention(layer, q, mem, mem_pos, n, freqs[i])
            tgt = tgt + layer.linear2(layer.activation(layer.linear1(layer.norm3(tgt))))
        out[s0:s1] = ma.norm(tgt)

    run_tasks(run, list(range(0, Q, chunk)), workers)
    return out

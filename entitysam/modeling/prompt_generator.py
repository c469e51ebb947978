"""PromptGenerator: one point prompt and an entity score per slot, with no user prompts
(spec model.md §5.2).

* Position 0 (a video's first frame): a learned point sampler — self-attention over the SAM
  tokens, one spatial softmax per slot, soft-argmax on the feature grid.
* Later positions: each slot's point moves by a learned offset predicted by the slot's
  ``offset_embedding`` query attending to its own fused features (cumulative, unclamped).
* Entity logits at every position: ``offset_cls`` on that same attention output.

Quirk 1 (MUST): the soft-argmax yields (16·E[row], 16·E[col]) and the prompt encoder reads
the pair as (x, y) — transposed w.r.t. SAM's convention; the checkpoints were trained so.

The modules are attributes of the EntitySAM model under their official names
(``point_sampler_net``, ``point_sampler_num``, ``offset_embedding``, ``offset_attention``,
``offset_fc``, ``offset_cls``); :class:`PromptGenerator` is a view over them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


def grid_coordinates(grid_h: int, grid_w: int, device=None) -> Tensor:
    """(g_h*g_w, 2) integer grid in 'ij' order: token r*g_w + c -> (r, c), no +0.5."""
    rows, cols = torch.meshgrid(
        torch.arange(grid_h, dtype=torch.float32, device=device),
        torch.arange(grid_w, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return torch.stack([rows.flatten(), cols.flatten()], dim=-1)


@dataclass
class Prompts:
    points: Tensor  # (Q, 2) prompt points in input pixels, (row-ish, col-ish) order = quirk 1
    entity_logits: Tensor  # (Q, 2)


class PromptGenerator:
    """View over the EntitySAM model's prompt-generator modules (no parameters of its own)."""

    def __init__(self, model: nn.Module, slots: Tensor | None = None):
        self.m = model
        self.slots = slots  # None: every slot; else the indices of the slots computed (fast mode)

    @property
    def queries(self) -> Tensor:
        """The computed slots' ``offset_embedding`` rows (Q, 2C)."""
        emb = self.m.offset_embedding.weight
        return emb if self.slots is None else emb.index_select(0, self.slots)

    def sample_points(self, tokens: Tensor, image_size: int, grid: int) -> tuple[Tensor, Tensor]:
        """Frame-0 learned point sampler.

        Args:
            tokens: (1, g*g, C) SAM tokens of slot copy 0 (``pix_feat`` at position 0).
        Returns:
            (Q, 2) points in input pixels (not detached: gradients reach the sampler in training)
            and the (Q, g*g) distributions over the grid cells (row-major) they are the
            soft-argmax of (for the optional point loss), the computed slots' rows only when the
            view was made for a subset.
        """
        attn, _ = self.m.point_sampler_net(tokens, tokens, tokens, need_weights=False)  # no PE
        prob = self.m.point_sampler_num(attn).softmax(dim=1)  # (1, g*g, Q): softmax over positions
        coords = grid_coordinates(grid, grid, device=tokens.device).to(prob.dtype)
        points = torch.einsum("bnq,nk->bqk", prob, coords)[0]  # (Q, 2) = (E[row], E[col])
        # official per-axis scale: row by S / grid width, col by S / grid height (square here)
        scale = torch.tensor([image_size / grid, image_size / grid], dtype=points.dtype, device=points.device)
        points = points * scale
        prob = prob[0].t()  # (Q, g*g)
        if self.slots is not None:
            points, prob = points.index_select(0, self.slots), prob.index_select(0, self.slots)
        return points, prob

    def attend(self, f_cat: Tensor) -> Tensor:
        """Offset attention: slot b's ``offset_embedding`` query over its own fused tokens.

        Args:
            f_cat: (Q, g*g, 2C) or (1, g*g, 2C) when identical for every slot (position 0).
        Returns:
            (Q, 2C)
        """
        emb = self.queries  # (Q, 2C)
        if f_cat.shape[0] == 1:  # shared keys: one batch element, Q queries (same math)
            out, _ = self.m.offset_attention(emb[None], f_cat, f_cat, need_weights=False)
            return out[0]
        out, _ = self.m.offset_attention(emb[:, None], f_cat, f_cat, need_weights=False)
        return out[:, 0]

    def attend_split(self, sam_tokens: Tensor, dino_proj: Tensor) -> Tensor:
        """:meth:`attend` without projecting the 4096 keys and values of every slot.

        Each slot has a single query, so per head h (width d)
        ``q_h · (W_k,h f + b_k,h) = (W_k,hᵀ q_h) · f + const``: the key projection moves onto
        the query (the constant, the same for all keys, cancels in the softmax), and
        ``Σ a_j (W_v,h f_j + b_v,h) = W_v,h (Σ a_j f_j) + b_v,h`` (weights sum to one): the
        value projection moves after the weighted sum. f = [SAM token ‖ DINOv2 token], so the
        DINOv2 half (the same for every slot) is one matrix product for all slots.

        Args:
            sam_tokens: (Q or 1, g*g, C) SAM tokens of each slot (1: shared, position 0).
            dino_proj: (g*g, C) projected DINOv2 tokens.
        Returns:
            (Q, 2C), equal to :meth:`attend` on F_cat up to float rounding.
        """
        mha = self.m.offset_attention
        emb = self.queries  # (Q, 2C)
        Q, E = emb.shape
        H = mha.num_heads
        d = E // H
        C = sam_tokens.shape[-1]
        w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
        b_q, _, b_v = mha.in_proj_bias.chunk(3)
        q = torch.nn.functional.linear(emb, w_q, b_q).view(Q, H, d) * d**-0.5
        u = torch.einsum("qhd,hde->qhe", q, w_k.view(H, d, E))  # (Q, H, 2C): keys' weights on f
        u_sam, u_dino = u[..., :C], u[..., C:]
        scores = (u_dino.reshape(Q * H, C) @ dino_proj.t()).view(Q, H, -1)  # (Q, H, g*g)
        if sam_tokens.shape[0] == 1:
            scores = scores + (u_sam.reshape(Q * H, C) @ sam_tokens[0].t()).view(Q, H, -1)
        else:
            scores = torch.baddbmm(scores, u_sam, sam_tokens.transpose(1, 2))
        a = scores.softmax(dim=-1)
        if sam_tokens.shape[0] == 1:
            ctx_sam = (a.reshape(Q * H, -1) @ sam_tokens[0]).view(Q, H, C)
        else:
            ctx_sam = torch.bmm(a, sam_tokens)  # (Q, H, C)
        ctx_dino = (a.reshape(Q * H, -1) @ dino_proj).view(Q, H, C)
        ctx = torch.cat([ctx_sam, ctx_dino], dim=-1)  # (Q, H, 2C): weighted sums of f per head
        v = torch.einsum("qhe,hde->qhd", ctx, w_v.view(H, d, E)) + b_v.view(H, d)
        return mha.out_proj(v.reshape(Q, E))

    def entity_logits(self, attended: Tensor) -> Tensor:
        return self.m.offset_cls(attended)

    def offsets(self, attended: Tensor) -> Tensor:
        """Per-slot point offsets (Q, 2) in the same transposed input-pixel units."""
        return self.m.offset_fc(attended)

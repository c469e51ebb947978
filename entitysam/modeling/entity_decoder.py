"""EntityDecoder: mask queries + IoU queries with inter-entity self-attention (official
``MaskQueryIoUDecoder`` + ``TwoWayQueryIoUTransformer``; state-dict prefix ``sam_mask_decoder.``).

One decoder call decodes all Q slots at once. The token sequence T (4Q rows: Q mask queries,
Q IoU queries, then the 2Q prompt tokens slot-major) is

* self-attended jointly (batch 1, 4Q tokens): entities see each other;
* cut into 4 chunks of Q and laid side by side for the cross-attentions, so image copy b
  attends with {T[b], T[Q+b], T[2Q+b], T[3Q+b]} (spec model.md §5.3, quirk 2 — this mixes
  prompt tokens across slots; the released weights were trained this way).

Building blocks (``Attention``, ``MLP``, ``LayerNorm2d``) are imported from Meta's ``sam2``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from sam2.modeling.sam.transformer import Attention
from sam2.modeling.sam2_utils import MLP, LayerNorm2d

from entitysam.modeling.slot_parallel import cpu_workers, run_tasks

NUM_SPLITS = 4  # tokens per image copy: mask query, IoU query, 2 prompt tokens


def group_tokens(tokens: Tensor, num_slots: int) -> Tensor:
    """(1, 4Q, C) -> (Q, 4, C): image copy b gets rows b, Q+b, 2Q+b, 3Q+b."""
    return tokens.reshape(NUM_SPLITS, num_slots, tokens.shape[-1]).transpose(0, 1)


def ungroup_tokens(grouped: Tensor) -> Tensor:
    """(Q, 4, C) -> (1, 4Q, C), inverse of :func:`group_tokens`."""
    return grouped.transpose(0, 1).reshape(1, -1, grouped.shape[-1])


class QueryAttentionBlock(nn.Module):
    """One decoder layer (official ``TwoWayAttentionBlock`` of ``transformer_query_iou``)."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, downsample_rate: int, skip_first_layer_pe: bool):
        super().__init__()
        self.self_attn = Attention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, num_heads, downsample_rate=downsample_rate)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_dim, dim, num_layers=2, activation=nn.ReLU)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, num_heads, downsample_rate=downsample_rate)
        self.skip_first_layer_pe = skip_first_layer_pe

    def _inter_entity(self, tokens: Tensor, token_pe: Tensor) -> Tensor:
        """Step 1: inter-entity self-attention over all 4Q tokens (layer 0: no PE, no residual)."""
        if self.skip_first_layer_pe:
            tokens = self.self_attn(q=tokens, k=tokens, v=tokens)
        else:
            q = tokens + token_pe
            tokens = tokens + self.self_attn(q=q, k=q, v=tokens)
        return self.norm1(tokens)

    def forward(self, tokens: Tensor, keys: Tensor, token_pe: Tensor, key_pe: Tensor) -> tuple[Tensor, Tensor]:
        """tokens, token_pe: (1, 4Q, C); keys, key_pe: (Q, HW, C)."""
        Q = keys.shape[0]
        tokens = self._inter_entity(tokens, token_pe)
        # 2-5. grouped cross-attention, one group of 4 tokens per image copy
        tok = group_tokens(tokens, Q)
        pe = group_tokens(token_pe, Q)
        k = keys + key_pe
        tok = self.norm2(tok + self.cross_attn_token_to_image(q=tok + pe, k=k, v=keys))
        tok = self.norm3(tok + self.mlp(tok))
        keys = self.norm4(keys + self.cross_attn_image_to_token(q=k, k=tok + pe, v=tok))
        return ungroup_tokens(tok), keys

    def forward_slots(self, tokens: Tensor, keys: Tensor, token_pe: Tensor, key_pe: Tensor, chunk: int,
                      workers: int) -> Tensor:
        """:meth:`forward` with the per-slot steps 2-5 run ``chunk`` image copies at a time.

        Steps 2-5 only pair image copy b with its own 4 tokens, so they are independent
        between slots; only step 1 (self-attention over all 4Q tokens) is global. ``keys``
        is updated in place (each chunk reads its own rows before writing them).

        Returns:
            the new tokens (1, 4Q, C); ``keys`` holds the new keys.
        """
        Q = keys.shape[0]
        tokens = self._inter_entity(tokens, token_pe)
        tok_all, pe_all = group_tokens(tokens, Q), group_tokens(token_pe, Q)
        tok_out = torch.empty_like(tok_all)

        def run(s0: int) -> None:
            s1 = min(s0 + chunk, Q)
            tok, pe, kv = tok_all[s0:s1], pe_all[s0:s1], keys[s0:s1]
            k = kv + key_pe[s0:s1]
            tok = self.norm2(tok + self.cross_attn_token_to_image(q=tok + pe, k=k, v=kv))
            tok = self.norm3(tok + self.mlp(tok))
            keys[s0:s1] = self.norm4(kv + self.cross_attn_image_to_token(q=k, k=tok + pe, v=tok))
            tok_out[s0:s1] = tok

        run_tasks(run, list(range(0, Q, chunk)), workers)
        return ungroup_tokens(tok_out)


class QueryTransformer(nn.Module):
    """Official ``TwoWayQueryIoUTransformer``: ``depth`` query blocks + final token-to-image attention."""

    def __init__(self, depth: int, dim: int, num_heads: int, mlp_dim: int, downsample_rate: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(
            QueryAttentionBlock(dim, num_heads, mlp_dim, downsample_rate, skip_first_layer_pe=(i == 0))
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(dim, num_heads, downsample_rate=downsample_rate)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, image: Tensor, image_pe: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """image, image_pe: (Q, C, h, w); tokens: (1, 4Q, C) -> (hs (1, 4Q, C), keys (Q, hw, C))."""
        Q = image.shape[0]
        keys = image.flatten(2).permute(0, 2, 1)
        key_pe = image_pe.flatten(2).permute(0, 2, 1)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        tok, pe = group_tokens(queries, Q), group_tokens(tokens, Q)
        attn = self.final_attn_token_to_image(q=tok + pe, k=keys + key_pe, v=keys)
        queries = self.norm_final_attn(queries + ungroup_tokens(attn))
        return queries, keys

    def forward_slots(self, image: Tensor, image_pe: Tensor, tokens: Tensor, chunk: int,
                      workers: int) -> tuple[Tensor, Tensor]:
        """:meth:`forward` with the per-slot steps in chunks of image copies (see
        :meth:`QueryAttentionBlock.forward_slots`); ``image`` is overwritten (it becomes the keys)."""
        Q = image.shape[0]
        keys = image.flatten(2).transpose(1, 2)  # a view: updated in place
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = tokens
        for layer in self.layers:
            queries = layer.forward_slots(queries, keys, tokens, key_pe, chunk, workers)
        tok, pe = group_tokens(queries, Q), group_tokens(tokens, Q)
        attn = torch.empty_like(tok)

        def run(s0: int) -> None:
            s1 = min(s0 + chunk, Q)
            kv = keys[s0:s1]
            attn[s0:s1] = self.final_attn_token_to_image(q=tok[s0:s1] + pe[s0:s1], k=kv + key_pe[s0:s1], v=kv)

        run_tasks(run, list(range(0, Q, chunk)), workers)
        queries = self.norm_final_attn(queries + ungroup_tokens(attn))
        return queries, keys


class EntityDecoder(nn.Module):
    """Multi-entity mask decoder (official ``MaskQueryIoUDecoder``).

    Args:
        num_slots: Q (50 for the released models).
        transformer_dim: C (256).
        depth: transformer layers (4 for ViT-S, 8 for ViT-L).
    """

    def __init__(
        self,
        num_slots: int = 50,
        transformer_dim: int = 256,
        depth: int = 4,
        num_heads: int = 8,
        mlp_dim: int = 2048,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ):
        super().__init__()
        C = transformer_dim
        self.num_slots = num_slots
        self.transformer_dim = C
        self.transformer = QueryTransformer(depth, C, num_heads, mlp_dim)
        # legacy SAM tokens (loaded from SAM 2.1, unused by EntitySAM)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, C)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, C)
        self.queries = nn.Embedding(num_slots, C)  # mask queries, one per slot
        self.iou_queries = nn.Embedding(num_slots, C)  # IoU / score queries, one per slot
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(C, C // 4, kernel_size=2, stride=2),
            LayerNorm2d(C // 4),
            nn.GELU(),
            nn.ConvTranspose2d(C // 4, C // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.conv_s0 = nn.Conv2d(C, C // 8, kernel_size=1, stride=1)
        self.conv_s1 = nn.Conv2d(C, C // 4, kernel_size=1, stride=1)
        # only MLP 0 is used (quirk 5); 1..3 exist for the checkpoint layout
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(C, C, C // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(C, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth, sigmoid_output=True)
        # computed and discarded by the official code; the entity score comes from offset_cls
        self.cls_prediction_head = MLP(C, iou_head_hidden_dim, 2, iou_head_depth)

    def forward(
        self,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse_prompt_embeddings: Tensor,
        dense_prompt_embeddings: Tensor,
        high_res_features: tuple[Tensor, Tensor],
        slot_chunk: int | None = None,
        overwrite_image: bool = False,
        shared_queries: bool = False,
        class_logits: bool = False,
        slots: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """Decode every slot.

        Args:
            image_embeddings: (Q, C, h, w) fused features, one copy per slot.
            image_pe: (1, C, h, w) dense positional encoding.
            sparse_prompt_embeddings: (Q, 2, C) point + padding token per slot.
            dense_prompt_embeddings: (Q, C, h, w).
            high_res_features: ((1 or Q, C/8, 4h, 4w), (1 or Q, C/4, 2h, 2w)) ``conv_s0``/``conv_s1`` outputs.
            slot_chunk: None: every step on all Q image copies at once (as officially). A
                number: the per-slot steps (everything but the token self-attention) run that
                many image copies at a time (on CPU worker threads), so the transient memory
                no longer scales with Q; same function.
            overwrite_image: with ``slot_chunk``, the decoder may keep its keys in
                ``image_embeddings``' storage (the caller no longer needs it).
            shared_queries: option (issue 16; official: False, separate queries): the IoU-query
                rows of the token sequence carry the mask queries, so each slot has one query
                (the two copies stay identical through every layer) and the IoU head reads the
                mask query's output; ``iou_queries`` is unused.
            class_logits: also return ``cls_prediction_head`` on the IoU-query outputs
                (officially computed and discarded).
            slots: None (every slot, official) or the indices of the slots to decode (the
                active-slot fast mode): only their queries enter the sequence, so the
                inter-entity self-attention sees only them; Q is then ``len(slots)``.

        Returns:
            masks (Q, 1, 4h, 4w) logits, iou (Q, 1) in (0, 1), mask-query tokens (Q, 1, C),
            class logits (Q, 2) (None unless ``class_logits``).
        """
        Q, C, h, w = image_embeddings.shape
        expected = self.num_slots if slots is None else slots.numel()
        assert Q == expected, f"decoder asked for {expected} slots, got {Q} image copies"
        queries, iou_queries = self.queries.weight, self.iou_queries.weight
        if slots is not None:
            queries, iou_queries = queries.index_select(0, slots), iou_queries.index_select(0, slots)
        tokens = torch.cat(
            [queries, queries if shared_queries else iou_queries,
             sparse_prompt_embeddings.reshape(-1, C)], dim=0
        ).unsqueeze(0)  # (1, 4Q, C)
        inplace = (slot_chunk is not None and overwrite_image and image_embeddings.stride(0) != 0
                   and torch.promote_types(image_embeddings.dtype, dense_prompt_embeddings.dtype) == image_embeddings.dtype)
        if inplace:
            src = image_embeddings.add_(dense_prompt_embeddings)
        else:
            src = image_embeddings + dense_prompt_embeddings
        pos = image_pe.expand(Q, -1, -1, -1)
        if slot_chunk is None:
            hs, keys = self.transformer(src, pos, tokens)
        else:
            workers = cpu_workers(src.device)
            hs, keys = self.transformer.forward_slots(src, pos, tokens, slot_chunk, workers)
        mask_tokens_out = hs[0, :Q]
        iou_tokens_out = hs[0, Q : 2 * Q]
        hyper_in = self.output_hypernetworks_mlps[0](mask_tokens_out)  # (Q, C/8)
        src = keys.transpose(1, 2).reshape(Q, C, h, w)
        if slot_chunk is None:
            masks = self._masks(src, hyper_in, high_res_features)
        else:
            masks = torch.empty(Q, 1, 4 * h, 4 * w, dtype=hyper_in.dtype, device=src.device)

            def run(s0: int) -> None:
                s1 = min(s0 + slot_chunk, Q)
                high_res = tuple(f[s0:s1] if f.shape[0] > 1 else f for f in high_res_features)
                masks[s0:s1] = self._masks(src[s0:s1], hyper_in[s0:s1], high_res)

            run_tasks(run, list(range(0, Q, slot_chunk)), workers)
        iou = self.iou_prediction_head(iou_tokens_out)[:, :1]  # IoU column 0 only (quirk 5)
        cls = self.cls_prediction_head(iou_tokens_out) if class_logits else None
        return masks, iou, mask_tokens_out.unsqueeze(1), cls

    def _masks(self, src: Tensor, hyper_in: Tensor, high_res_features: tuple[Tensor, Tensor]) -> Tensor:
        """Upscaled keys (B, C, h, w) with the high-res skips, dotted with each slot's
        hypernetwork vector (B, C/8) -> mask logits (B, 1, 4h, 4w)."""
        B = src.shape[0]
        dc1, ln1, act1, dc2, act2 = self.output_upscaling
        feat_s0, feat_s1 = high_res_features
        upscaled = act1(ln1(dc1(src) + feat_s1))
        upscaled = act2(dc2(upscaled) + feat_s0)  # (B, C/8, 4h, 4w)
        _, c, H, W = upscaled.shape
        return torch.bmm(hyper_in.unsqueeze(1), upscaled.reshape(B, c, H * W)).reshape(B, 1, H, W)

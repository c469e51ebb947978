"""Which cross-attention kernel to use per precision on CPU (issue 13): one slot, one layer.

The memory-attention cross-attention of one slot at ViT-S shapes (4096 queries, n x 4096
keys, 256-d queries/keys, 64-d memory features as values) computed four ways, single-threaded
(the fast path runs one slot per single-threaded worker), alternating over ``--repeats``:

* ``fp32_tiles``  the fp32 fast path: blockwise softmax, values in the 64-d memory space
  (:func:`entitysam.modeling.memory_attention.attend_memory`), v_proj applied afterwards;
* ``fp32_fused``  the reference: PyTorch's fused attention over 256-d values (v_proj first);
* ``bf16_fused``  the bf16 path: the fused attention in bfloat16 (256-d values);
* ``bf16_tiles``  the 64-d blockwise attention with bfloat16 tiles (fp32 bookkeeping).

Each variant's output is compared with a float64 computation (max |error|).

    python benchmarks/attention_kernels.py --memories 7 --repeats 3 \\
        --json benchmarks/results/attention_kernels_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from entitysam.modeling.memory_attention import attend_memory  # noqa: E402

QUERY_BLOCK, KEY_BLOCK = 512, 1024


def bf16_tiles(q: torch.Tensor, k: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ) x with bfloat16 score/probability tiles and float32 bookkeeping."""
    N, L, m = q.shape[0], k.shape[0], x.shape[1]
    q, kt, x = q.bfloat16(), k.bfloat16().t(), x.bfloat16()
    starts = list(range(0, L, KEY_BLOCK))
    T = len(starts)
    out = torch.empty(N, m)
    buf = torch.empty(QUERY_BLOCK, KEY_BLOCK, dtype=torch.bfloat16)
    mx = torch.empty(T, QUERY_BLOCK, 1, dtype=torch.bfloat16)
    den = torch.empty(T, QUERY_BLOCK, 1)
    num = torch.empty(T, QUERY_BLOCK, m, dtype=torch.bfloat16)
    for i in range(0, N, QUERY_BLOCK):
        j = min(i + QUERY_BLOCK, N)
        r = j - i
        for t, k0 in enumerate(starts):
            k1 = min(k0 + KEY_BLOCK, L)
            s = torch.mm(q[i:j], kt[:, k0:k1], out=buf[:r, : k1 - k0])
            torch.amax(s, -1, keepdim=True, out=mx[t, :r])
            s.sub_(mx[t, :r]).exp_()
            torch.sum(s, -1, keepdim=True, dtype=torch.float32, out=den[t, :r])
            torch.mm(s, x[k0:k1], out=num[t, :r])
        mxf = mx[:, :r].float()
        w = (mxf - mxf.amax(0)).exp_()
        out[i:j] = (num[:, :r].float() * w).sum(0) / (den[:, :r] * w).sum(0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=7)
    ap.add_argument("--tokens", type=int, default=4096, help="queries = keys per memory frame (64x64 grid)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default="benchmarks/results/attention_kernels_cpu.json")
    args = ap.parse_args()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        N, L, C, m = args.tokens, args.memories * args.tokens, 256, 64
        g = torch.Generator().manual_seed(0)
        # scale so the scores have a spread like trained attention (std ~2)
        q = torch.randn(N, C, generator=g) * (2.0 / C**0.5)
        k = torch.randn(L, C, generator=g)
        x = torch.randn(L, m, generator=g)
        wv = torch.randn(C, m, generator=g) / m**0.5
        ref = (torch.softmax(q.double() @ k.double().t(), -1) @ x.double()) @ wv.double().t()

        def sdpa(qq, kk, vv):
            return F.scaled_dot_product_attention(qq[None, None], kk[None, None], vv[None, None], scale=1.0)[0, 0]

        variants = {
            "fp32_tiles": lambda: attend_memory(q[None], k[None], x[None])[0] @ wv.t(),
            "fp32_fused": lambda: sdpa(q, k, x @ wv.t()),
            "bf16_fused": lambda: sdpa(q.bfloat16(), k.bfloat16(), (x @ wv.t()).bfloat16()).float(),
            "bf16_tiles": lambda: bf16_tiles(q, k, x) @ wv.t(),
        }
        seconds = {name: [] for name in variants}
        errors = {}
        for r in range(args.repeats):
            order = list(variants) if r % 2 == 0 else list(variants)[::-1]
            for name in order:
                t0 = time.perf_counter()
                o = variants[name]()
                seconds[name].append(time.perf_counter() - t0)
                errors[name] = float((o.double() - ref).abs().max())
    finally:
        torch.set_num_threads(threads)
    result = {
        "what": "one slot's memory-attention cross-attention, one layer, one thread",
        "queries": N, "keys": L, "qk_dim": C, "memory_dim": m, "memories": args.memories,
        "repeats": args.repeats, "torch": torch.__version__,
        "seconds_median": {n: statistics.median(s) for n, s in seconds.items()},
        "seconds": seconds,
        "max_abs_error_vs_float64": errors,
        "output_max_abs": float(ref.abs().max()),
    }
    base = result["seconds_median"]["fp32_tiles"]
    result["speed_vs_fp32_tiles"] = {n: base / s for n, s in result["seconds_median"].items()}
    for n in variants:
        print(f"{n:11s} {result['seconds_median'][n]:7.2f} s  {result['speed_vs_fp32_tiles'][n]:5.2f}x  "
              f"max|err| {errors[n]:.2e}")
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()

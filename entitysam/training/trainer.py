"""The two-stage EntitySAM trainer (spec training.md §11-§12), single process or ``torchrun``.

Data parallelism: every rank runs ``clips_per_rank`` clips per iteration; gradients are
averaged over all clips of all ranks with one coalesced all-reduce (gloo on CPU, NCCL on
GPU), then clipped (full-model L2 norm 0.01) and applied with AdamW. Everything random is a
function of (seed, global clip index): clip ``i`` of the run is the same clip with the same
augmentations, the same dropout masks and the same sampled points however the run is split over
ranks, and ``--resume`` continues bit-exactly.

Library calls leave the caller's global state alone: the torch, numpy and ``random`` global
generators are neither seeded nor advanced (point sampling uses a local ``torch.Generator``;
dropout, which can only draw from torch's default generator, runs inside a block that seeds it
per clip and puts the caller's state back), and the model's train/eval modes are restored after
every iteration.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import torch
import torch.distributed as dist
from torch import nn

from entitysam.errors import EntitySAMError
from entitysam.modeling.trainable import set_trainable
from entitysam.training.propagate import propagate_clip
from entitysam.training.rng import clip_seed, points_generator, seeded_default_rng, training_mode

# normalisation modules whose parameters get no weight decay (detectron2 WEIGHT_DECAY_NORM = 0)
_NORM_TYPES = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm, nn.LocalResponseNorm,
)

STAGES = {
    # stage: (frames per clip T, max_iter, lr steps, checkpoint period)  (spec §12)
    1: (1, 81000, (60000,), 10000),
    2: (8, 10100, (7500,), 2000),
}


@dataclass
class TrainConfig:
    model: str = "vit-s"
    stage: int = 1
    frames: int = 1  # T
    max_iter: int = 81000
    steps: tuple[int, ...] = (60000,)
    gamma: float = 0.1
    lr: float = 5e-5
    weight_decay: float = 0.05
    clip_grad_norm: float = 0.01
    clips_per_rank: int = 1
    workers: int = 0  # processes preparing clips ahead of the model (0: in the training loop)
    checkpoint_period: int = 10000
    log_period: int = 20
    seed: int = 0
    train_all: bool = False  # from-scratch runs: every parameter trainable
    amp: bool = True  # fp16 autocast + grad scaler, CUDA only
    num_points: int = 12544
    max_num_masks: int = 30
    output_dir: str = "output"
    unmatched_iou_zero: bool = False  # loss option (issue 16): IoU target 0 for unmatched slots
    point_loss: float = 0.0  # loss option (issue 16): weight of loss_point (0: official, none)
    point_match: float = 0.0  # matching option (issue 16): weight of the point cost (0: official, none)
    model_options: dict = field(default_factory=dict)  # model config overrides (issue 16 options), recorded
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_stage(cls, stage: int, **overrides) -> "TrainConfig":
        if stage not in STAGES:
            raise EntitySAMError(f"stage must be 1 or 2, got {stage}")
        T, max_iter, steps, period = STAGES[stage]
        base = dict(stage=stage, frames=T, max_iter=max_iter, steps=steps, checkpoint_period=period)
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


class ClipSource(Protocol):
    def __call__(self, index: int) -> tuple[torch.Tensor, dict]:
        """Clip number ``index`` of the run: frames (T, 3, S, S) and its targets."""


class Criterion(Protocol):
    def __call__(
        self, outputs: dict, targets: dict, num_masks: float, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Weighted losses of one clip; ``num_masks`` is the batch normaliser (spec §10);
        ``generator``: the only source of the random sampling points."""


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no decay for torch norm layers and embeddings (spec §11)."""
    no_decay = set()
    for module in model.modules():
        if isinstance(module, _NORM_TYPES + (nn.Embedding,)):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
    decay, other = [], []
    for p in model.parameters():
        if p.requires_grad:
            (other if id(p) in no_decay else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]


def lr_lambda(steps: tuple[int, ...], gamma: float) -> Callable[[int], float]:
    """detectron2 WarmupMultiStepLR with warm-up factor 1.0 (i.e. none): x gamma after each step."""

    def f(it: int) -> float:
        return gamma ** sum(it >= s for s in steps)

    return f


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the ``torchrun`` process group when WORLD_SIZE > 1 (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size())


class Trainer:
    """Runs the training loop. Build it with a model, a clip source and a criterion."""

    def __init__(
        self,
        model: nn.Module,
        clips: ClipSource,
        criterion: Criterion,
        cfg: TrainConfig,
        device: torch.device | str = "cpu",
        log: Callable[[str], None] = print,
    ):
        self.cfg = cfg
        self.device = torch.device(device)
        self.dist = init_distributed(self.device)
        self.model = model.to(self.device)  # train mode only inside train_step (the caller's mode is kept)
        set_trainable(self.model, train_all=cfg.train_all)
        self.clips = clips
        self.criterion = criterion
        self.log = log
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg.weight_decay), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(tuple(cfg.steps), cfg.gamma))
        self.use_amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.iteration = 0
        self.out = Path(cfg.output_dir)
        if self.dist.world > 1:  # identical start on every rank
            for t in self.model.state_dict().values():
                dist.broadcast(t, 0)

    # ---------------------------------------------------------------- checkpoints
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.iteration,
            "rank_param_checksums": getattr(self, "rank_checksums", None),
            "train_config": asdict(self.cfg),
            "model_config": self.model.cfg.to_dict() if hasattr(self.model, "cfg") else None,
        }

    def save(self, name: str) -> Path:
        from entitysam.io.atomic import atomic_file

        path = self.out / name
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            with atomic_file(path) as f:
                torch.save(self.state(), f)
            with atomic_file(self.out / "last_checkpoint", "w") as f:
                f.write(name)
        if self.dist.world > 1:
            dist.barrier()
        return path

    def resume(self) -> bool:
        """Load the last checkpoint of ``output_dir`` if there is one (model, optimizer, schedule, iteration)."""
        marker = self.out / "last_checkpoint"
        if not marker.is_file():
            return False
        path = self.out / marker.read_text().strip()
        ckpt = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.iteration = int(ckpt["iteration"])
        self.log(f"resumed from {path} at iteration {self.iteration}")
        return True

    # ---------------------------------------------------------------- one iteration
    def _global_indices(self, it: int) -> list[int]:
        c, w, r = self.cfg.clips_per_rank, self.dist.world, self.dist.rank
        return [(it * c + a) * w + r for a in range(c)]

    def train_step(self, batch: list | None = None) -> dict[str, float]:
        """One iteration; ``batch`` = this rank's clips of the iteration when prepared elsewhere
        (the data workers), else they are made here."""
        cfg = self.cfg
        indices = self._global_indices(self.iteration)
        if batch is None:
            batch = [self.clips(i) for i in indices]
        # normaliser: target entities per clip averaged over the global batch, x T (spec §10)
        n_local = torch.tensor(float(sum(len(t["masks"]) for _, t in batch)), device=self.device)
        if self.dist.world > 1:
            dist.all_reduce(n_local)
        n_clips = cfg.clips_per_rank * self.dist.world
        num_masks = max(n_local.item() / n_clips, 1.0) * cfg.frames
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        for index, (frames, targets) in zip(indices, batch):
            # dropout masks and sampling points depend on (seed, clip index) only; no global RNG
            points = points_generator(cfg.seed, index, self.device)
            with training_mode(self.model), seeded_default_rng(clip_seed(cfg.seed, index), self.device):
                with torch.autocast("cuda", dtype=torch.float16, enabled=self.use_amp):
                    out = propagate_clip(self.model, frames.to(self.device))
                    outputs = {"pred_logits": out.pred_logits, "pred_iou": out.pred_iou, "pred_masks": out.pred_masks,
                               "point_probs": out.point_probs}
                    losses = self.criterion(outputs, targets, num_masks, generator=points)
                loss = sum(losses.values()) / cfg.clips_per_rank
                self.scaler.scale(loss).backward()
            for k, v in losses.items():
                totals[k] = totals.get(k, 0.0) + float(v.detach()) / cfg.clips_per_rank
        self._all_reduce_grads()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.iteration += 1
        totals["total_loss"] = sum(v for k, v in totals.items())
        totals["grad_norm"] = float(grad_norm)
        totals["lr"] = self.optimizer.param_groups[0]["lr"]
        return totals

    def _all_reduce_grads(self) -> None:
        if self.dist.world == 1:
            return
        # parameters no rank produced a gradient for keep grad=None, so AdamW skips them (no weight
        # decay) exactly as in a single process; elsewhere a missing gradient counts as zero
        has = torch.tensor([p.grad is not None for p in self.params], dtype=torch.int32, device=self.device)
        dist.all_reduce(has, op=dist.ReduceOp.MAX)
        params = [p for p, h in zip(self.params, has.tolist()) if h]
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.dist.world
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def _prefetch(self, start: int, end: int):
        """This rank's clips of iterations [start, end) made by ``cfg.workers`` processes, one
        list per iteration (None without workers).

        Clips are a pure function of (seed, global index), so the workers give exactly the clips
        the loop would make itself (same training, same ``--resume``), only earlier."""
        if self.cfg.workers <= 0 or start >= end:
            return None
        c = self.cfg.clips_per_rank
        order = [i for it in range(start, end) for i in self._global_indices(it)]
        # own generator: the loader's base seed would otherwise be drawn from torch's global RNG
        loader = torch.utils.data.DataLoader(
            _ClipDataset(self.clips), batch_size=None, sampler=order, num_workers=self.cfg.workers,
            collate_fn=_as_is, prefetch_factor=2 * c, persistent_workers=False,
            generator=torch.Generator().manual_seed(self.cfg.seed))
        clips = iter(loader)
        return ([next(clips) for _ in range(c)] for _ in range(start, end))

    def _check_ranks_in_sync(self) -> None:
        """All ranks must hold identical parameters; the per-rank checksums go into the checkpoint."""
        with torch.no_grad():
            mine = torch.stack([
                sum(p.double().sum() for p in self.model.parameters()),
                sum(p.double().pow(2).sum() for p in self.model.parameters()),
            ]).to(self.device)
        sums = [mine.clone() for _ in range(self.dist.world)]
        if self.dist.world > 1:
            dist.all_gather(sums, mine)
        self.rank_checksums = [s.tolist() for s in sums]
        if any(s != self.rank_checksums[0] for s in self.rank_checksums):
            raise RuntimeError(f"ranks diverged: parameter checksums {self.rank_checksums}")

    # ---------------------------------------------------------------- loop
    def train(self, stop_after: int | None = None) -> Path:
        """Train until ``max_iter`` (or ``stop_after`` more iterations); returns the final checkpoint."""
        cfg = self.cfg
        end = cfg.max_iter if stop_after is None else min(cfg.max_iter, self.iteration + stop_after)
        metrics_path = self.out / "metrics.jsonl"
        writer = _tensorboard(self.out) if self.dist.main else None
        bar = None
        if self.dist.main:
            from tqdm import tqdm

            self.out.mkdir(parents=True, exist_ok=True)
            bar = tqdm(total=end, initial=self.iteration, desc=f"stage {cfg.stage}", unit="it", dynamic_ncols=True)
        t0 = time.time()
        last = None
        batches = self._prefetch(self.iteration, end)
        while self.iteration < end:
            m = self.train_step(None if batches is None else next(batches))
            if self.dist.main:
                bar.update(1)
                bar.set_postfix(loss=f"{m['total_loss']:.4f}", lr=f"{m['lr']:.1e}")
                if self.iteration % cfg.log_period == 0 or self.iteration == end:
                    rec = {"iteration": self.iteration, "time": round(time.time() - t0, 3), **m}
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                    if writer is not None:
                        for k, v in m.items():
                            writer.add_scalar(k, v, self.iteration)
            if self.iteration % cfg.checkpoint_period == 0:
                last = self.save(f"model_{self.iteration - 1:07d}.pth")
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        self._check_ranks_in_sync()
        if self.iteration >= cfg.max_iter:
            last = self.save("model_final.pth")
        elif last is None or last.name != f"model_{self.iteration - 1:07d}.pth":
            last = self.save(f"model_{self.iteration - 1:07d}.pth")
        return last


class _ClipDataset(torch.utils.data.Dataset):
    """Map-style view of a clip source: item ``i`` is clip ``i`` of the run."""

    def __init__(self, clips: ClipSource):
        self.clips = clips

    def __getitem__(self, index: int):
        return self.clips(int(index))


def _as_is(sample):
    return sample


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: JSONL only
        return None
    return SummaryWriter(log_dir=str(out / "tb"))

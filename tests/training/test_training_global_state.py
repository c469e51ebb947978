"""Training leaves the caller's global state alone (issue 18, item 9): the torch / numpy /
``random`` global generators are neither seeded nor advanced, backend flags, thread count and
default dtype are untouched, and the model's train/eval modes come back as they were."""

import argparse
import random

import numpy as np
import pytest
import torch

from entitysam._cli.train import add_arguments, build_trainer
from entitysam.training.rng import seeded_default_rng

FAST = ["--model", "tiny", "--train-all", "--num-points", "64", "--max-num-masks", "4", "--lr", "1e-3",
        "--clip-grad-norm", "1.0", "--log-period", "1", "--no-amp", "--device", "cpu", "--stage", "1",
        "--max-iter", "2", "--steps", "10", "--checkpoint-period", "100"]


def _trainer(synth_root, out, *extra):
    p = argparse.ArgumentParser()
    add_arguments(p)
    return build_trainer(p.parse_args(["--data", str(synth_root), "-o", str(out), *FAST, *extra]), log=lambda s: None)


@pytest.fixture(autouse=True)
def _restore_global_rngs():
    """These tests seed the global generators themselves: hand the rest of the suite its state back."""
    saved = torch.get_rng_state(), np.random.get_state(), random.getstate()
    yield
    torch.set_rng_state(saved[0])
    np.random.set_state(saved[1])
    random.setstate(saved[2])


def _seed_everything(seed=1234):
    torch.manual_seed(seed)
    np.random.seed(seed % 1000)
    random.seed(seed + 1)


def _global_state():
    b = torch.backends
    return {
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state()[1].copy(),
        "python_rng": random.getstate(),
        "flags": (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled(),
                  torch.are_deterministic_algorithms_enabled(), torch.get_float32_matmul_precision(),
                  b.cudnn.benchmark, b.cudnn.deterministic, b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32),
    }


def _assert_unchanged(before, after):
    assert torch.equal(before["torch_rng"], after["torch_rng"]), "torch's global RNG was seeded or advanced"
    assert np.array_equal(before["numpy_rng"], after["numpy_rng"]), "numpy's global RNG was changed"
    assert before["python_rng"] == after["python_rng"], "random's global RNG was changed"
    assert before["flags"] == after["flags"], "threads / dtype / grad mode / backend flags were changed"


def test_build_trainer_keeps_the_global_rng_and_its_weights_stay_seeded(synth_root, tmp_path):
    _seed_everything()
    before = _global_state()
    a = _trainer(synth_root, tmp_path / "a")
    _assert_unchanged(before, _global_state())
    # the initial weights are still a function of --seed only
    torch.manual_seed(999)
    b = _trainer(synth_root, tmp_path / "b")
    c = _trainer(synth_root, tmp_path / "c", "--seed", "1")
    for (k, va), vb, vc in zip(a.model.state_dict().items(), b.model.state_dict().values(),
                               c.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vc) for va, vc in zip(a.model.state_dict().values(), c.model.state_dict().values()))


def test_training_keeps_the_global_rng_and_does_not_depend_on_it(synth_root, tmp_path):
    a = _trainer(synth_root, tmp_path / "a")
    _seed_everything()
    before = _global_state()
    a.train()  # dropout masks and sampling points of 2 clips
    _assert_unchanged(before, _global_state())
    # the update depends on (seed, clip index) only, not on the global RNG the caller left behind
    b = _trainer(synth_root, tmp_path / "b")
    _seed_everything(4321)
    torch.rand(7)
    b.train()
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k


def test_data_workers_keep_the_global_rng(synth_root, tmp_path):
    """The DataLoader behind --workers draws its base seed from its own generator."""
    t = _trainer(synth_root, tmp_path / "w", "--workers", "1")
    _seed_everything()
    before = _global_state()
    batches = [b for b in t._prefetch(0, 2)]
    assert len(batches) == 2
    _assert_unchanged(before, _global_state())


def test_trainer_puts_back_the_callers_model_modes(synth_root, tmp_path):
    from entitysam.modeling import build_entitysam
    from entitysam.training.trainer import Trainer

    t = _trainer(synth_root, tmp_path / "m")
    model = build_entitysam("tiny")  # eval mode
    model.memory_attention.train()  # a mixed state must come back exactly
    modes = {n: m.training for n, m in model.named_modules()}
    trainer = Trainer(model, t.clips, t.criterion, t.cfg, log=lambda s: None)
    assert {n: m.training for n, m in model.named_modules()} == modes  # not switched on construction
    seen = []
    hook = model.image_encoder.register_forward_pre_hook(lambda m, a: seen.append(
        all(x.training for x in model.modules())))
    try:
        trainer.train_step()
        trainer.train_step()
    finally:
        hook.remove()
    assert seen == [True, True]  # the whole model trains (dropout on) during each step
    assert {n: m.training for n, m in model.named_modules()} == modes  # and is put back after it


def test_seeded_default_rng_restores_the_state_even_on_error():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    with seeded_default_rng(17):
        x = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), before)
    with pytest.raises(RuntimeError):
        with seeded_default_rng(17):
            assert torch.equal(torch.rand(3), x)  # the block's draws depend on its seed only
            raise RuntimeError("boom")
    assert torch.equal(torch.get_rng_state(), before)

"""Library calls leave global state as they found it: RNGs, TF32 flags, threads, module modes."""

import random

import numpy as np
import pytest
import torch

from entitysam.inference.precision import Precision


def rng_states():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


def assert_same_rng(before, after):
    assert torch.equal(before[0], after[0]), "torch's global RNG was changed"
    assert np.array_equal(before[1], after[1]), "numpy's global RNG was changed"
    assert before[2] == after[2], "random's global RNG was changed"


def test_segment_video_with_random_weights_keeps_the_global_rng(tmp_path):
    from PIL import Image

    from entitysam.segment import segment_video

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        Image.fromarray(np.full((32, 40, 3), 40 * i, np.uint8)).save(frames / f"{i}.png")
    torch.manual_seed(1234)
    np.random.seed(99)
    random.seed(7)
    before = rng_states()
    with pytest.warns(UserWarning, match="random weights"):
        a = segment_video(frames, tmp_path / "a", model="tiny", device="cpu", formats="rle", progress=False)
    assert_same_rng(before, rng_states())
    # and the random weights stay reproducible: a second run gives the same output
    with pytest.warns(UserWarning, match="random weights"):
        segment_video(frames, tmp_path / "b", model="tiny", device="cpu", formats="rle", progress=False)
    assert (tmp_path / "a" / "rle.json").read_bytes() == (tmp_path / "b" / "rle.json").read_bytes()
    assert a.frames == 2


def tf32_state():
    b = torch.backends
    state = [b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, torch.get_float32_matmul_precision()]
    for obj in (b, b.cuda.matmul, b.cudnn, getattr(b.cudnn, "conv", None), getattr(b.cudnn, "rnn", None)):
        if obj is not None and hasattr(obj, "fp32_precision"):
            state.append(obj.fp32_precision)
    return state


@pytest.mark.filterwarnings("ignore:.*CUDA.*not available")
@pytest.mark.parametrize("name", ["fp32", "official-bf16"])
def test_precision_context_restores_every_tf32_setting(name):
    """The CUDA context sets TF32 for the call and puts back every flag (legacy and the newer
    fp32_precision API that a legacy assignment rewrites). Runs without a GPU: only flags
    (autocast on a CUDA-less machine disables itself with a warning)."""
    before = tf32_state()
    with Precision(name, "cuda").context():
        assert torch.backends.cuda.matmul.allow_tf32 is (name == "official-bf16")
    assert tf32_state() == before
    with pytest.raises(RuntimeError):
        with Precision(name, "cuda").context():
            raise RuntimeError("model failed")
    assert tf32_state() == before


def test_predictor_leaves_the_callers_model_mode(tiny_model):
    from entitysam.inference.predictor import EntitySAMPredictor

    model = tiny_model
    model.train()
    model.image_encoder.eval()  # a mixed state must come back as it was
    modes = {n: m.training for n, m in model.named_modules()}
    seen = []
    predictor = EntitySAMPredictor(model)
    orig = model.encode_frame

    def spy(*a, **k):
        seen.append(model.training)
        return orig(*a, **k)

    model.encode_frame = spy
    try:
        predictor.step(torch.zeros(3, model.cfg.image_size, model.cfg.image_size))
    finally:
        del model.encode_frame
    assert seen == [False]  # eval during the step
    assert {n: m.training for n, m in model.named_modules()} == modes
    model.eval()


def test_golden_check_restores_the_thread_count(golden_dir, tmp_path):
    import json
    import shutil

    from entitysam.golden import check_golden

    folder = tmp_path / "g"
    shutil.copytree(golden_dir / "model-vits-v1", folder, ignore=shutil.ignore_patterns("frames", "panoptic*"))
    sums = json.loads((folder / "weights_checksums.json").read_text())
    sums["tensors"]["no_mem_embed"]["sha256_f32le"] = "0" * 64  # stops the check after the weights
    (folder / "weights_checksums.json").chmod(0o644)
    (folder / "weights_checksums.json").write_text(json.dumps(sums))
    before = torch.get_num_threads()
    report = check_golden(folder, threads=1 if before != 1 else 2)
    assert not report["ok"]
    assert torch.get_num_threads() == before

"""Fast mode ``max_memories`` (issue 15 §3): attend to the N most recent memories only."""

import pytest
import torch

from entitysam.inference.memory import MemoryBank
from entitysam.inference.predictor import EntitySAMPredictor
from entitysam.modeling import build_entitysam
from entitysam.modeling.entitysam import Memory


def _frames(model, n):
    S = model.cfg.image_size
    return [torch.randn(3, S, S, generator=torch.Generator().manual_seed(i)) for i in range(n)]


def _run(model, frames, **kw):
    pred = EntitySAMPredictor(model, **kw)
    outs, read = [], []
    step = model.step

    def spy(feats, memories, *a, **k):
        read.append([km[0] for km in memories])
        return step(feats, memories, *a, **k)

    model.step = spy
    try:
        for f in frames:
            outs += pred.step(f)
    finally:
        del model.step
    return outs, read


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_entitysam("tiny")


def test_bank_keeps_and_reads_the_most_recent(model):
    bank = MemoryBank(7, max_read=2)
    for i in range(5):
        bank.add(Memory(features=torch.full((1, 1), float(i)), pos_enc=torch.zeros(1)))
    assert [(k, float(m.features)) for k, m in bank.read()] == [(1, 4.0), (2, 3.0)]
    for bad in (0, 8, -1):
        with pytest.raises(ValueError, match="max_memories must be in 1..7"):
            MemoryBank(7, max_read=bad)


def test_max_memories_limits_what_the_model_reads(model):
    frames = _frames(model, 3)  # positions 0..5
    official, read_off = _run(model, frames)
    full, read_full = _run(model, frames, max_memories=model.cfg.num_maskmem)
    short, read_short = _run(model, frames, max_memories=2)
    assert read_off == [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5]]
    assert read_full == read_off
    assert read_short == [[], [1], [1, 2], [1, 2], [1, 2], [1, 2]]
    for a, b in zip(official, full):  # N = num_maskmem is the official bank
        assert torch.equal(a.lowres_logits, b.lowres_logits) and torch.equal(a.eiou, b.eiou)
    for a, b in zip(official[:3], short[:3]):  # identical until a third memory would be read
        assert torch.equal(a.lowres_logits, b.lowres_logits)
    assert not torch.equal(official[3].lowres_logits, short[3].lowres_logits)


def test_predictor_rejects_bad_max_memories(model):
    with pytest.raises(ValueError, match="max_memories"):
        EntitySAMPredictor(model, max_memories=0)

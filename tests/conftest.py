import json
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
MEDIA = DATA / "media"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN


@pytest.fixture(scope="session")
def media_dir() -> Path:
    return MEDIA


@pytest.fixture(scope="session")
def tiny_model():
    from entitysam.modeling import build_entitysam

    torch.manual_seed(0)
    return build_entitysam("tiny")


# A tiny open_clip architecture (random weights) for the CLIP backend tests, registered once.
TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """Registers the tiny open_clip architecture ``entitysam-test-tiny``; returns its name."""
    open_clip = pytest.importorskip("open_clip", reason="optional extra [clip] (open_clip_torch) not installed")
    folder = tmp_path_factory.mktemp("clipcfg")
    (folder / "entitysam-test-tiny.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder)
    return "entitysam-test-tiny"

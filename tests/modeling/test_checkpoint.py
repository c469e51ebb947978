"""Checkpoint loading: official layout round trip, clear errors, safe unpickling, provenance."""

import json
from collections import OrderedDict

import pytest
import torch

from entitysam.checkpoint import (
    init_from_sam2_dinov2,
    load_checkpoint,
    read_state_dict,
    resolve_checkpoint,
    save_checkpoint,
)
from entitysam.cli import main
from entitysam.errors import CheckpointError, EntitySAMError
from entitysam.inference.predictor import EntitySAMPredictor
from entitysam.modeling import build_entitysam


class NotATensor:  # a class that only full unpickling can rebuild
    def __init__(self):
        self.x = 1


def _run(model, frames):
    p = EntitySAMPredictor(model)
    return [o.lowres_logits for f in frames for o in p.step(f)]


def test_official_format_round_trip_is_exact(tmp_path):
    torch.manual_seed(1)
    src = build_entitysam("tiny")
    with torch.no_grad():  # make every tensor non-default so a silent skip would show
        for t in src.state_dict().values():
            t.add_(torch.randn_like(t) * 0.01)
    path = tmp_path / "model_0009999.pth"
    torch.save({"model": src.state_dict(), "iteration": 9999, "optimizer": {"state": {}, "param_groups": []},
                "scheduler": {"last_epoch": 9999}}, path)
    torch.manual_seed(2)
    dst = build_entitysam("tiny")
    report = load_checkpoint(dst, path)
    assert len(report.loaded) == len(src.state_dict())
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k]), k
    S = src.cfg.image_size
    frames = [torch.randn(3, S, S, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    for a, b in zip(_run(src, frames), _run(dst, frames)):
        assert torch.equal(a, b)


def test_bare_state_dict_and_save_checkpoint(tmp_path):
    src = build_entitysam("tiny")
    save_checkpoint(src, tmp_path / "a.pth", iteration=3)
    assert set(torch.load(tmp_path / "a.pth", weights_only=True)) == {"model", "iteration"}
    torch.save(src.state_dict(), tmp_path / "bare.pth")
    assert read_state_dict(tmp_path / "bare.pth").keys() == src.state_dict().keys()


def _expanded_state_dict(name):
    """A state dict with the right shapes whose tensors share one tiny storage (cheap to save)."""
    model = build_entitysam(name) if name == "tiny" else None
    keys = json.load(open(f"tests/data/golden/keys/entitysam-{name}.json"))["keys"] if model is None else None
    shapes = [(k["name"], k["shape"]) for k in keys] if keys else [(k, list(v.shape)) for k, v in model.state_dict().items()]
    one = torch.zeros(1)
    return OrderedDict((k, one.expand(*s) if s else one[0]) for k, s in shapes)


def test_vit_l_checkpoint_into_vit_s_is_refused_with_names(tmp_path):
    path = tmp_path / "vitl.pth"
    torch.save({"model": _expanded_state_dict("vit-l")}, path)
    model = build_entitysam("vit-s")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(model, path)
    msg = str(e.value)
    assert "does not fit model 'vit-s'" in msg and "another shape" in msg and "unexpected" in msg
    assert "dinov2_feature_extractor" in msg or "image_encoder" in msg
    assert "looks like a vit-l checkpoint" in msg


def test_missing_needed_key_is_named_and_unused_keys_are_tolerated(tmp_path):
    model = build_entitysam("tiny")
    sd = model.state_dict()
    unused = {k for k in sd if k.startswith(("obj_ptr_tpos_proj", "sam_mask_decoder.mask_tokens", "dinov2_feature_extractor.mask_token"))}
    partial = {k: v for k, v in sd.items() if k not in unused}
    torch.save({"model": partial}, tmp_path / "p.pth")
    report = load_checkpoint(build_entitysam("tiny"), tmp_path / "p.pth")
    assert set(report.missing_unused) == unused
    del partial["offset_fc.weight"]
    torch.save({"model": partial}, tmp_path / "q.pth")
    with pytest.raises(CheckpointError, match=r"1 missing \(e.g. offset_fc.weight\)"):
        load_checkpoint(build_entitysam("tiny"), tmp_path / "q.pth")


def test_truncated_file_is_a_clear_error(tmp_path):
    good = tmp_path / "good.pth"
    save_checkpoint(build_entitysam("tiny"), good)
    data = good.read_bytes()
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_state_dict(bad)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        read_state_dict(tmp_path / "nope.pth")


def _not_checkpoints(tmp_path):
    good = tmp_path / "good.pth"
    save_checkpoint(build_entitysam("tiny"), good)
    data = good.read_bytes()
    legacy = tmp_path / "legacy.pth"
    torch.save(build_entitysam("tiny").state_dict(), legacy, _use_new_zipfile_serialization=False)
    cases = {
        "text.pth": (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n", "not a PyTorch checkpoint.*a text file"),
        "page.pth": (b"<!DOCTYPE html><html><body>404</body></html>", "not a PyTorch checkpoint.*HTML"),
        "empty.pth": (b"", "is empty"),
        "half.pth": (data[: len(data) // 2], "truncated or corrupt"),
        "tail.pth": (data[: len(data) - 100], "truncated or corrupt"),
        "legacy_half.pth": (legacy.read_bytes()[: legacy.stat().st_size // 2], "truncated or corrupt"),
        "noise.pth": (bytes(range(7, 200)), "not a PyTorch checkpoint"),
    }
    for name, (content, _) in cases.items():
        (tmp_path / name).write_bytes(content)
    return {tmp_path / name: msg for name, (_, msg) in cases.items()}


@pytest.mark.parametrize("trust", [False, True])
def test_files_that_are_not_checkpoints_name_the_real_problem(tmp_path, trust):
    """Text, HTML, empty, truncated files: never "needs arbitrary unpickling", never a raw error."""
    for path, msg in _not_checkpoints(tmp_path).items():
        with pytest.raises(CheckpointError, match=msg) as exc:
            read_state_dict(path, trust=trust)
        assert "--trust-checkpoint" not in str(exc.value) and "\n" not in str(exc.value), (path, exc.value)


@pytest.mark.parametrize("command", [["segment", "IN", "-o", "OUT", "--model", "tiny"], ["info", "--model", "tiny"]])
def test_not_a_checkpoint_through_the_cli_is_one_line(tmp_path, capsys, command):
    frames = tmp_path / "frames"
    frames.mkdir()
    from PIL import Image
    Image.new("RGB", (16, 16)).save(frames / "0.png")
    argv = [str(frames) if a == "IN" else str(tmp_path / "out") if a == "OUT" else a for a in command]
    for path, msg in _not_checkpoints(tmp_path).items():
        for extra in ([], ["--trust-checkpoint"]):
            assert main([*argv, "--checkpoint", str(path), *extra]) == 2
            err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("warning:")]
            assert len(err) == 1 and err[0].startswith("error: ") and str(path) in err[0], err
    assert not (tmp_path / "out").exists()


def test_wrong_model_checkpoint_is_named(tmp_path, capsys):
    path = tmp_path / "vits_into_tiny.pth"
    torch.save({"model": {"dinov2_projector.weight": torch.zeros(256, 384)}}, path)
    assert main(["info", "--model", "tiny", "--checkpoint", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit model 'tiny'" in err[0] and "looks like a vit-s checkpoint" in err[0]


def test_pickle_needing_code_is_refused_unless_trusted(tmp_path, capsys):
    model = build_entitysam("tiny")
    path = tmp_path / "unsafe.pth"
    torch.save({"model": model.state_dict(), "trainer": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="refusing to load .*arbitrary unpickling.*--trust-checkpoint"):
        read_state_dict(path)
    assert read_state_dict(path, trust=True).keys() == model.state_dict().keys()
    # and through the CLI: one line, exit code 2
    assert main(["info", "--model", "tiny", "--checkpoint", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: refusing to load")
    assert main(["info", "--model", "tiny", "--checkpoint", str(path), "--trust-checkpoint"]) == 0


def test_init_from_sam2_and_dinov2_reports_provenance(golden_dir):
    """vit-s from SAM 2.1 Hiera-S + DINOv2 ViT-S/14 key layouts (synthetic tensors)."""
    sam_keys = json.loads((golden_dir / "keys" / "sam2.1-hiera-s.json").read_text())["keys"]
    ent_keys = {k["name"]: k["shape"] for k in json.loads((golden_dir / "keys" / "entitysam-vit-s.json").read_text())["keys"]}
    one = torch.ones(1)
    sam_sd = {k["name"]: one.expand(*k["shape"]) for k in sam_keys}
    dino_sd = {n[len("dinov2_feature_extractor."):]: one.expand(*s) for n, s in ent_keys.items()
               if n.startswith("dinov2_feature_extractor.")}
    model = build_entitysam("vit-s")
    prov = init_from_sam2_dinov2(model, sam_sd, dino_sd)
    assert len(prov.from_dinov2) == 175
    assert len(prov.sam2_dropped) == 16
    assert set(prov.sam2_dropped) == {k["name"] for k in sam_keys} - set(ent_keys)
    assert len(prov.new) == 274 - 175  # EntitySAM heads (spec §9.3)
    assert len(prov.from_sam2) == 777 - 274
    assert "sam_mask_decoder.transformer.layers.2.norm1.weight" in prov.new
    assert "sam_mask_decoder.transformer.layers.1.norm1.weight" in prov.from_sam2
    sd = model.state_dict()
    assert torch.all(sd["image_encoder.trunk.pos_embed"] == 1) and torch.all(sd["dinov2_feature_extractor.pos_embed"] == 1)
    assert not torch.all(sd["offset_fc.weight"] == 1)
    assert "503 tensors from SAM 2.1, 175 from DINOv2, 99 new, 16 SAM 2.1 tensors dropped" == prov.summary()


def test_download_error_when_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EntitySAMError, match="--checkpoint PATH"):
        resolve_checkpoint("vit-s")
    with pytest.raises(EntitySAMError, match="no released checkpoint for model 'tiny'"):
        resolve_checkpoint("tiny")


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "https://hub.invalid"])
def test_unreachable_hub_fails_within_seconds(monkeypatch, tmp_path, endpoint):
    """No cached file and no network: the one-line error comes in seconds, not after the hub
    client's retries (~25-40 s)."""
    import time

    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False, raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    t0 = time.perf_counter()
    with pytest.raises(EntitySAMError, match="unreachable.*--checkpoint PATH"):
        resolve_checkpoint("vit-s")
    assert time.perf_counter() - t0 < 8


def test_cached_checkpoint_needs_no_network(monkeypatch, tmp_path):
    from huggingface_hub import constants

    from entitysam.checkpoint import HF_FILES, HF_REPO

    cache = tmp_path / "hub"
    snap = cache / f"models--{HF_REPO.replace('/', '--')}" / "snapshots" / "abc123"
    (snap / HF_FILES["vit-s"]).parent.mkdir(parents=True)
    (snap / HF_FILES["vit-s"]).write_bytes(b"weights")
    (cache / f"models--{HF_REPO.replace('/', '--')}" / "refs").mkdir()
    (cache / f"models--{HF_REPO.replace('/', '--')}" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    assert resolve_checkpoint("vit-s") == snap / HF_FILES["vit-s"]

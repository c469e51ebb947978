"""classify --dataset: the same labels and files as classifying the whole run at once, in
the dataset's task layout; resumable per video; options recorded (fast: a fake predictor
segments, a deterministic colour backend labels)."""

import json

import numpy as np
import pytest

from entitysam.classify import classify
from entitysam.classify.backends.base import Backend, Label
from entitysam.classify.dataset import classify_dataset
from entitysam.cli import main
from entitysam.errors import EntitySAMError
from entitysam.io.datasets import open_dataset
from entitysam.segment import segment_dataset
from entitysam.synthetic.datasets import write_mini_dataset
from entitysam.synthetic.videos import CATEGORIES
from tests.datasets.dataset_testkit import fake_factory, tree_bytes


class ColourBackend(Backend):
    """Category = f(mean colour of the crop): deterministic, no model, no network. Counts
    crops; raises once ``fail_after`` crops were classified (a crash mid-run)."""

    name = "colour-test"

    def __init__(self, fail_after=None):
        super().__init__()
        self.seen, self.fail_after = 0, fail_after

    def classify(self, crops, vocab):
        if self.fail_after is not None and self.seen >= self.fail_after:
            raise RuntimeError("backend crashed")
        self.seen += len(crops)
        cats = vocab.categories
        return [Label(cats[int(np.asarray(c).mean()) % len(cats)], 1.0, "colour") for c in crops]


@pytest.fixture
def run(tmp_path):
    """(dataset root, segment output, vocabulary JSON) of a 3-video VIPSeg mini-dataset."""
    root = write_mini_dataset(tmp_path / "data", "vipseg", num_videos=3, num_frames=3, size=(24, 32))
    seg = tmp_path / "seg"
    segment_dataset(root, "vipseg", seg, formats="panoptic", runner_factory=fake_factory(), progress=False)
    return root, seg, root / "panoptic_gt_VIPSeg_val.json"


def test_same_files_as_classifying_the_run_at_once(run, tmp_path, capsys):
    root, seg, vocab = run
    summary = classify_dataset(seg, root, "vipseg", str(vocab), ColourBackend(), tmp_path / "cls", progress=False)
    assert summary.task == "panoptic" and summary.videos == 3 and summary.tracks > 0
    frames = {v.id: v.path for v in open_dataset(root, "vipseg").videos}
    classify(seg, frames, str(vocab), ColourBackend(), tmp_path / "once", task="panoptic")
    assert tree_bytes(tmp_path / "cls") == tree_bytes(tmp_path / "once")
    assert set(json.loads((tmp_path / "cls" / "manifest.json").read_text())["status"].values()) == {"done"}
    assert main(["eval", "--task", "panoptic", "--pred", str(tmp_path / "cls"), "--gt", str(root / "panomasksRGB"),
                 "--gt-json", str(vocab), "--no-progress"]) == 0
    assert "VPQ" in capsys.readouterr().out


def test_a_crash_resumes_without_relabelling_finished_videos(run, tmp_path):
    root, seg, vocab = run
    out = tmp_path / "cls"
    with pytest.raises(RuntimeError, match="backend crashed"):
        classify_dataset(seg, root, "vipseg", str(vocab), ColourBackend(fail_after=1), out, progress=False)
    done = sorted(p.name for p in (out / ".parts").iterdir())
    assert done == ["synth_0000_000"] and not (out / "pred.json").exists()
    first = out / ".parts" / "synth_0000_000" / "summary.json"
    mtime = first.stat().st_mtime_ns
    backend = ColourBackend()
    classify_dataset(seg, root, "vipseg", str(vocab), backend, out, progress=False)
    assert first.stat().st_mtime_ns == mtime
    fresh = ColourBackend()
    classify_dataset(seg, root, "vipseg", str(vocab), fresh, tmp_path / "fresh", progress=False)
    assert 0 < backend.seen < fresh.seen  # only the videos left were labelled
    assert tree_bytes(out) == tree_bytes(tmp_path / "fresh")
    with pytest.raises(EntitySAMError, match="holds a run with other options \\(task"):
        classify_dataset(seg, root, "vipseg", str(vocab), ColourBackend(), out, task="semantic", progress=False)


def test_vspw_and_ytvis_tasks(tmp_path, capsys):
    for layout in ("vspw", "ytvis"):
        root = write_mini_dataset(tmp_path / layout, layout, num_videos=2, num_frames=3, size=(24, 32))
        seg = tmp_path / f"seg_{layout}"
        segment_dataset(root, layout, seg, runner_factory=fake_factory(), progress=False)
        if layout == "vspw":
            vocab = tmp_path / "classes.json"
            vocab.write_text(json.dumps({"categories": CATEGORIES}))
        else:
            vocab = root.parent / "valid.json"
        out = tmp_path / f"cls_{layout}"
        summary = classify_dataset(seg, root, layout, str(vocab), ColourBackend(), out, progress=False)
        if layout == "vspw":
            assert summary.task == "semantic"
            assert sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) == \
                ["synth_0000_000", "synth_0000_001"]
            assert main(["eval", "--task", "semantic", "--pred", str(out), "--gt", str(root), "--no-progress"]) == 0
        else:
            assert summary.task == "instance"
            results = json.loads((out / "results.json").read_text())
            assert results and {r["video_id"] for r in results} <= {10, 20}
            assert main(["eval", "--task", "instance", "--pred", str(out / "results.json"),
                         "--gt-json", str(vocab)]) == 0
    capsys.readouterr()


def test_tracks_of_another_dataset_are_refused(run, tmp_path):
    root, seg, vocab = run
    other = write_mini_dataset(tmp_path / "other", "vipseg", num_videos=2, num_frames=3, size=(24, 32), seed=5)
    with pytest.raises(EntitySAMError, match="synth_0000_000 of .* is not a video of"):
        classify_dataset(seg, other, "vipseg", str(vocab), ColourBackend(), tmp_path / "cls", progress=False)
    assert not (tmp_path / "cls").exists()

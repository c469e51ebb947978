"""YouTube-VIS 2019/2021 and OVIS: the instances JSON and the frame folders it names.

The JSON's ``videos`` give the ids (``id``, written into results.json) and each video's frame
list (``file_names``: ``<video>/<frame>.jpg``, relative to the image root). The image root is
``ROOT/JPEGImages`` (YouTube-VIS) or ROOT itself when it has no ``JPEGImages`` (OVIS keeps
``<split>/<video>/``). Without ``--annotations`` the JSON is looked up as, in order:
``ROOT/../<split>.json`` (YouTube-VIS: ``valid.json`` beside ``valid/``),
``ROOT/../annotations_<split>.json`` (OVIS), ``ROOT/<split>.json``, ``ROOT/instances.json``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from entitysam.errors import EntitySAMError
from entitysam.io.jsonfile import load_json
from entitysam.io.datasets.base import DatasetVideo, VideoProblem


def find_annotations(root: Path, split: str) -> Path:
    candidates = [root.parent / f"{split}.json", root.parent / f"annotations_{split}.json",
                  root / f"{split}.json", root / "instances.json"]
    for c in candidates:
        if c.is_file():
            return c
    raise EntitySAMError(f"no YouTube-VIS/OVIS instances JSON found (looked for "
                         f"{', '.join(str(c) for c in candidates)}); give it with --annotations")


def list_ytvis(root: Path, split: str, annotations=None):
    """(videos or problems in JSON order, the JSON path)."""
    path = Path(annotations) if annotations is not None else find_annotations(root, split)
    data = load_json(path, "instances JSON")
    image_root = root / "JPEGImages" if (root / "JPEGImages").is_dir() else root
    out = []
    try:
        for v in data["videos"]:
            vid, names = int(v["id"]), [str(n) for n in v["file_names"]]
            parts = [PurePosixPath(n) for n in names]
            folders = {p.parent for p in parts}
            if len(folders) != 1 or not names:
                raise EntitySAMError(f"{path}: video {vid}: file_names must all lie in one folder")
            folder = next(iter(folders))
            name = str(folder)
            if not (image_root / folder).is_dir():
                out.append(VideoProblem(name, f"video {name}: frame folder {image_root / folder} not found"))
                continue
            out.append(DatasetVideo(name, image_root / folder, tuple(p.name for p in parts), len(parts), vid))
    except (KeyError, TypeError, ValueError):
        raise EntitySAMError(f"malformed instances JSON {path}: expected \"videos\": "
                             "[{\"id\", \"file_names\", ...}, ...]") from None
    return out, path

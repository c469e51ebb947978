"""Category vocabularies: the candidate names a track is classified into.

A :class:`Vocabulary` is an ordered list of :class:`Category` (dataset id, dataset name,
things/stuff flag, the name shown to the model and extra names accepted in answers). It comes
from one of:

* a built-in name: ``vipseg`` (= ``vspw``, 124 classes, ids 0..123, 58 things),
  ``ytvis2019`` / ``ytvis2021`` (40 each, ids 1..40), ``ovis`` (25, ids 1..25),
  ``coco_panoptic`` (133, 80 things), shipped as JSON in ``entitysam/data/vocab/``;
* a JSON file with a ``"categories"`` list of ``{"id", "name", "isthing"?, "prompt"?}``; a
  dataset's own GT JSON (VIPSeg ``panoptic_gt_VIPSeg_val.json``, a YouTube-VIS / OVIS
  instances JSON, a COCO panoptic JSON) has that list and can be passed as it is;
* a text file with one name per line (``#`` starts a comment), or a comma-separated list;
  ids are assigned in order from ``start`` (0 by default) and things/stuff is unknown.

Example::

    from entitysam.classify.vocab import load_vocabulary
    vocab = load_vocabulary("vipseg")
    vocab.by_id(60).name, vocab.by_id(60).isthing   # ('person', True)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from entitysam.errors import EntitySAMError

#: built-in vocabulary name -> data file (``entitysam/data/vocab/<file>``)
BUILTIN = {
    "vipseg": "vipseg.json",
    # VIPSeg was annotated on VSPW videos with the same 124 classes in the same order.
    "vspw": "vipseg.json",
    "ytvis2019": "ytvis2019.json",
    "ytvis2021": "ytvis2021.json",
    "ovis": "ovis.json",
    "coco_panoptic": "coco_panoptic.json",
}

# COCO panoptic marks merged / disambiguated stuff classes with these suffixes; a model
# should see the plain word ("sky-other-merged" -> "sky").
_SUFFIXES = ("-merged", "-other", "-stuff")


def prompt_name(name: str) -> str:
    """The human-readable form of a dataset class name, shown to the model.

    ``"handrail_or_fence"`` -> ``"handrail or fence"``, ``"sky-other-merged"`` -> ``"sky"``,
    ``"Microwave_oven"`` -> ``"microwave oven"``.
    """
    text = name.strip()
    changed = True
    while changed:  # "food-other-merged" carries two suffixes
        changed = False
        for suffix in _SUFFIXES:
            if text.lower().endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)], True
    return normalise(text)


def normalise(text: str) -> str:
    """Lower case, ``_`` and ``-`` as spaces, single spaces: the form names are compared in."""
    return " ".join(re.sub(r"[_\-]+", " ", text.lower()).split())


@dataclass(frozen=True)
class Category:
    """One candidate class.

    ``id``: the dataset's category id (written to the outputs); ``name``: the dataset's name;
    ``isthing``: True/False, or None when the vocabulary does not say; ``prompt``: the name
    the model sees; ``aliases``: every normalised name that maps to this class in an answer
    (the prompt name, the dataset name and, for "a or b" names, each alternative).
    """

    id: int
    name: str
    isthing: bool | None = None
    prompt: str = ""
    aliases: tuple[str, ...] = field(default=())

    @classmethod
    def make(cls, id: int, name: str, isthing: bool | None = None,
             prompt: str | None = None) -> "Category":
        """Build a category, deriving the prompt name and the aliases from ``name``."""
        shown = normalise(prompt) if prompt else prompt_name(name)
        aliases = [shown, normalise(name)]
        # VIPSeg's "cupboard_or_showcase_or_storage_rack": each alternative names the class.
        if " or " in shown:
            aliases += [part.strip() for part in shown.split(" or ") if part.strip()]
        unique = tuple(dict.fromkeys(a for a in aliases if a))
        return cls(int(id), str(name), isthing, shown, unique)


class Vocabulary:
    """An ordered, id-unique list of categories (see the module docstring for sources)."""

    def __init__(self, categories: Sequence[Category], name: str = "custom"):
        if not categories:
            raise EntitySAMError(f"vocabulary {name!r} is empty: give at least one category name")
        ids = [c.id for c in categories]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise EntitySAMError(f"vocabulary {name!r} has duplicate category ids {dup[:5]}")
        self.name = name
        self.categories = tuple(categories)
        self._by_id = {c.id: c for c in categories}

    def __len__(self) -> int:
        return len(self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def by_id(self, category_id: int) -> Category:
        return self._by_id[category_id]

    @property
    def prompts(self) -> list[str]:
        """The names shown to the model, in vocabulary order."""
        return [c.prompt for c in self.categories]

    @property
    def has_isthing(self) -> bool:
        return all(c.isthing is not None for c in self.categories)

    @classmethod
    def from_names(cls, names: Iterable[str], start: int = 0, name: str = "custom") -> "Vocabulary":
        """A vocabulary of plain names with ids ``start, start + 1, ...`` (things/stuff unknown)."""
        cleaned = [n.strip() for n in names if n.strip()]
        return cls([Category.make(start + i, n) for i, n in enumerate(cleaned)], name)

    @classmethod
    def from_dict(cls, data: dict, name: str = "custom") -> "Vocabulary":
        """From ``{"categories": [{"id", "name", "isthing"?, "prompt"?}, ...]}``."""
        try:
            raw = data["categories"]
            cats = [Category.make(int(c["id"]), str(c["name"]),
                                  None if c.get("isthing") is None else bool(c["isthing"]),
                                  c.get("prompt"))
                    for c in raw]
        except (KeyError, TypeError, ValueError) as exc:
            raise EntitySAMError(
                f"vocabulary {name!r}: expected {{\"categories\": [{{\"id\", \"name\", "
                f"\"isthing\"?}}, ...]}} (problem at {exc!r})") from None
        return cls(cats, str(data.get("name") or name))


def builtin_names() -> list[str]:
    return sorted(BUILTIN)


def load_builtin(name: str) -> Vocabulary:
    """A vocabulary shipped with the package (see :data:`BUILTIN`)."""
    key = name.lower().replace("-", "_")
    if key not in BUILTIN:
        raise EntitySAMError(f"unknown vocabulary {name!r}; built-in: {', '.join(builtin_names())}")
    text = resources.files("entitysam").joinpath("data", "vocab", BUILTIN[key]).read_text("utf-8")
    vocab = Vocabulary.from_dict(json.loads(text), key)
    vocab.name = key  # "vspw" shares VIPSeg's file but is reported under its own name
    return vocab


def load_vocabulary(spec: str | os.PathLike, start: int = 0) -> Vocabulary:
    """A built-in name, a JSON file, a text file (one name a line) or "a,b,c" -> Vocabulary.

    ``start`` is the first id given to plain names (text file or comma list).
    """
    text = str(spec)
    path = Path(text)
    if path.is_file():
        return _load_file(path, start)
    if text.lower().replace("-", "_") in BUILTIN:
        return load_builtin(text)
    if "," in text:
        return Vocabulary.from_names(text.split(","), start)
    raise EntitySAMError(
        f"--vocab {text!r}: not a file, not a built-in vocabulary ({', '.join(builtin_names())}) "
        "and not a comma-separated list of names")


def _load_file(path: Path, start: int) -> Vocabulary:
    try:
        content = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EntitySAMError(f"{path}: cannot read vocabulary ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise EntitySAMError(f"{path}: invalid JSON ({exc})") from None
        if isinstance(data, list):  # a plain JSON list of names
            return Vocabulary.from_names([str(n) for n in data], start, path.stem)
        return Vocabulary.from_dict(data, path.stem)
    names = [line.split("#", 1)[0] for line in content.splitlines()]
    return Vocabulary.from_names(names, start, path.stem)

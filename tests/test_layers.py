"""Imports only go down the layers, and pipelines do not import each other.

Layers, bottom to top (the README's "Architecture" section states the same order):

    0 core data    entitysam.errors, entitysam.configs, entitysam.core
    1 io, models   entitysam.io, entitysam.modeling, entitysam.checkpoint, entitysam.hub
    2 inference    entitysam.inference
    3 pipelines    entitysam.segment, .baselines, .classify, .training, .synthetic,
                   .evaluation, .golden, .viewer  (none imports another)
    4 interface    entitysam (the package's top-level re-exports), entitysam.cli,
                   entitysam._cli, entitysam.__main__

A module may import from its own layer (except a sibling pipeline) and from any lower
layer. Every import counts, also those inside functions and under TYPE_CHECKING.
"""

import ast
from pathlib import Path

import pytest

import entitysam

LAYERS = [
    ("core", ["entitysam.errors", "entitysam.configs", "entitysam.core"]),
    ("io/modeling", ["entitysam.io", "entitysam.modeling", "entitysam.checkpoint", "entitysam.hub"]),
    ("inference", ["entitysam.inference"]),
    ("pipelines", ["entitysam.segment", "entitysam.baselines", "entitysam.classify", "entitysam.training",
                   "entitysam.synthetic", "entitysam.evaluation", "entitysam.golden", "entitysam.viewer"]),
    ("interface", ["entitysam.cli", "entitysam._cli", "entitysam.__main__", "entitysam"]),
]
PIPELINES = LAYERS[3][1]
ROOT = Path(entitysam.__file__).parent


def unit_of(module: str) -> tuple[int, str]:
    """(layer index, unit) of a module: the longest listed prefix that contains it."""
    best = None
    for index, (_, units) in enumerate(LAYERS):
        for unit in units:
            if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best[1])):
                best = (index, unit)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to the README)")
    return best


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            # `from entitysam import segment` imports the submodule entitysam.segment
            found += [(node.lineno, f"{name}.{a.name}" if name == "entitysam" else name) for a in node.names]
    return sorted({(line, name) for line, name in found if name == "entitysam" or name.startswith("entitysam.")})


def violations(root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        layer, unit = unit_of(module)
        for line, target in imported_modules(path, module):
            if target == "entitysam":  # only the interface imports the package facade
                t_layer, t_unit = len(LAYERS) - 1, "entitysam"
            else:
                t_layer, t_unit = unit_of(target)
            where = f"{path.relative_to(root.parent)}:{line}: {module} imports {target}"
            if t_layer > layer:
                bad.append(f"{where} (layer '{LAYERS[t_layer][0]}' is above '{LAYERS[layer][0]}')")
            elif layer == t_layer == 3 and unit != t_unit:
                bad.append(f"{where} (sibling pipelines {unit} and {t_unit})")
    return bad


def test_imports_only_go_down():
    assert violations() == []


@pytest.mark.parametrize("module,line,expected", [
    ("io/writers/base.py", "from entitysam.inference.merge import MergeOptions", "layer 'inference' is above 'io/modeling'"),
    ("baselines/run.py", "from entitysam.segment import segment_video", "sibling pipelines"),
    ("core/segments.py", "from entitysam.io.ids import id2rgb", "layer 'io/modeling' is above 'core'"),
    ("inference/merge/steps.py", "from entitysam import segment_video", "layer 'interface' is above 'inference'"),
    ("modeling/entitysam.py", "    from ..inference.predictor import EntitySAMPredictor", "layer 'inference' is above"),
])
def test_the_rule_catches_a_wrong_import(tmp_path, module, line, expected):
    """The checker itself: a copy of the package with one bad import added fails it."""
    import shutil

    copy = tmp_path / "entitysam"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    target = copy / module
    text = target.read_text()
    if line.startswith("    "):  # inside a function: lazy imports count too
        text += f"\n\ndef _late():\n{line}\n"
    else:
        text = text.replace("from __future__ import annotations\n", f"from __future__ import annotations\n{line}\n", 1)
    target.write_text(text)
    found = violations(copy)
    assert len(found) == 1 and expected in found[0], found

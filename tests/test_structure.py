"""The shape of ``qaplib``, read from its source: one phase loop, no import from the core up into firmware/, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qaplib"
#: The modules that train and score runs and keep their records: none of them may need the firmware package.
CORE = ("data", "models", "pruning", "train", "metrics", "fixed", "layer_chain", "runs", "checkpoints", "lifecycle",
        "engines", "reference", "engine", "store", "sweep", "files", "inputs")  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, top_level_only: bool = False) -> set[str]:
    """The qaplib modules ``path`` imports (anywhere in it, or only at its top level)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qaplib"):
            found.add(node.module)
            found |= {
                f"{node.module}.{alias.name}"
                for alias in node.names
                if (PACKAGE.parent / node.module.replace(".", "/") / f"{alias.name}.py").exists()
            }
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("qaplib")}
    return found


def sources() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def names_used(path: Path) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Name)}


@pytest.mark.parametrize("core", CORE)
def test_no_core_module_imports_firmware(core):
    modules = {name: path for name, path in sources().items() if name == f"qaplib.{core}" or name.startswith(f"qaplib.{core}.")}
    assert modules, core
    for name, path in modules.items():
        assert not {m for m in imported_modules(path) if m.startswith("qaplib.firmware")}, name


def test_the_phase_loop_is_written_once():
    """Only :mod:`qaplib.lifecycle` sets up and scores phases; an engine only trains the members it is given. The
    one engine that owns a whole run (HGQ, which has no pruning phases) assembles its result's meta the same way."""
    loop_parts = {"phase_start_weights", "phase_row", "run_meta", "kernel_masks_for_sparsity", "save_checkpoint"}
    users = {name: sorted(loop_parts & names_used(path)) for name, path in sources().items()}
    assert {name: used for name, used in users.items() if used} == {"qaplib.lifecycle": sorted(loop_parts),
                                                                   "qaplib.hgq_engine": ["run_meta"]}, users  # fmt: skip


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (module -> modules it imports), as a path that returns to its start; None if none."""
    done, active = set(), []

    def visit(name):
        if name in active:
            return active[active.index(name) :] + [name]
        if name in done:
            return None
        active.append(name)
        for target in sorted(graph[name]):
            if cycle := visit(target):
                return cycle
        active.pop()
        done.add(name)
        return None

    return next((cycle for cycle in map(visit, sorted(graph)) if cycle), None)


def test_the_package_has_no_import_cycle_at_module_level():
    graph = {name: {m for m in imported_modules(path, top_level_only=True) if m in sources() and m != name}
             for name, path in sources().items()}  # fmt: skip
    assert import_cycle(graph) is None


def test_the_checker_sees_a_planted_firmware_import_and_a_planted_cycle(tmp_path):
    """Negative controls for the two readers above."""
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from qaplib.firmware.export import x\n")
    assert "qaplib.firmware.export" in imported_modules(planted)
    assert "qaplib.firmware.export" not in imported_modules(planted, top_level_only=True)
    planted.write_text("x = phase_row(1)\n")
    assert "phase_row" in names_used(planted)
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert import_cycle({"a": {"b"}, "b": set()}) is None

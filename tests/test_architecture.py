"""The package's structure holds: no import cycles, and the import contracts catch what they forbid."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
from conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _cycles(graph: grimp.ImportGraph) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_no_import_cycles_between_modules() -> None:
    # grimp counts every import statement of a module, those inside functions included.
    graph = grimp.build_graph("mlplatform", cache_dir=None)
    parents = {m for m in graph.modules if graph.find_children(m)}
    for package in parents:  # a package's __init__ importing its own modules is not a cycle between modules
        for child in graph.find_children(package):
            if graph.direct_import_exists(importer=child, imported=package):
                graph.remove_import(importer=child, imported=package)
    assert _cycles(graph) == []


def test_the_contracts_hold_and_catch_an_executor_module_importing_mlflow(tmp_path: Path) -> None:
    kept = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "broken" not in kept.stdout.lower().split("contracts:")[-1].split(",")[0]
    copy = tmp_path / "mlplatform"
    shutil.copytree(REPO / "platform" / "mlplatform", copy, ignore=shutil.ignore_patterns("__pycache__"))
    executor = copy / "training" / "executor.py"
    executor.write_text(executor.read_text().replace("import functools\n", "import functools\n\nimport mlflow\n", 1))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    broken = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=REPO, capture_output=True, text=True, env=env)
    assert broken.returncode != 0
    assert "Executor- and image-side code" in broken.stdout and "BROKEN" in broken.stdout
    assert "mlplatform.training.executor -> mlflow" in broken.stdout

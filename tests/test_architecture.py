"""The seams between the parts, as import-linter contracts (pyproject.toml) and as imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("voicelab", "accounts", "labeling", "distillation")


def test_every_import_contract_is_kept(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(no_cache=True) == 0  # the report above says which import breaks which contract


def test_no_service_or_selector_module_imports_a_tasks_module() -> None:
    graph = grimp.build_graph(*PACKAGES)
    tasks = {module for module in graph.modules if module.rsplit(".", 1)[-1] == "tasks"}
    services = {m for m in graph.modules if ".services" in m or m.endswith(".selectors")}
    assert len(tasks) == 2 and len(services) > 5  # the graph holds what this test is about
    chains = {
        (service, task)
        for service in services
        for task in tasks
        if graph.find_shortest_chain(importer=service, imported=task) is not None
    }
    assert chains == set()


def test_the_core_imports_without_django_or_celery() -> None:
    probe = (
        "import sys, pkgutil, importlib, voicelab.engine as e\n"
        "for m in pkgutil.iter_modules(e.__path__, 'voicelab.engine.'): importlib.import_module(m.name)\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'django', 'celery', 'channels', 'labeling', 'distillation'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""The demo desk is a development app: only the local and test settings install it, and nothing of
the product imports it (only the demo itself, the tests and the benchmarks may)."""

import ast
import importlib
import sys
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
MAY_IMPORT_THE_DEMO = {"demo", "tests", "bench"}


def demo_imports(path: Path) -> list[str]:
    """The modules of the demo that the Python file imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return [name for name in names if name == "demo" or name.startswith("demo.")]


def product_files() -> list[Path]:
    """The Python files of the product: the top-level packages but those allowed, and the scripts at the root."""
    packages = [
        path
        for path in ROOT.iterdir()
        if path.is_dir() and (path / "__init__.py").exists() and path.name not in MAY_IMPORT_THE_DEMO
    ]
    return [*ROOT.glob("*.py"), *(file for package in packages for file in package.rglob("*.py"))]


def test_nothing_of_the_product_imports_the_demo():
    files = product_files()
    assert any(file.parts[-2:] == ("sla", "rules.py") for file in files)  # the walk sees the product
    offenders = {str(file.relative_to(ROOT)): demo_imports(file) for file in files}
    assert {file: names for file, names in offenders.items() if names} == {}


def test_only_the_local_and_test_settings_install_the_demo(monkeypatch):
    from payhealth.settings import base

    assert apps.is_installed("demo")  # these tests run on the test settings
    assert "demo" not in base.INSTALLED_APPS
    local = importlib.import_module("payhealth.settings.local")
    assert local.INSTALLED_APPS.count("demo") == 1
    monkeypatch.setattr(base, "SECRET_KEY", "a key for this check only")  # production requires one
    sys.modules.pop("payhealth.settings.production", None)
    try:
        production = importlib.import_module("payhealth.settings.production")
        assert "demo" not in production.INSTALLED_APPS
    finally:
        sys.modules.pop("payhealth.settings.production", None)

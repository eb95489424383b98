"""The emulator package's public surface, and its independence from the SDK's client side."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import bigmind_async.emulator as emulator_package

PACKAGE_DIR = Path(emulator_package.__file__).parent
ALLOWED_THIRD_PARTY = {"aiohttp", "attrs", "multidict", "yarl", "pytest"}


class TestExports:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ is sorted (constants, classes, functions: ruff's RUF022 order) and names
        exactly the public attributes re-exported."""
        exported = emulator_package.__all__

        def order(name: str) -> tuple[int, str]:
            return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

        assert exported == sorted(exported, key=order)
        public = {
            name
            for name in vars(emulator_package)
            # "@py_builtins"/"@pytest_ar": pytest rewrites the package of its pytest11 plugin
            if not name.startswith(("_", "@")) and name not in {"annotations"}
        }
        submodules = {p.stem for p in PACKAGE_DIR.glob("*.py")}
        assert set(exported) == public - submodules

    def test_public_classes_say_they_are_public(self) -> None:
        """Every exported class is documented."""
        for name in emulator_package.__all__:
            value = getattr(emulator_package, name)
            if isinstance(value, type):
                assert value.__doc__, name


class TestIndependence:
    def test_imports_nothing_from_the_client_side(self) -> None:
        """Only the stdlib, aiohttp and the emulator itself are imported by its modules."""
        offenders: list[str] = []
        for path in sorted(PACKAGE_DIR.glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if module.startswith("bigmind_async.emulator"):
                        continue
                    if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
                        continue
                    offenders.append(f"{path.name}: {module}")
        assert offenders == []

"""Test configuration. The environment is set here, before anything imports ``service``."""

from __future__ import annotations

import os
import tempfile

_DATA_DIR = tempfile.mkdtemp(prefix="reftrack-tests-")
os.environ["REFTRACK_DATA_DIR"] = _DATA_DIR
os.environ["REFTRACK_ENVIRONMENT"] = "test"
for _name in list(os.environ):
    if (
        _name.startswith("REFTRACK_")
        and _name not in ("REFTRACK_DATA_DIR", "REFTRACK_ENVIRONMENT")
        and not (_name.startswith("REFTRACK_TEST_"))
    ):
        del os.environ[_name]

pytest_plugins = [
    # Before the modules that import it, so its asserts are rewritten too.
    "tests.fixtures.services",
    "tests.fixtures.database",
    "tests.fixtures.storage",
    "tests.fixtures.app",
    "tests.fixtures.analysed",
]

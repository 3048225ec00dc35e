"""Let `import cloudsim` find the real package when pytest runs with --import-mode=importlib.

With that mode pytest names test modules after their path from the repository root, so the
workspace member directory `cloudsim/` becomes a namespace package `cloudsim` in sys.modules and
hides the installed `cloudsim` package (src layout). Dropping the placeholder before any test
module imports `cloudsim.*` restores the real package; pytest still registers the test modules
under their own dotted names.
"""

from __future__ import annotations

import importlib
import sys

_placeholder = sys.modules.get("cloudsim")
if _placeholder is not None and getattr(_placeholder, "__file__", None) is None:
    del sys.modules["cloudsim"]
    importlib.import_module("cloudsim")

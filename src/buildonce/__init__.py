"""buildonce: build the binary once per CI run and hand it to every job through a verified cache.

The public API is deliberately small; subpackages are imported lazily by the CLI so that
``buildonce --help`` stays fast.
"""

from __future__ import annotations

from buildonce.errors import BuildonceError

__version__ = "0.1.0"
__all__ = ["BuildonceError", "__version__"]

"""The Prometheus binaries the observability tests run: found on PATH, or a failure that says how to get them."""

from __future__ import annotations

import shutil

INSTALL_HINT = "install Prometheus (Debian: apt-get install prometheus) or run `make test-observability`"


def binary(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; a missing one fails the test (never skips it)."""
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} not found on PATH: {INSTALL_HINT}")
    return path

"""Test set-up: every test session uses its own empty cache directory."""

import os
import tempfile

import pytest

_CACHE = tempfile.mkdtemp(prefix="symgrad-test-cache-")
os.environ["SYMGRAD_CACHE_DIR"] = _CACHE


@pytest.fixture
def cache_dir():
    return _CACHE

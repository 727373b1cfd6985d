import dspy
import pytest


@pytest.fixture(autouse=True, scope="session")
def _no_dspy_cache():
    """Tests must see every LM call: DSPy's disk and memory caches are off."""
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    yield

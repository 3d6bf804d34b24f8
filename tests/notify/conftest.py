import pytest


@pytest.fixture(autouse=True)
def _no_leases_held_across_tests():
    """Claims a test leaves unfinished are not renewed in the tests after it (each test has
    a database of its own)."""
    from batchwatch.notify import leases

    yield
    with leases._lock:
        leases._held.clear()

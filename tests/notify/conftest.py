import pytest


@pytest.fixture(autouse=True)
def _leases_renewed_by_the_test_only(monkeypatch):
    """In this process the tests renew leases themselves (``leases.leases_renew``), at the
    instants they choose; the renewer thread runs in the real processes of test_handover.py.
    Claims a test leaves unfinished are forgotten after it (each test has its own database)."""
    from batchwatch.notify import leases

    monkeypatch.setattr(leases, "_ensure_renewer", lambda: None)
    yield
    with leases._lock:
        leases._held.clear()

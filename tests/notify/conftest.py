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


# --- the providers' stand-ins (tests/notify/*_server.py) ----------------------------------


@pytest.fixture
def twilio(settings):
    from tests.notify import twilio_server

    server = twilio_server.FakeTwilio()
    settings.BATCHWATCH_TWILIO_BASE_URL = server.url
    settings.BATCHWATCH_TWILIO_ACCOUNT_SID = twilio_server.ACCOUNT_SID
    settings.BATCHWATCH_TWILIO_AUTH_TOKEN = twilio_server.AUTH_TOKEN
    settings.BATCHWATCH_TWILIO_FROM = twilio_server.FROM
    yield server
    server.close()


@pytest.fixture
def ntfy(settings):
    from tests.notify import ntfy_server

    server = ntfy_server.FakeNtfy()
    settings.BATCHWATCH_NTFY_URL = server.url
    settings.BATCHWATCH_NTFY_TOKEN = ntfy_server.TOKEN
    yield server
    server.close()


@pytest.fixture
def teams():
    from tests.notify import teams_server

    server = teams_server.FakeTeams()
    yield server
    server.close()


@pytest.fixture
def pagerduty(settings):
    from tests.notify import pagerduty_server

    server = pagerduty_server.FakePagerDuty()
    settings.BATCHWATCH_PAGERDUTY_EVENTS_URL = server.events_url
    yield server
    server.close()

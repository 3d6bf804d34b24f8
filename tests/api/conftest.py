import logging

import pytest


@pytest.fixture(autouse=True)
def _quiet_request_log():
    """Thousands of 4xx answers: Django's request log would be most of the run's output."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)

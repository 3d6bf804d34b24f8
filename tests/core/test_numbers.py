import pytest

from batchwatch.core.numbers import parse_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("42", 42), ("²", None), ("٣", None), ("-1", None), ("0", None), ("", None), (None, None),
     (str(2**63 - 1), 2**63 - 1), (str(2**63), None), ("1e3", None), (" 7", None)],
)  # fmt: skip
def test_ids_are_ascii_digits_within_a_bigint(raw, expected):
    assert parse_id(raw) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["%C2%B2", "9" * 30])
def test_the_runbook_chooser_ignores_ids_that_are_no_ids(admin_client, value):
    """'²' is a digit to str.isdigit and not to int(): it was a 500."""
    for name in ("incident", "run", "job"):
        assert (
            admin_client.get(f"/runbooks/for/?{name}={value}").status_code == 302
        )  # to /runbooks/

"""Bounded fuzz of every REST API operation: none answers a 500, whatever it is sent.

The operations come from the OpenAPI schema (drf-spectacular), so a new one is fuzzed without
a change here. Each gets ``EXAMPLES`` generated requests per run, as an admin and as a team
member in turn: bodies from the operation's request schema with fields of the wrong type,
huge numbers, NUL characters, lone surrogates and deep nesting; bad query parameters (for
the operation's own parameters and stray ones); bad ids in the path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchwatch.alerts.models import MaintenanceWindow
from batchwatch.alerts.services import silence_create
from batchwatch.runs.models import Run
from tests.alerts.conftest import firing, receive

from .strategies import bad_scalars, bad_values, encode, query_values

EXAMPLES = 200

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def _operations() -> list[tuple[str, str, dict, dict]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = []
    for path, methods in sorted(schema["paths"].items()):
        for method, operation in sorted(methods.items()):
            if method in {"get", "post", "put", "patch", "delete"}:
                found.append((method, path, operation, components))
    return found


OPERATIONS = _operations()


def test_the_schema_lists_every_router_operation():
    assert len(OPERATIONS) >= 40  # the fuzz walks the schema: if it shrank, it went wrong


def _body_schema(operation: dict, components: dict) -> dict:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema") or {}
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _plausible(prop: dict, components: dict):
    """A value of roughly the right shape for a property (so that some requests get past
    the first field and reach the deeper validation)."""
    if "$ref" in prop:
        prop = components[prop["$ref"].rsplit("/", 1)[1]]
    if "allOf" in prop or "oneOf" in prop:
        options = prop.get("allOf") or prop.get("oneOf")
        return _plausible(options[0], components)
    if "enum" in prop:
        return st.sampled_from([v for v in prop["enum"] if v is not None] or [""])
    kind = prop.get("type")
    if prop.get("format") == "date-time":
        return st.sampled_from(
            ["2026-11-22T03:00:00Z", "2026-11-23T03:00:00+01:00", "2027-01-01T00:00:00Z"]
        )
    if kind == "integer":
        return st.integers(min_value=-3, max_value=5)
    if kind == "number":
        return st.floats(min_value=0, max_value=1)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(st.sampled_from(["alertname=x", "team=ledger", "job=a"]), max_size=3)
    if kind == "object":
        return st.dictionaries(st.sampled_from(["domain", "tier", "x"]), st.text(max_size=5))
    return st.sampled_from(["ledger", "x", "ops-team", "0 3 * * *", "America/New_York", "1h"])


# Values that pass validation for the fields named so, so that a body with one bad field
# gets past the others to the service and the database.
KNOWN = {
    "slug": st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    "job": st.just("airflow:prod-airflow/ledger_nightly_close"),
    "owner_team": st.just("ledger"),
    "team": st.just("ledger"),
    "user": st.sampled_from(["ada", "tom"]),
    "matchers": st.just(["team=ledger"]),
    "engine": st.just("spark"),
    "namespace": st.just("prod"),
    "name": st.text(min_size=1, max_size=10),
    "objective": st.just(0.9),
    "window_size": st.just(10),
    "max_age": st.just("1 00:00:00"),
    "duration": st.just("01:00:00"),
    "schedule_timezone": st.just("America/New_York"),
    "deadline_timezone": st.just("UTC"),
    "deadline_time": st.just("06:00:00"),
}


def _bodies(schema: dict, components: dict):
    properties = schema.get("properties", {})
    if not properties:
        return st.one_of(st.none(), bad_values())
    good = {
        name: KNOWN[name] if name in KNOWN else _plausible(prop, components)
        for name, prop in properties.items()
        if not prop.get("readOnly")
    }
    anything = st.fixed_dictionaries(
        {}, optional={name: st.one_of(value, bad_values()) for name, value in good.items()}
    )
    one_bad = st.sampled_from(sorted(good)).flatmap(
        lambda bad: st.fixed_dictionaries(
            {name: bad_values() if name == bad else value for name, value in good.items()}
        )
    )
    return st.one_of(one_bad, one_bad, anything, bad_values())


FORMS = st.dictionaries(
    st.sampled_from(["slug", "name", "labels", "matchers", "comment"]),
    bad_scalars().map(str).filter(lambda text: _encodable(text)),
    max_size=3,
)


@pytest.fixture
def world(db, admin, teammate, route_tree, ledger_job):
    """Something behind each id: a job, a run, an incident, an alert, a silence, a
    maintenance window, a rotation (the route tree's)."""
    t0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    receive([firing({"alertname": "Late", "job": "ledger", "team": "ledger"})], t0)
    Run.objects.create(job=ledger_job, external_id="r1", state="running", started_at=t0)
    silence_create(
        matchers=["alertname=Late"], starts_at=t0, ends_at=t0 + timedelta(hours=1),
        comment="fuzz", created_by=admin, now=t0,
    )  # fmt: skip
    MaintenanceWindow.objects.create(
        name="m", matchers=["team=ledger"], starts_at=t0, duration=timedelta(hours=1)
    )
    return {"personas": [admin, teammate]}


def _path_values(name: str):
    good = st.sampled_from(["1", "ledger", "2"])
    bad = st.sampled_from(
        ["0", "-1", str(2**63), str(2**64), "1e3", "abc", "%00", "%ED%A0%80", "ledger%00",
         "%D9%A1", "%C2%B2", "a" * 300, "..", "%2F", " "]
    )  # fmt: skip
    return st.one_of(good, bad, st.text(max_size=10).map(lambda s: quote(s, safe="")))


@pytest.mark.parametrize(
    "method, path, operation, components",
    OPERATIONS,
    ids=[f"{m.upper()} {p}" for m, p, _, _ in OPERATIONS],
)
def test_no_api_operation_answers_500(world, api_as, method, path, operation, components):
    params = operation.get("parameters", [])
    query_names = [p["name"] for p in params if p["in"] == "query"]
    path_names = [p["name"] for p in params if p["in"] == "path"]
    body_schema = _body_schema(operation, components)
    clients = [api_as(user) for user in world["personas"]]
    sent = []

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        url = path
        for name in path_names:
            url = url.replace("{" + name + "}", data.draw(_path_values(name), label=name))
        names = data.draw(
            st.lists(st.sampled_from([*query_names, "limit", "offset", "x"]), max_size=4),
            label="query names",
        )
        query = "&".join(f"{quote(n)}={data.draw(query_values(), label=n)}" for n in names)
        client = clients[len(sent) % len(clients)]
        call = getattr(client, method)
        target = f"{url}?{query}" if query else url
        if method in {"post", "put", "patch"}:
            kind = data.draw(st.sampled_from(["json", "json", "json", "form", "raw"]))
            if kind == "raw":
                raw = data.draw(st.binary(max_size=200), label="raw body")
                response = call(target, raw, content_type="application/json")
            elif kind == "form":
                form = data.draw(FORMS, label="form")
                response = call(target, form, format="multipart")
            else:
                body = data.draw(_bodies(body_schema, components), label="body")
                response = call(target, encode(body), content_type="application/json")
        else:
            response = call(target)
        sent.append(response.status_code)
        assert response.status_code < 500, (target, response.status_code, response.content[:300])

    fuzz()
    assert len(sent) >= EXAMPLES


def _encodable(text: str) -> bool:
    """A form value the test client can encode (a surrogate travels in JSON bodies)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True

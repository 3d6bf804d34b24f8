"""Batchwatch's own URLs from its URLconf: the same strings the f-strings they replace gave."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, URLResolver, get_resolver, reverse, set_script_prefix

from batchwatch.core.links import absolute_url, absolute_urls_by_id, path_for, paths_by_id

BASES = ["http://127.0.0.1:8000", "https://batchwatch.example.com/bw"]


@pytest.fixture(params=BASES)
def base(request, settings):
    settings.BATCHWATCH_BASE_URL = request.param
    return request.param


@pytest.fixture
def script_prefix():
    """Batchwatch served under /bw/ (reverse() adds it while a request is handled)."""
    set_script_prefix("/bw/")
    yield "/bw/"
    set_script_prefix("/")


@pytest.mark.parametrize("pk", [1, 7, 123456789])
def test_pages_by_primary_key(base, pk):
    assert absolute_url("web:job", pk) == f"{base}/jobs/{pk}/"
    assert absolute_url("web:run", pk) == f"{base}/runs/{pk}/"
    assert absolute_url("web:incident", pk) == f"{base}/incidents/{pk}/"


@pytest.mark.parametrize("slug", ["payments", "team-a", "team_b2", "slo-burn"])
def test_pages_by_slug(base, slug):
    assert absolute_url("web:team", slug) == f"{base}/teams/{slug}/"
    assert absolute_url("web:runbook", slug) == f"{base}/runbooks/{slug}/"


@pytest.mark.parametrize("trace_id", ["4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd"])
def test_trace(base, trace_id):
    assert absolute_url("trace", trace_id) == f"{base}/api/v1/traces/{trace_id}/"


@pytest.mark.parametrize("kind", ["failed", "missed", "late_start", "slo"])
def test_runbook_resolver_with_a_query(base, kind):
    assert (
        absolute_url("web:runbook-for", query={"kind": kind, "job": 42})
        == f"{base}/runbooks/for/?kind={kind}&job=42"
    )
    assert (
        absolute_url("web:runbook-for", query={"incident": 9}) == f"{base}/runbooks/for/?incident=9"
    )


def test_keyword_arguments(base):
    assert absolute_url("web:job", job_id=3) == f"{base}/jobs/3/"
    assert path_for("web:rotation", slug="primary") == "/rotations/primary/"


def test_paths():
    assert path_for("web:job", 7) == "/jobs/7/"
    assert path_for("web:runbooks") == "/runbooks/"
    assert path_for("web:runbooks", query={}) == "/runbooks/"
    assert path_for("web:runbooks", query={"kind": "failed"}) == "/runbooks/?kind=failed"
    assert path_for("web:runbook", "job-failed", query={"run": 5}) == "/runbooks/job-failed/?run=5"


def test_query_values_are_encoded():
    assert path_for("web:runbooks", query={"kind": "a b&c"}) == "/runbooks/?kind=a+b%26c"


def test_an_absolute_url_carries_the_script_prefix_once(settings, script_prefix):
    settings.BATCHWATCH_BASE_URL = "https://example.com/bw"
    assert path_for("web:job", 7) == "/bw/jobs/7/"
    assert absolute_url("web:job", 7) == "https://example.com/bw/jobs/7/"


def test_an_unknown_view_is_an_error():
    with pytest.raises(NoReverseMatch):
        absolute_url("web:nothing")


def _named_routes():
    """Every view name of the URLconf (namespaced), with how many arguments its route takes."""
    resolver = get_resolver()

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, inner)
            elif pattern.name:
                yield f"{namespace}{pattern.name}", len(pattern.pattern.regex.groupindex)

    return sorted(set(walk(resolver.url_patterns, "")))


def test_the_shortcut_for_no_argument_or_one_id_equals_reverse(script_prefix):
    """path_for reverses a route once and reuses its text around the id: for every named
    route of no argument or of one, the paths equal reverse()'s, prefix included."""
    checked = 0
    for prefix in ("/", "/bw/"):
        set_script_prefix(prefix)
        for viewname, arity in _named_routes():
            ones = ([0], [7], [123456], ["ledger"], ["Risk_team-2"], ["a b"], ["é"])
            for args in ones if arity == 1 else ([],) if arity == 0 else ():
                try:
                    expected = reverse(viewname, args=args, query={"a": "b c"})
                except Exception as refused:  # (say, a format-suffix route given a number)
                    with pytest.raises(type(refused)):
                        path_for(viewname, *args, query={"a": "b c"})
                    continue
                assert path_for(viewname, *args, query={"a": "b c"}) == expected
                assert path_for(viewname, *args) == expected.partition("?")[0]
                checked += 1
    assert checked > 40


def test_only_a_slug_route_reuses_its_text_for_slugs():
    assert path_for("web:team", "risk-2_b") == "/teams/risk-2_b/"
    assert path_for("web:rotation", "Ledger") == "/rotations/Ledger/"
    with pytest.raises(NoReverseMatch):
        path_for("web:team", "a b")  # (not a slug: reverse() answers, and refuses it)
    with pytest.raises(NoReverseMatch):
        path_for("web:job", "ledger")  # (the route takes a number)


def test_a_negative_or_non_integer_argument_goes_through_reverse():
    with pytest.raises(NoReverseMatch):
        path_for("web:job", -1)
    with pytest.raises(NoReverseMatch):
        path_for("web:job", True)


@pytest.mark.parametrize("prefix", ["/", "/bw/"])
def test_urls_by_id_equal_absolute_url(settings, prefix):
    """The ledger's links in bulk: the same URLs as absolute_url, text ids quoted by it."""
    settings.BATCHWATCH_BASE_URL = "https://example.com/bw"
    set_script_prefix(prefix)
    try:
        job, trace = absolute_urls_by_id("web:job"), absolute_urls_by_id("trace")
        for pk in (0, 7, 123456789):
            assert job(pk) == absolute_url("web:job", pk)
        for trace_id in ("4bf92f3577b34da6a3ce929d0e0e4736", "a b", "é"):
            assert trace(trace_id) == absolute_url("trace", trace_id)
        with pytest.raises(NoReverseMatch):
            job("abc")  # (the route takes a number: reverse() answers)
        with pytest.raises(NoReverseMatch):
            job(-1)
        with pytest.raises(NoReverseMatch):
            trace("a/b")
    finally:
        set_script_prefix("/")


@pytest.mark.parametrize("prefix", ["/", "/bw/"])
def test_paths_by_id_equal_path_for(script_prefix, prefix):
    """The health grid's links in bulk: the same paths as path_for, prefix included."""
    set_script_prefix(prefix)
    run = paths_by_id("web:run")
    for pk in (0, 7, 123456789):
        assert run(pk) == path_for("web:run", pk)
    with pytest.raises(NoReverseMatch):
        run(-1)  # (reverse() answers, and refuses it)

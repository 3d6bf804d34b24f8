from django.core.management import call_command

from batchwatch.catalog.models import Engine, Job, JobDependency


def test_demo_catalog_covers_every_engine_and_is_idempotent(db, capsys):
    call_command("load_demo")
    first = set(Job.objects.values_list("key", "owner_team__slug", "schedule_cron"))
    edges = JobDependency.objects.count()
    call_command("load_demo")
    assert set(Job.objects.values_list("key", "owner_team__slug", "schedule_cron")) == first
    assert JobDependency.objects.count() == edges > 10
    assert set(Job.objects.values_list("engine", flat=True)) == set(Engine.values)
    assert 20 <= Job.objects.count() <= 30
    out = capsys.readouterr().out
    assert "Log in at http://127.0.0.1:8000/login/ as 'admin'" in out


def test_demo_refuses_production_without_force(db, settings):
    import pytest
    from django.core.management import CommandError

    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="Refusing to load demo"):
        call_command("load_demo")

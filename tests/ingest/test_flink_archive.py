"""``import_flink_archive``: finished Flink jobs from their archives on disk, the job
manager's archive files and a history server's web directory, read by the same code as a
poll (restarts from the RESTARTING transition, checkpointing disabled as Flink refused it)."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from batchwatch.runs.models import Run
from tests.ingest.test_flink_facts import CAPTURED, END_MS, JID, PYTHON_TRACE, SPECIFIC, START_MS


def documents() -> dict[str, object]:
    overview = json.loads(json.dumps(CAPTURED["/jobs/overview"]["body"]))
    [job] = overview["jobs"]
    job.update({"state": "FAILED", "end-time": END_MS})
    refusal = {"errors": [f"Checkpointing is not enabled for this job ({JID})."]}
    timestamps = {"RUNNING": START_MS, "RESTARTING": START_MS + 9}
    return {
        "/jobs/overview": overview,
        f"/jobs/{JID}": {"jid": JID, "timestamps": timestamps},
        f"/jobs/{JID}/exceptions": {"root-exception": PYTHON_TRACE},
        f"/jobs/{JID}/checkpoints/config": refusal,
    }  # fmt: skip


def archive_file(directory):
    archive = {"archive": [{"path": p, "json": json.dumps(d)} for p, d in documents().items()]}
    path = directory / JID
    path.write_text(json.dumps(archive))
    return path


def assert_recorded():
    run = Run.objects.select_related("job").get()
    assert run.job.key == "flink:batch/realclients-flink-groupby"
    assert (run.state, run.failure_reason) == ("failed", SPECIFIC)
    assert run.attributes["restarts"] == 1
    assert run.attributes["checkpointing"] == "disabled"
    assert run.duration_seconds == (END_MS - 1795317901149) / 1000


@pytest.mark.django_db
def test_the_job_managers_archive_files(tmp_path, capsys):
    archive_file(tmp_path)
    (tmp_path / ".crc").write_text("x")  # hidden files are not archives
    call_command("import_flink_archive", str(tmp_path), "--namespace", "batch")
    assert_recorded()
    assert "recorded 1 Flink job(s): realclients-flink-groupby=failed" in capsys.readouterr().out
    call_command("import_flink_archive", str(tmp_path / JID), "--namespace", "batch")
    assert Run.objects.count() == 1  # again: the same run


@pytest.mark.django_db
def test_a_history_servers_web_directory(tmp_path):
    for rest, document in documents().items():
        file = tmp_path / f"{rest.lstrip('/')}.json"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(document))
    call_command("import_flink_archive", str(tmp_path), "--namespace", "batch")
    assert_recorded()


@pytest.mark.django_db
def test_a_file_that_is_not_an_archive_is_named_and_the_rest_imported(tmp_path, capsys):
    archive_file(tmp_path)
    (tmp_path / "notes").write_text("hello")
    with pytest.raises(CommandError, match="1 archive\\(s\\) could not be read"):
        call_command("import_flink_archive", str(tmp_path), "--namespace", "batch")
    assert "notes: skipped" in capsys.readouterr().err
    assert_recorded()


def test_a_missing_path_is_exit_2(tmp_path):
    with pytest.raises(CommandError, match="does not exist") as err:
        call_command("import_flink_archive", str(tmp_path / "nope"))
    assert err.value.returncode == 2

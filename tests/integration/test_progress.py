# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live progress (docs/progress.md): migrate.yml's output, read line by line as it arrives, shows how far 005 and
the backup before it are while they run, not after.

The database: 20,000 chunks of sample data, 005's batches held to at most 200 rows with 200 ms between them
(its own settings, set on the database: ``migration_005.batch_size`` and ``batch_pause``) so that 005 takes
25 s or more whatever the machine; and a 290 MB table of md5 text, backed up with gzip level 9 (the role's
``backup_compression``, about 30 MB/s on one core), so that the backup's pg_dump runs several seconds.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
import time

import pytest

from support.database import superuser_connection
from support.paths import REPO
from support.playbooks import MIGRATE_PLAYBOOK, REPORT_DIR, staging_inventory

pytestmark = pytest.mark.legacy_chunks(20000)

PROGRESS = re.compile(r"^knowledgehub progress \[kh-staging\] (\w+): (.*)$")
TASK = re.compile(r"^TASK \[(.*)\]")
END = re.compile(r"^(ok|changed|fatal|failed): \[kh-staging\]")


def timed_playbook(inventory: str, *args: str) -> tuple[int, list[tuple[float, str]]]:
    """ansible-playbook migrate.yml on a terminal (a pty, as an operator's shell and as ansible-runner under AWX
    run it), its output read as it arrives: (exit code, [(seconds since start, line)])."""
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
               "-e", "report_dir=%s" % REPORT_DIR, MIGRATE_PLAYBOOK, *args]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    env.pop("PYTHONUNBUFFERED", None)  # no help from outside: the lines come as a terminal gets them
    lines: list[tuple[float, str]] = []
    started = time.monotonic()
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=REPO, env=env)
    os.close(slave)

    def read() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the playbook ended and closed the terminal
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            now = time.monotonic() - started
            lines.extend((now, raw.decode("utf-8", "replace").rstrip("\r")) for raw in complete)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(30)
        os.close(master)
    return proc.returncode, lines


def task_lines(lines: list[tuple[float, str]], name: str) -> tuple[list[tuple[float, str]], float]:
    """The lines printed while the task named ``name`` ran (between its header and its result line), and the time
    of its result line (the task's end)."""
    start = next(i for i, (_at, line) in enumerate(lines) if TASK.match(line) and name in line)
    for i in range(start + 1, len(lines)):
        if END.match(lines[i][1]):
            return lines[start + 1:i], lines[i][0]
        assert not TASK.match(lines[i][1]), "task %r printed no result line" % name
    raise AssertionError("task %r has no end in the output" % name)


def numbers(text: str) -> tuple[float, str] | None:
    """The figure of a progress line: (done, unit), e.g. (12000.0, 'chunks') or (27.5e6, 'bytes')."""
    match = re.search(r": ([\d,]+)/[\d,]+ (\w+) \(\d+%\)", text)
    if match:
        return float(match.group(1).replace(",", "")), match.group(2)
    match = re.search(r": ([\d.]+) (B|kB|MB|GB) of about", text)
    if match:
        scale = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[match.group(2)]
        return float(match.group(1)) * scale, "bytes"
    return None


@pytest.fixture
def big_db(legacy_db):
    """The legacy database, 005 slowed to its smallest batches with a pause, and 290 MB more to back up."""
    db = legacy_db
    conn = superuser_connection(db.pg, db.name)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('ALTER DATABASE "%s" SET migration_005.batch_size = 200' % db.name)
            cur.execute('ALTER DATABASE "%s" SET migration_005.batch_pause = 200' % db.name)
            cur.execute("SET ROLE knowledgehub")
            cur.execute("CREATE TABLE attachments_archive (id int PRIMARY KEY, body text)")
            cur.execute("ALTER TABLE attachments_archive ALTER body SET STORAGE EXTERNAL")
            cur.execute("INSERT INTO attachments_archive SELECT r, string_agg(md5(random()::text), '') "
                        "FROM generate_series(1, 1000) g, generate_series(1, 9000) r GROUP BY r")
    finally:
        conn.close()
    return db


@pytest.fixture
def inventory(tmp_path, big_db):
    return str(staging_inventory(tmp_path, big_db))


def test_progress_of_005_and_of_the_backup_appears_while_they_run(inventory, big_db):
    rc, lines = timed_playbook(inventory, "-l", "staging", "-e", "knowledgehub_progress_interval=2",
                               "-e", "backup_compression=9")
    output = "\n".join(line for _at, line in lines)
    assert rc == 0, output[-4000:]
    assert big_db.pg.app_password not in output

    # 005, in the data phase: several lines, the batches' rows counting up, all before the task's end
    during, end = task_lines(lines, "Apply pending migrations under the ledger, phase data")
    of_005 = [(at, m.group(2)) for at, line in during for m in [PROGRESS.match(line)]
              if m and m.group(1) == "pg_migrate" and "005_data_migration.sql" in m.group(2)]
    rows = [(at, numbers(text)) for at, text in of_005 if numbers(text) and numbers(text)[1] != "statements"]
    assert len(rows) >= 3, "progress lines of 005 while it ran:\n%s" % "\n".join(text for _at, text in of_005)
    by_unit: dict[str, list[float]] = {}
    for _at, (done, unit) in rows:
        by_unit.setdefault(unit, []).append(done)
    assert any(len(v) >= 2 and v == sorted(v) and v[-1] > v[0] for v in by_unit.values()), by_unit
    assert all(at < end for at, _figure in rows)
    assert rows[0][0] < end - 5, "the first line of 005 came at %.1f s, the task ended at %.1f s" % (rows[0][0], end)
    assert all(re.search(r"step \d+:\d\d", text) and re.search(r"task \d+:\d\d", text) for _at, text in of_005)
    assert any("left" in text for _at, text in of_005), "no estimate in:\n%s" % "\n".join(text for _at, text in of_005)

    # the backup of the recovery point "before": pg_dump's bytes counting up, before the task's end
    during, end = task_lines(lines, "Take a verified backup, purpose before")
    dumped = [(at, numbers(m.group(2))) for at, line in during for m in [PROGRESS.match(line)]
              if m and m.group(1) == "pg_backup" and "pg_dump of" in m.group(2) and numbers(m.group(2))]
    assert dumped, "no pg_dump progress line in:\n%s" % "\n".join(line for _at, line in during)
    assert all(figure[1] == "bytes" and at < end for at, figure in dumped)
    sizes = [figure[0] for _at, figure in dumped]
    assert sizes == sorted(sizes) and sizes[-1] > 0


BACKUP_PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    knowledgehub_progress_interval: 1
  module_defaults:
    knowledgehub.migration.pg_backup:
      login_host: 127.0.0.1
      login_port: {port}
      login_user: knowledgehub
      login_password: "{{{{ app_password }}}}"
      login_db: {db}
      backup_dir: {backups}
      compression: "9"
  tasks:
    - name: Back up with progress
      knowledgehub.migration.pg_backup:
    - name: Back up without progress
      knowledgehub.migration.pg_backup:
      vars:
        knowledgehub_progress_interval: 0
"""


def test_under_ansible_runner_the_lines_are_job_events_before_the_task_ends(db, tmp_path, monkeypatch):
    """AWX runs ansible-playbook through ansible-runner: each progress line is an event of the job, created before
    the task's result; and the module's result is the same with progress as without."""
    ansible_runner = pytest.importorskip("ansible_runner")
    conn = superuser_connection(db.pg, db.name)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET ROLE knowledgehub")
            cur.execute("CREATE TABLE attachments_archive (id int PRIMARY KEY, body text)")
            cur.execute("ALTER TABLE attachments_archive ALTER body SET STORAGE EXTERNAL")
            cur.execute("INSERT INTO attachments_archive SELECT r, string_agg(md5(random()::text), '') "
                        "FROM generate_series(1, 1000) g, generate_series(1, 8000) r GROUP BY r")
    finally:
        conn.close()
    project = tmp_path / "runner" / "project"
    project.mkdir(parents=True)
    (project / "play.yml").write_text(BACKUP_PLAY.format(port=db.pg.port, db=db.name, backups=tmp_path / "backups"))
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    run = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"), playbook="play.yml", quiet=True,
        envvars={"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        extravars={"ansible_connection": "local",
                   "ansible_python_interpreter": sys.executable, "app_password": db.pg.app_password})
    events = list(run.events)
    assert run.rc == 0, "\n".join(e.get("stdout", "") for e in events)[-3000:]
    done = {e["event_data"]["task"]: e for e in events if e["event"] == "runner_on_ok"}
    lines = [(e["created"], e["stdout"]) for e in events if e["event"] == "verbose"
             and e.get("stdout", "").startswith("knowledgehub progress [localhost] pg_backup: ")]
    dumped = [(created, numbers(text)) for created, text in lines if "pg_dump of" in text and numbers(text)]
    assert len(dumped) >= 2, "\n".join(text for _created, text in lines)
    assert all(created < done["Back up with progress"]["created"] for created, _figure in dumped)
    sizes = [figure[0] for _created, figure in dumped]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    # the second task printed nothing, and both tasks returned the same keys (no async or progress leftovers)
    assert all(created < done["Back up with progress"]["created"] for created, _text in lines)
    with_progress = done["Back up with progress"]["event_data"]["res"]
    without = done["Back up without progress"]["event_data"]["res"]
    assert sorted(with_progress) == sorted(without)
    assert with_progress["manifest_data"]["verification"] == dict(
        without["manifest_data"]["verification"], pg_dump_stderr=with_progress["manifest_data"]["verification"][
            "pg_dump_stderr"])
    assert db.pg.app_password not in "\n".join(e.get("stdout", "") for e in events)

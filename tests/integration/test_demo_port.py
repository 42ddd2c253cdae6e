# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo` as a developer runs it on a machine where 127.0.0.1:5433 is taken: DEMO_PORT picks the port.

The demo is run through the Makefile (its venv and collection link already there), with few chunks and its
PostgreSQL files in a directory of the test's own (DEMO_PG_DIR): a demo the developer runs on 5433, its files
in /tmp/knowledgehub-demo-5433 and its state in .demo/, is never stopped or touched. A demo on another port
keeps its passfile and backups in .demo/port-<port>/, which the test removes afterwards.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pgsandbox  # tools/
import psycopg2
import pytest

from support.paths import REPO
from support.playbooks import recap

DEMO_STATE = os.path.join(REPO, ".demo")
DEFAULT_PORT = 5433


def make_demo(home: str, *variables: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``make demo VAR=value ...`` from the repository, stdout and stderr together. The outer make's flags
    (when pytest runs under `make pytest`) are not passed on; HOME is the test's, so the Migration Log the
    playbook copies to the controller (~/knowledgehub-reports) stays out of the tester's home."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "DEMO_PORT", "DEMO_PG_DIR")}
    env.update(HOME=home, NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(["make", "--no-print-directory", "demo", *variables], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          check=False)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def listen(port: int) -> socket.socket | None:
    """A listening socket on 127.0.0.1:port, or None when something else holds the port already."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(8)
    except OSError:
        sock.close()
        return None
    return sock


@pytest.fixture
def default_port_taken():
    """127.0.0.1:5433 taken: by a socket of the test, or by whatever already listens there."""
    sock = listen(DEFAULT_PORT)
    assert listening(DEFAULT_PORT)
    yield DEFAULT_PORT
    if sock is not None:
        sock.close()


@pytest.fixture
def pg_dir():
    """DEMO_PG_DIR: a directory of the test's own under the temporary directory (the postgres user, which runs
    the server when the tests run as root, can enter it; pytest's tmp_path it cannot)."""
    path = tempfile.mkdtemp(prefix="kh-test-demo-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def free_demo_port() -> int:
    """A free port whose .demo/port-<port>/ does not exist (state the test would otherwise remove)."""
    while True:
        port = pgsandbox.free_port()
        if port != DEFAULT_PORT and not os.path.exists(os.path.join(DEMO_STATE, "port-%d" % port)):
            return port


def tree_digest(path: str) -> str:
    """What a directory holds, port-* aside (names, sizes, mtimes; nothing when it does not exist): the default
    demo's state must not change."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("port-"))
        for name in sorted(files):
            full = os.path.join(root, name)
            stat = os.stat(full)
            digest.update(("%s %d %d\n" % (os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns)).encode())
    return digest.hexdigest()


def test_demo_on_a_port_of_choice_while_5433_is_taken(default_port_taken, pg_dir, tmp_path):
    port = free_demo_port()
    state = os.path.join(DEMO_STATE, "port-%d" % port)
    default_state = tree_digest(DEMO_STATE)
    try:
        started = time.monotonic()
        proc = make_demo(str(tmp_path), "DEMO_PORT=%d" % port, "CHUNKS=2000", "DEMO_PG_DIR=%s" % pg_dir)
        elapsed = time.monotonic() - started
        out = proc.stdout
        assert proc.returncode == 0, out[-4000:]
        assert recap(out, "localhost")["failed"] == 0
        print("make demo DEMO_PORT=%d CHUNKS=2000: %.1f s" % (port, elapsed))

        # The ledger of the database on the chosen port, read with the demo's own passfile.
        passfile = os.path.join(state, "pgpass")
        assert os.stat(passfile).st_mode & 0o777 == 0o600
        with open(passfile, encoding="utf-8") as handle:
            assert handle.read().startswith("127.0.0.1:%d:knowledgehub:knowledgehub:" % port)
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="knowledgehub", dbname="knowledgehub",
                                passfile=passfile)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT version, status FROM migration_log ORDER BY id")
                ledger = cur.fetchall()
        finally:
            conn.close()
        assert ledger == [("001", "baseline"), ("002", "baseline"), ("003", "baseline"),
                          ("004", "applied"), ("005", "applied"), ("006", "applied")]

        # Backups and recovery points in the port's own directory; the default demo's .demo/ as it was.
        assert any(name.endswith(".dump") for name in os.listdir(os.path.join(state, "backups")))
        assert tree_digest(DEMO_STATE) == default_state

        # Everything the demo prints names the chosen port, none the default.
        assert "== starting a throwaway PostgreSQL 15 on 127.0.0.1:%d\n" % port in out
        assert "ansible-playbook playbooks/migrate.yml -i inventories/local -e target_env=demo -e login_port=%d\n" \
            % port in out
        done = out[out.index("== done."):]
        assert "PGPASSFILE=%s psql -h 127.0.0.1 -p %d " % (passfile, port) in done
        assert 'tools/pgsandbox.py stop --dir "%s"' % pg_dir in done
        assert not re.search(r"(?<!\d)%d(?!\d)" % DEFAULT_PORT, done.replace(pg_dir, "")), done

        # The rerun command as printed reaches the same database and applies nothing.
        rerun = re.search(r"rerun the playbook \(it changes nothing\):\s+(.*)$", done, re.MULTILINE).group(1)
        assert "login_port=%d" % port in rerun
        env = dict(os.environ, HOME=str(tmp_path), ANSIBLE_NOCOLOR="1")
        env.pop("PGPASSFILE", None)
        again = subprocess.run(rerun, shell=True, cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=600, check=False)
        assert again.returncode == 0, again.stdout[-4000:]
        assert recap(again.stdout, "localhost")["changed"] == 0, again.stdout[-4000:]
    finally:
        subprocess.run([sys.executable, os.path.join(REPO, "tools", "pgsandbox.py"), "destroy", "--dir", pg_dir],
                       capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
    assert not listening(port)


@pytest.mark.parametrize("which", ["default", "chosen"])
def test_demo_refuses_a_taken_port_and_names_demo_port(which, default_port_taken, pg_dir, tmp_path):
    holder = None
    if which == "default":
        port, variables = default_port_taken, []
    else:
        port = free_demo_port()
        holder = listen(port)
        assert holder is not None
        variables = ["DEMO_PORT=%d" % port]
    try:
        started = time.monotonic()
        proc = make_demo(str(tmp_path), *variables, "CHUNKS=2000", "DEMO_PG_DIR=%s" % pg_dir, timeout=120)
        elapsed = time.monotonic() - started
    finally:
        if holder is not None:
            holder.close()
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert ("demo: something else already listens on 127.0.0.1:%d; choose another port with "
            "make demo DEMO_PORT=<free port>" % port) in proc.stdout
    # Fast, and nothing started or created: no cluster in DEMO_PG_DIR, no state directory for the port.
    assert elapsed < 60
    assert os.listdir(pg_dir) == []
    assert not os.path.exists(os.path.join(DEMO_STATE, "port-%d" % port))


def test_demo_refuses_a_port_that_is_no_port(pg_dir, tmp_path):
    for bad in ("abc", "0", "65536", "05544"):
        proc = make_demo(str(tmp_path), "DEMO_PORT=%s" % bad, "DEMO_PG_DIR=%s" % pg_dir, timeout=120)
        assert proc.returncode == 2, proc.stdout[-3000:]
        assert "demo: DEMO_PORT must be a TCP port number (1-65535), got '%s'" % bad in proc.stdout
    assert os.listdir(pg_dir) == []

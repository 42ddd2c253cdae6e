# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A compose volume put back from a compose_backup archive, in steps that a kill cannot leave half done.

The content is replaced inside the volume by renames, so it is never copied twice and the
old content is kept, whole, beside the new one: ``.kh-pre-restore-<token>`` at the volume's
top (compose_backup leaves ``.kh-*`` out of its archives). Each step runs in a one-off
container of the service (``docker compose run --rm --no-deps``, the volume mounted where
the service has it) under an flock in the volume, so a container that outlives a killed
run finishes its step before the next run begins one. Every step is idempotent:

* ``extract``: the archive (on stdin) into ``.kh-restore-<token>.new``, synced, then
  renamed ``.ready``: a ``.ready`` directory is a complete extraction. It runs before the
  services are stopped (the server never looks at a hidden directory), so it costs no downtime.
* ``swap``: the current entries into ``.kh-restore-<token>.moving-out``, renamed to the
  kept name once all are there, then the entries of ``.ready`` to the top. PostgreSQL's
  ``global`` and ``PG_VERSION`` go out first and come in last: in between, no server can
  start on the volume (the entrypoint's initdb refuses a directory that is not empty).
* ``undo``: back to the old content from any point of ``swap`` (the new entries go to
  ``.rejecting`` then ``.rejected``, the kept ones come back), staging removed.
* ``drop``: the kept content removed (only with drop_previous).

Before each step the journal in the backup directory says which one it is (``_files_restore_checks``).
The next run settles it: a kill before ``swap`` is undone, one during ``swap`` finished; then
the services that were running are started again (and if the database does not come up on
the new content, the old one is put back). A failure that the run sees is undone at once and
the services are started again on the old content.
"""

from __future__ import annotations

import os
import time
from typing import IO, Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    df_available,
    space_verdict,
    utcnow,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import (
    ComposeError,
    Project,
    dependents,
    healthchecked,
    volume_mount,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore_checks import (
    OWN_PREFIX,
    RestoreError,
    check_project,
    clear_journal,
    journal_path,
    new_token,
    same_dir,
    write_journal,
)

KEPT_PREFIX = OWN_PREFIX + "pre-restore-"
# Steps a killed run may have been at, and what settles each: undo it (old content), finish it (new content).
UNDONE_BY_SETTLE = ("extracting", "stopping", "undoing")

SCRIPT = r'''set -eu
mode=$1 root=$2 token=$3
cd "$root"
new=.kh-restore-$token.new ready=.kh-restore-$token.ready out=.kh-restore-$token.moving-out
kept=.kh-pre-restore-$token bad=.kh-restore-$token.rejecting rejected=.kh-restore-$token.rejected
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
present() { [ -e "$1" ] || [ -L "$1" ]; }
private() { mkdir -p "$1"; chmod 700 "$1"; chown "$(stat -c %u:%g .)" "$1" 2>/dev/null || true; }
mv1() { mv -nT "$1" "$2"; if present "$1"; then die "cannot move $1 to $2: it exists"; fi; }
move() {
    if [ "$3" = first ]; then
        for n in global PG_VERSION; do if present "$1/$n"; then mv1 "$1/$n" "$2/$n"; fi; done
    fi
    for p in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        if ! present "$p"; then continue; fi
        n=${p##*/}
        case $n in
            .kh-*) continue ;;
            global|PG_VERSION) if [ "$3" = last ]; then continue; fi ;;
        esac
        mv1 "$p" "$2/$n"
    done
    if [ "$3" = last ]; then
        for n in PG_VERSION global; do if present "$1/$n"; then mv1 "$1/$n" "$2/$n"; fi; done
    fi
}
if [ "$mode" = inspect ]; then
    df -P -k . | tail -n 1
    printf 'pg_version=%s\n' "$(cat PG_VERSION 2>/dev/null || true)"
    for p in ./.kh-*; do if present "$p"; then printf 'own=%s\n' "${p#./}"; fi; done
    exit 0
fi
case $token in *[!0-9TZ_]*|'') die "bad token $token" ;; esac
command -v flock >/dev/null || die "flock is not in the service's image"
exec 9>>.kh-restore.lock
flock -w 900 9 || die "another restore holds $root/.kh-restore.lock"
case $mode in
extract)
    rm -rf "$new" "$ready"
    private "$new"
    tar --numeric-owner -x ${4:+-z} -f - -C "$new"
    sync
    mv -T "$new" "$ready"
    sync
    printf 'pg_version=%s\n' "$(cat "$ready/PG_VERSION" 2>/dev/null || true)" ;;
swap)
    if [ -d "$ready" ] && [ ! -d "$kept" ]; then
        private "$out"
        move . "$out" first
        sync
        mv -T "$out" "$kept"
    fi
    [ -d "$kept" ] || die "neither $ready nor $kept is in $root: nothing to swap"
    if [ -d "$ready" ]; then
        move "$ready" . last
        rmdir "$ready"
    fi
    sync
    echo swapped ;;
undo)
    if [ -d "$out" ]; then
        move "$out" . last
        rmdir "$out"
    elif [ -d "$kept" ]; then
        if [ ! -d "$rejected" ]; then
            private "$bad"
            move . "$bad" first
            sync
            mv -T "$bad" "$rejected"
        fi
        move "$kept" . last
        rmdir "$kept"
    fi
    sync
    rm -rf "$new" "$ready" "$bad" "$rejected"
    sync
    echo undone ;;
drop)
    rm -rf "$kept"
    sync
    echo dropped ;;
*) die "unknown step $mode" ;;
esac
'''


def parse_inspect(text: str) -> dict[str, Any]:
    """The ``inspect`` step's output: free bytes (df -P -k), the volume's PG_VERSION, this tool's own entries."""
    facts: dict[str, Any] = {"free_bytes": None, "pg_version": None, "own": []}
    for line in text.splitlines():
        if line.startswith("pg_version="):
            facts["pg_version"] = line.split("=", 1)[1].strip() or None
        elif line.startswith("own="):
            facts["own"].append(line.split("=", 1)[1])
        elif facts["free_bytes"] is None:
            facts["free_bytes"] = df_available(line)
    return facts


class VolumeSteps:
    """The volume restore of one run: ``plan`` (the project, the volume, the checks), ``apply`` (stop, extract,
    swap, start, each journaled), and ``settle`` (what a killed run left)."""

    def __init__(self, params: dict[str, Any], backup_dir: str, result: dict[str, Any]) -> None:
        self.p = params
        self.backup_dir = backup_dir
        self.result = result
        self.project = Project.from_params(params)
        self.service = params.get("db_service") or "db"
        self.journal: dict[str, Any] = {}
        self.checked: list[str] = []  # services with a healthcheck: started means healthy

    # -- the steps in the volume ------------------------------------------------------------------

    def step(self, mode: str, target: str, token: str, up: bool = False, stdin: IO[bytes] | None = None,
             gz: bool = False, timeout: float = 900) -> str:
        """Run one step of ``SCRIPT`` in a one-off container of the service (or in the service with ``up``)."""
        head = ["exec", "-T", self.service, "sh"] if up else \
            ["run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", self.service]
        done = self.project.run(*(head + ["-c", SCRIPT, "kh-restore", mode, target, token] + (["z"] if gz else [])),
                                timeout=timeout, stdin=stdin, check=False)
        if done.rc != 0:
            raise RestoreError("The %s step in volume %s (a container of service %s) failed (exit %d): %s"
                               % (mode, target, self.service, done.rc, done.stderr.strip()[-1500:] or "no message"))
        return done.stdout

    def _timeout(self, name: str, default: int) -> int:
        return int(self.p.get(name) or default)

    def start(self, j: dict[str, Any]) -> dict[str, float]:
        """The services of the journal that were running, started again in order, each waited for (healthy)."""
        return self.project.start_again(self.service, j["others"], j["running"], self._timeout("ready_timeout", 120),
                                        self.checked)

    # -- the plan -----------------------------------------------------------------------------------

    def plan(self, manifest: dict[str, Any], scan: dict[str, Any]) -> dict[str, Any]:
        config = self.project.config()
        self.checked = healthchecked(config)
        volume = self.p.get("volume") or manifest["volume"]["volume"]
        mount = volume_mount(config, self.service, volume)
        self.result["project"] = check_project(manifest, self.p["project_dir"], bool(self.p.get("allow_other_project")), {
            "the service": (manifest["service"], self.service), "the volume": (manifest["volume"]["volume"], volume),
            "the volume's engine name": (manifest["volume"]["name"], mount["name"])}, self.result["warnings"])
        given = self.p.get("stop_services")
        others = [s for s in (dependents(config, self.service, volume) if given is None else given) if s != self.service]
        unknown = [s for s in others if s not in (config.get("services") or {})]
        if unknown:
            raise RestoreError("stop_services names services the project does not have: %s. Nothing was changed."
                               % ", ".join(unknown))
        states = {name: self.project.state(name) for name in others + [self.service]}
        running = [name for name in others + [self.service] if states[name]["state"] == "running"]
        facts = parse_inspect(self.step("inspect", mount["target"], "-", up=states[self.service]["state"] == "running",
                                        timeout=300))
        if facts["pg_version"] and scan["pg_version"] and facts["pg_version"] != scan["pg_version"]:
            raise RestoreError("Backup %s holds a PostgreSQL %s data directory, volume %s one of PostgreSQL %s: the "
                               "service's server would not start on it. Nothing was changed."
                               % (manifest["backup_id"], scan["pg_version"], mount["name"], facts["pg_version"]))
        verdict = space_verdict(mount["target"], scan["bytes"], free=facts["free_bytes"] or 0)
        self.result["free_space"] = verdict
        if self.p.get("check_free_space", True) and not verdict["ok"]:
            raise RestoreError("Not enough free space in volume %s for the restore: %s (the old content stays in the "
                               "volume, kept). Free space there; nothing was changed."
                               % (mount["name"], verdict["summary"]), {"free_space": verdict})
        token = new_token(facts["own"])
        kept = [n for n in facts["own"] if n.startswith(KEPT_PREFIX)]
        if kept:
            self.result["warnings"].append(
                "Volume %s holds the content that %d earlier restore(s) replaced, kept: %s. Remove what you no longer "
                "need with `%s`." % (mount["name"], len(kept), ", ".join(kept), " ".join(self.project.argv(
                    "run", "--rm", "--no-deps", "--entrypoint", "rm", self.service, "-rf",
                    os.path.join(mount["target"], kept[0])))))
        self.journal = {"kind": "volume", "token": token, "backup_id": manifest["backup_id"],
                        "project_dir": self.p["project_dir"], "service": self.service, "volume": mount,
                        "others": others, "running": running, "drop_previous": bool(self.p.get("drop_previous")),
                        "pid": os.getpid(), "since": utcnow().isoformat(timespec="seconds")}
        self.result.update(volume=mount, would_stop=running, pg_version=scan["pg_version"], kept_contents=kept,
                           previous_content={"volume": mount["name"], "name": KEPT_PREFIX + token,
                                             "path": os.path.join(mount["target"], KEPT_PREFIX + token)})
        return self.result

    # -- the restore ----------------------------------------------------------------------------------

    def apply(self, archive: str, gz: bool, manifest: dict[str, Any]) -> dict[str, Any]:
        j = self.journal
        target, token, others, running = j["volume"]["target"], j["token"], j["others"], j["running"]
        timing: dict[str, int] = {}
        started = time.monotonic()
        try:
            write_journal(self.backup_dir, j, "extracting")
            mark = time.monotonic()
            with open(archive, "rb") as handle:  # beside the live content, the services still running
                out = self.step("extract", target, token, stdin=handle, gz=gz,
                                timeout=self._timeout("archive_timeout", 3600))
            timing["extract"] = int((time.monotonic() - mark) * 1000)
            got = parse_inspect(out)["pg_version"]
            if got != self.result.get("pg_version"):
                raise RestoreError("The extracted content's PG_VERSION is %r, the archive's %r." % (
                    got, self.result.get("pg_version")))
            write_journal(self.backup_dir, j, "stopping")
            started = time.monotonic()
            self.project.stop_first(self.service, others, running, self._timeout("stop_timeout", 60))
            timing["stop"] = int((time.monotonic() - started) * 1000)
            if self.project.state(self.service)["state"] == "running":
                raise RestoreError("Service %s is still running after `docker compose stop`." % self.service)
            write_journal(self.backup_dir, j, "swapping")
            mark = time.monotonic()
            self.step("swap", target, token)
            timing["swap"] = int((time.monotonic() - mark) * 1000)
            write_journal(self.backup_dir, j, "starting")
        except BaseException as exc:  # pylint: disable=broad-except  # whatever it is, the old content goes back
            self.back_to_old(exc)
        marks = self._start_on_new()
        timing["downtime"] = int((marks["service"] - started) * 1000) if self.service in running else 0
        timing["application_downtime"] = int((marks["all"] - started) * 1000)
        if self.service not in running:
            self.result["warnings"].append("Service %s was not running before the restore, so it was not started: "
                                           "the restored content is untried." % self.service)
        self.result.update(changed=True, stopped_services=running, started_services=running,
                           downtime_ms=timing["downtime"], durations_ms=timing)
        self.finish(j)
        return self.result

    def _start_on_new(self) -> dict[str, float]:
        """The services started on the restored content; if they do not come up, the old content goes back."""
        j = self.journal
        try:
            return self.start(j)
        except Failure as exc:
            self.back_to_old(exc, "did not come up on the restored content")
        raise AssertionError("unreachable")  # pragma: no cover - back_to_old always raises

    def finish(self, j: dict[str, Any]) -> None:
        """The kept content dropped when asked (journaled: a kill during it is finished by the next run); the
        journal cleared."""
        if j.get("drop_previous"):
            write_journal(self.backup_dir, j, "dropping")
            self.step("drop", j["volume"]["target"], j["token"])
            self.result["previous_content"] = None
            self.result["dropped_previous"] = True
        clear_journal(self.backup_dir)

    def back_to_old(self, error: BaseException, how: str = "failed") -> None:
        """After a failure: the services stopped, the old content put back, the services started again on it; then
        the failure, saying so. Never returns."""
        j = self.journal
        why = (error.message if isinstance(error, Failure) else first_line(error)).rstrip(".")
        what = "The restore of volume %s from backup %s %s: %s." % (j["volume"]["name"], j["backup_id"], how, why)
        stopped = j["step"] != "extracting"
        try:
            self.to_old(j, stopped)
        except Failure as exc:
            raise RestoreError("%s Putting the old content back failed too: %s. The services stay stopped and the "
                               "journal %s says where it stopped: run compose_restore again with this backup_dir and "
                               "project; it settles the journal first." % (what, exc.message,
                                                                           journal_path(self.backup_dir))) from None
        try:
            self.start(j)
        except Failure as exc:
            raise RestoreError("%s The old content was put back, but the services did not all come back: %s"
                               % (what, exc.message)) from None
        clear_journal(self.backup_dir)
        if not stopped:
            raise RestoreError("%s The volume's content was not touched (what was extracted beside it was removed) and "
                               "the services were not stopped." % what, {"volume": j["volume"]}) from None
        raise RestoreError("%s The old content was put back and the services that were running (%s) were started "
                           "again on it; nothing was lost." % (what, ", ".join(j["running"]) or "none"),
                           {"volume": j["volume"]}) from None

    def to_old(self, j: dict[str, Any], stop: bool = True) -> None:
        """The old content back in place (``undo``), journaled; the services stopped first unless the content was
        never touched (``stop`` false: only what was extracted beside it is removed)."""
        write_journal(self.backup_dir, j, "undoing" if stop else "extracting")
        if stop:
            self.project.stop_first(self.service, j["others"], j["others"] + [self.service],
                                    self._timeout("stop_timeout", 60))
        self.step("undo", j["volume"]["target"], j["token"])
        write_journal(self.backup_dir, j, "undone")

    # -- what a killed run left ----------------------------------------------------------------------

    def settle(self, j: dict[str, Any], check_mode: bool) -> dict[str, Any]:
        """Finish or undo the step of a killed run (see the module's docstring), then start its services again."""
        if not same_dir(j["project_dir"], self.p["project_dir"]) or j["service"] != self.service:
            raise RestoreError("The journal %s is of an interrupted restore of service %s in project %s: settle it "
                               "first by running compose_restore with that project_dir and db_service. Nothing was "
                               "changed." % (journal_path(self.backup_dir), j["service"], j["project_dir"]))
        config = self.project.config()
        self.checked = healthchecked(config)
        mount = volume_mount(config, self.service, j["volume"]["volume"])
        j = dict(j, volume=mount)
        self.journal = j
        step = j["step"]
        entry = {"backup_id": j["backup_id"], "kind": "volume", "step": step, "since": j.get("since"),
                 "left_by_pid": j.get("pid"), "previous_content": {
                     "volume": mount["name"], "name": KEPT_PREFIX + j["token"],
                     "path": os.path.join(mount["target"], KEPT_PREFIX + j["token"])}}
        finish = step in ("swapping", "starting", "dropping")
        entry["outcome"] = "restored" if finish else "undone"
        if check_mode:
            entry["would"] = ("finish putting back backup %s" if finish else "undo the restore of backup %s") % \
                j["backup_id"] + ", then start %s" % (", ".join(j["running"]) or "nothing")
            return entry
        if step in UNDONE_BY_SETTLE:
            self.to_old(j, stop=step != "extracting")
        elif step == "swapping":
            self.project.stop_first(self.service, j["others"], j["others"] + [self.service],
                                    self._timeout("stop_timeout", 60))
            try:
                self.step("swap", mount["target"], j["token"])
                write_journal(self.backup_dir, j, "starting")
            except Failure as exc:
                entry.update(outcome="undone", why=exc.message)
                self.to_old(j)
        try:
            self.start(j)
        except ComposeError as exc:
            if entry["outcome"] != "restored":
                raise RestoreError("Settling the interrupted restore of backup %s put the old content back, but the "
                                   "services did not all come back: %s" % (j["backup_id"], exc.message)) from None
            entry.update(outcome="undone", why=exc.message)
            self.to_old(j)
            self.start(j)
        if entry["outcome"] == "restored" and j.get("drop_previous"):
            write_journal(self.backup_dir, j, "dropping")
            self.step("drop", mount["target"], j["token"])
            entry["previous_content"] = None
        clear_journal(self.backup_dir)
        return entry

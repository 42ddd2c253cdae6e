# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adversarial suite's account: cases tried and held, per class (a pytest plugin).

Every test under tests/adversarial/ is one case of hostile or unlucky use (bad input,
a kill at a step that changes a database's state, hostile names, secrets looked for on
disk and in output). Its file is its class. At the end of the session the terminal
summary says, per class and in all, how many cases were tried and how many held; a case
that broke is named.
"""

from __future__ import annotations

import os
from collections import defaultdict

_ADVERSARIAL = os.sep + "adversarial" + os.sep
_OUTCOMES: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"held": [], "broke": []})


def pytest_runtest_logreport(report) -> None:
    if _ADVERSARIAL not in os.sep + report.fspath.replace("/", os.sep):
        return
    klass = os.path.basename(report.fspath)[:-3].replace("test_", "", 1)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _OUTCOMES[klass]["held" if report.passed else "broke"].append(report.nodeid.split("::", 1)[-1])


def pytest_terminal_summary(terminalreporter) -> None:
    if not _OUTCOMES:
        return
    tried = sum(len(o["held"]) + len(o["broke"]) for o in _OUTCOMES.values())
    held = sum(len(o["held"]) for o in _OUTCOMES.values())
    terminalreporter.section("adversarial suite")
    for klass in sorted(_OUTCOMES):
        outcome = _OUTCOMES[klass]
        tried_here = len(outcome["held"]) + len(outcome["broke"])
        terminalreporter.write_line("%-34s %3d tried, %3d held" % (klass, tried_here, len(outcome["held"])))
        for name in outcome["broke"]:
            terminalreporter.write_line("    BROKE: %s" % name)
    terminalreporter.write_line("adversarial cases: %d tried, %d held" % (tried, held))

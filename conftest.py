"""Root test configuration: a skipped test fails the run unless it is marked ``gpu``.

A test skipped because a package is missing would otherwise let CI pass while testing nothing.
"""

from __future__ import annotations

import pytest

_bad_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "gpu" not in report.keywords:
        _bad_skips.append(f"{report.nodeid}: {report.longrepr!r}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _bad_skips and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _bad_skips:
        terminalreporter.section("skipped tests not marked gpu (these fail the run)")
        for line in _bad_skips:
            terminalreporter.write_line(line)

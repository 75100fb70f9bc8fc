"""The upstream-test runner's own logic: node ids, counts, expectations (no MLflow checkout)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from tools.upstream import __main__ as runner

sys.path.insert(0, str(runner.HERE))
import mlflow_core_pytest_plugin as plugin


def _checkout(tmp_path: Path) -> Path:
    (tmp_path / "tests" / "store").mkdir(parents=True)
    (tmp_path / "tests" / "store" / "test_a.py").write_text("")
    return tmp_path


_A = 'classname="tests.store.test_a"'
_JUNIT = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase {_A} name="test_ok[x]" />
  <testcase {_A} name="test_bad"><failure message="boom&#10;more" /></testcase>
  <testcase classname="tests.store.test_a.TestGroup" name="test_in_class">
    <error message="err" /></testcase>
  <testcase {_A} name="test_skip"><skipped type="pytest.skip" message="s" /></testcase>
  <testcase {_A} name="test_xf"><skipped type="pytest.xfail" message="x" /></testcase>
</testsuite></testsuites>
"""


def test_summary_counts_per_file_and_names_failures(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    xml = tmp_path / "r.xml"
    xml.write_text(_JUNIT)
    per_file, failures = runner.summarize(xml, checkout)
    counts = per_file["tests/store/test_a.py"]
    assert (counts["passed"], counts["failed"], counts["skipped"], counts["xfailed"]) == (
        1,
        2,
        1,
        1,
    )
    assert failures == [
        ("tests/store/test_a.py::test_bad", "boom"),
        ("tests/store/test_a.py::TestGroup::test_in_class", "err"),
    ]


def test_missing_results_count_as_a_failure(tmp_path: Path) -> None:
    _, failures = runner.summarize(tmp_path / "absent.xml", tmp_path)
    assert failures
    assert failures[0][0] == "<no results>"


@pytest.mark.parametrize(
    ("nodeid", "pattern", "expected"),
    [
        ("tests/a.py::test_x", "tests/a.py::test_x", True),
        ("tests/a.py::test_x[p1]", "tests/a.py::test_x", True),
        ("tests/a.py::test_x_more", "tests/a.py::test_x", False),
        ("tests/a.py::test_x[p1]", "tests/a.py::test_x[p2]", False),
        ("tests/a.py::test_x", "tests/a.py", True),
    ],
)
def test_expectation_patterns(nodeid: str, pattern: str, expected: bool) -> None:
    assert plugin._matches(nodeid, pattern) is expected


def test_expectations_file_names_tests_with_reasons() -> None:
    data = tomllib.loads(runner.EXPECTATIONS.read_text())
    assert set(data) <= {"skip", "xfail"}
    for kind in data.values():
        for pattern, reason in kind.items():
            assert pattern.startswith("tests/"), pattern
            assert ".py" in pattern, pattern
            assert isinstance(reason, str), pattern
            assert len(reason) > 10, pattern


def test_only_the_needed_test_requirements_are_installed(tmp_path: Path) -> None:
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "test-requirements.txt").write_text(
        "pytest\npytest-asyncio\npytest-timeout\nmoto>=4.2.0,<5\npsutil\nshap\n"
    )
    assert runner._requirement_lines(tmp_path) == ["pytest-asyncio", "pytest-timeout", "psutil"]

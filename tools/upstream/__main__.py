"""Run MLflow's own tracking and registry tests against mlflow-core; print counts per file.

    scripts/mlflow-tests [--db sqlite|postgresql|mysql] [--suite NAME]... [--baseline]
                         [-- PYTEST ARGS]

1. The MLflow checkout named in ``.mlflow.ref`` (URL#commit): ``$MLFLOW_REPO`` if set, else
   ``.mlflow.repo/`` (git-ignored), filled from ``$MLFLOW_MIRROR`` (a local git mirror) or a
   clone of the URL. Only its ``tests/``, ``requirements/`` and ``pyproject.toml`` are used: the
   tests run against the *installed* (pinned) ``mlflow`` package our shim subclasses.
2. A test venv ``.mlflow.repo/.venv`` layered over ``.venv`` (a ``.pth`` file), into which the
   checkout's test requirements that these suites need are installed from PyPI; the project's
   pinned ``.venv`` is left as it is.
3. pytest on each suite with our plugin (``-p mlflow_core_pytest_plugin``), which swaps MLflow's
   store classes for our shim stores at start, and applies ``expectations.toml`` (skips and
   expected failures, each with its reason). ``--baseline`` runs MLflow's own stores instead,
   to tell our failures from failures of the pinned tests against the installed MLflow.
4. JUnit XML per suite in ``.mlflow.repo/results/``; passed / failed / skipped / xfailed per file
   on stdout, and the failures.

No MLflow test code is ever copied into this repository.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
EXPECTATIONS = HERE / "expectations.toml"

SUITES: dict[str, list[str]] = {
    "tracking-store": ["tests/store/tracking/sqlalchemy_store"],
    "registry-store": [
        "tests/store/model_registry/test_sqlalchemy_store.py",
        "tests/store/model_registry/test_sqlalchemy_workspace_store.py",
    ],
    "rest-tracking": ["tests/tracking/test_rest_tracking.py"],
    "model-registry": ["tests/tracking/test_model_registry.py"],
}
# The suites that drive a server (the rest test the stores directly).
SERVER_SUITES = ("rest-tracking", "model-registry")
# From the checkout's requirements/test-requirements.txt: what these four suites import.
TEST_PACKAGES = ("pytest-asyncio", "pytest-timeout", "psutil")
_TEST_DB_ENV = {
    "postgresql": "MLFLOW_CORE_TEST_POSTGRES_URI",
    "mysql": "MLFLOW_CORE_TEST_MYSQL_URI",
}


def _ref() -> tuple[str, str]:
    url, _, commit = (REPO / ".mlflow.ref").read_text().strip().partition("#")
    return url, commit


def _is_git_dir(path: str) -> bool:
    found = subprocess.run(
        ["git", f"--git-dir={path}", "rev-parse", "--git-dir"],
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


def checkout() -> Path:
    if path := os.environ.get("MLFLOW_REPO"):
        return Path(path)
    target = REPO / ".mlflow.repo"
    url, commit = _ref()
    stamp = target / ".ref"
    if stamp.exists() and stamp.read_text().strip() == commit and (target / "tests").is_dir():
        return target
    for sub in ("tests", "requirements"):
        shutil.rmtree(target / sub, ignore_errors=True)
    target.mkdir(exist_ok=True)
    git_dir = os.environ.get("MLFLOW_MIRROR")
    if git_dir and not _is_git_dir(git_dir):
        # The fetch tool puts the git directory one level down (.../owner+name/repo).
        raise SystemExit(f"MLFLOW_MIRROR={git_dir} is not a git directory")
    if not git_dir:
        git_dir = str(target / ".git-mirror")
        if not Path(git_dir).exists():
            subprocess.run(
                ["git", "clone", "--bare", "--filter=blob:none", url, git_dir], check=True
            )
    print(f"extracting MLflow tests at {commit[:12]} into {target}", file=sys.stderr)
    archive = subprocess.Popen(
        [
            "git",
            f"--git-dir={git_dir}",
            "archive",
            commit,
            "tests",
            "requirements",
            "pyproject.toml",
        ],
        stdout=subprocess.PIPE,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive of {commit} from {git_dir} failed")
    stamp.write_text(commit + "\n")
    return target


def _requirement_lines(checkout_dir: Path) -> list[str]:
    wanted = {name.lower() for name in TEST_PACKAGES}
    lines = (checkout_dir / "requirements" / "test-requirements.txt").read_text().splitlines()
    found = []
    for line in lines:
        name = re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()
        if name in wanted:
            found.append(line.strip())
    return found


def test_venv(checkout_dir: Path) -> Path:
    """A venv over the project's .venv (a .pth file), plus the suites' test requirements."""
    venv = checkout_dir / ".venv"
    python = venv / "bin" / "python"
    requirements = _requirement_lines(checkout_dir)
    stamp = venv / ".requirements"
    if python.exists() and stamp.exists() and stamp.read_text() == "\n".join(requirements):
        return python
    base = REPO / ".venv" / "bin" / "python"
    if not base.exists():
        raise SystemExit("run ./dev setup first (the project's .venv is the base of the test venv)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    base_paths = subprocess.run(
        [str(base), "-c", "import site; print('\\n'.join(site.getsitepackages()))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    site_dir = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # addsitedir (not a bare path) so the base's own .pth files (our editable install) apply.
    lines = [f"import site; site.addsitedir({path!r})" for path in base_paths]
    Path(site_dir, "mlflow_core_base.pth").write_text("\n".join(lines) + "\n")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        check=True,
    )
    stamp.write_text("\n".join(requirements))
    return python


@contextmanager
def _database_env(db: str) -> Iterator[dict[str, str]]:
    """MLflow's store tests read MLFLOW_TRACKING_URI for a server database (they create tables):
    a new database for one pytest run, dropped when it ends."""
    if db == "sqlite":
        yield {}
        return
    if not os.environ.get(_TEST_DB_ENV[db]):
        raise SystemExit(f"--db {db} needs {_TEST_DB_ENV[db]} (a server URI; a database is made)")
    sys.path.insert(0, str(REPO))
    from mlflow_core.adapters.sql.database import mlflow_store_uri
    from tests.support.databases import fresh_database

    # A server database has no file: fresh_database's directory argument is unused for it.
    with fresh_database(db, Path.cwd()) as uri:
        yield {"MLFLOW_TRACKING_URI": mlflow_store_uri(uri)}


def run_suite(
    python: Path, checkout_dir: Path, suite: str, db: str, mode: str, extra: list[str]
) -> Path:
    results = checkout_dir / "results"
    results.mkdir(exist_ok=True)
    xml = results / f"{db}-{mode}-{suite}.xml"
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "MLFLOW_CORE_UPSTREAM_MODE": mode,
        "MLFLOW_CORE_UPSTREAM_EXPECTATIONS": str(EXPECTATIONS),
    }
    env.pop("MLFLOW_CORE_ENABLE", None)
    command = [
        str(python),
        "-m",
        "pytest",
        "-p",
        "mlflow_core_pytest_plugin",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-q",
        "-rfE",
        f"--junitxml={xml}",
        # MLflow's own setting is 1200 s; a test waiting on the network would hold a run that
        # long (the sandbox has none), and no test here needs 5 minutes.
        "--timeout=300",
        *SUITES[suite],
        *extra,
    ]
    print(f"== {suite} ({db}, {mode}): {' '.join(SUITES[suite])}", file=sys.stderr, flush=True)
    with _database_env(db) as database:
        subprocess.run(command, cwd=checkout_dir, env={**env, **database}, check=False)
    return xml


def _node_id(checkout_dir: Path, classname: str, name: str) -> str:
    """pytest's node id from JUnit's dotted classname (module path, then any test classes)."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        module = "/".join(parts[:cut]) + ".py"
        if (checkout_dir / module).exists():
            return "::".join([module, *parts[cut:], name])
    return f"{classname}::{name}"


def summarize(
    xml: Path, checkout_dir: Path
) -> tuple[dict[str, Counter[str]], list[tuple[str, str]]]:
    per_file: dict[str, Counter[str]] = defaultdict(Counter)
    failures: list[tuple[str, str]] = []
    if not xml.exists():
        return per_file, [("<no results>", str(xml))]
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = _node_id(checkout_dir, case.get("classname", ""), str(case.get("name")))
        file = name.split("::")[0]
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                failures.append(
                    (
                        name,
                        (child.get("message") or "").splitlines()[0][:160]
                        if child.get("message")
                        else "",
                    )
                )
            elif child.tag == "skipped":
                outcome = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
        per_file[file][outcome] += 1
    return per_file, failures


def baseline_outcomes(
    python: Path, checkout_dir: Path, db: str, node_ids: list[str]
) -> dict[str, str]:
    """Re-run ``node_ids`` on MLflow's own stores: did they fail there too?"""
    if not node_ids:
        return {}
    results = checkout_dir / "results"
    ids_file = results / f"{db}-baseline-rerun.txt"
    ids_file.write_text("\n".join(node_ids) + "\n")
    xml = results / f"{db}-baseline-rerun.xml"
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "MLFLOW_CORE_UPSTREAM_MODE": "baseline",
    }
    env.pop("MLFLOW_CORE_ENABLE", None)
    print(f"== re-running {len(node_ids)} failures on MLflow's own stores", file=sys.stderr)
    command = [
        str(python),
        "-m",
        "pytest",
        "-p",
        "mlflow_core_pytest_plugin",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-q",
        f"--junitxml={xml}",
        *node_ids,
    ]
    with _database_env(db) as database:
        environment = {**env, **database}
        subprocess.run(
            command, cwd=checkout_dir, env=environment, check=False, stdout=subprocess.DEVNULL
        )
    _, failures = summarize(xml, checkout_dir)
    failed = {name for name, _ in failures}
    return {
        node: ("fails on stock MLflow too" if node in failed else "ours only") for node in node_ids
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/mlflow-tests", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "mysql"], default="sqlite")
    parser.add_argument("--suite", action="append", choices=list(SUITES), help="default: all four")
    parser.add_argument("--baseline", action="store_true", help="MLflow's own stores (no shim)")
    parser.add_argument(
        "--server",
        action="store_true",
        help="the REST suites against our server (our ASGI app, MLflow's stores behind fallback)",
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="do not re-run our failures on MLflow's own stores to classify them",
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    args = parser.parse_args(argv)
    checkout_dir = checkout()
    python = test_venv(checkout_dir)
    mode = "baseline" if args.baseline else "server" if args.server else "shim"
    total: Counter[str] = Counter()
    lines = []
    all_failures = []
    default = [s for s in SUITES if mode != "server" or s in SERVER_SUITES]
    for suite in args.suite or default:
        xml = run_suite(python, checkout_dir, suite, args.db, mode, args.pytest_args)
        per_file, failures = summarize(xml, checkout_dir)
        all_failures.extend(failures)
        for file, counts in sorted(per_file.items()):
            total.update(counts)
            lines.append(
                f"{suite:15} {file:70} passed {counts['passed']:5}  failed {counts['failed']:4}  "
                f"skipped {counts['skipped']:4}  xfailed {counts['xfailed']:4}"
            )
    print(f"\nMLflow's tests at {_ref()[1][:12]} against mlflow-core ({mode}, {args.db}):")
    print("\n".join(lines))
    print(
        f"{'total':86} passed {total['passed']:5}  failed {total['failed']:4}  "
        f"skipped {total['skipped']:4}  xfailed {total['xfailed']:4}"
    )
    verdicts: dict[str, str] = {}
    if all_failures and mode != "baseline" and not args.no_compare:
        verdicts = baseline_outcomes(
            python, checkout_dir, args.db, [name for name, _ in all_failures if "::" in name]
        )
    if all_failures:
        print("\nfailures:")
        for name, message in all_failures:
            verdict = f"[{verdicts[name]}] " if name in verdicts else ""
            print(f"  {verdict}{name}  {message}")
        ours = sum(1 for verdict in verdicts.values() if verdict == "ours only")
        if verdicts:
            print(
                f"\n{ours} of {len(all_failures)} failures are ours only (pass on MLflow's stores)"
            )
    return 1 if all_failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

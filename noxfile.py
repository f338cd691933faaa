"""nox sessions for otus.pgrepl. Plain `nox` runs lint, unit, build and every
molecule scenario: the README's test command.

Sessions run in the environment nox is started from (the project's .venv,
made from requirements.txt), so the pinned tools are the ones used.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nox
import yaml

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from tools import collection  # noqa: E402
from tools import localhosts as lh  # noqa: E402
from tools import stand as st  # noqa: E402

ALL_SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
# One build per host layout: these scenarios' checks (molecule/shared/) run
# inside the scenario named with them, on the same hosts. Each stays a scenario
# of its own for `molecule test -s NAME`.
GROUPED_INTO = {
    "replication": "failover",
    "archive": "failover",
    "barman": "failover",
    "restore": "failover",
    "smoke": "failover",
}
SCENARIOS = [s for s in ALL_SCENARIOS if s not in GROUPED_INTO]

nox.options.default_venv_backend = "none"
# Plain `nox`: lint, unit and build (CPU only, no hosts) run niced beside the
# molecule scenarios, which wait on their hosts a fifth of the time;
# `beside_done` waits for them and puts their results in the table.
# `nox -s lint unit build` runs them here.
# The own-hosts scenario (SSH, a directory made by `invoke stand.new`) runs
# there too, after them: its hosts and network are its own.
BESIDE_SCENARIOS = ("ownhosts",)
BESIDE = ("lint", "unit", "build", *(f"molecule(scenario='{s}')" for s in BESIDE_SCENARIOS))
nox.options.sessions = [
    "beside",
    *(f"molecule(scenario='{s}')" for s in SCENARIOS if s not in BESIDE_SCENARIOS),
    "beside_done",
]
nox.options.error_on_missing_interpreters = True

# Each session's outcome and time, printed as a table when nox ends.
TIMINGS: list[tuple[str, float, str]] = []
STARTED = time.monotonic()


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _print_timings() -> None:
    if not TIMINGS:
        return
    width = max(len("session"), *(len(name) for name, _, _ in TIMINGS))
    lines = [f"{'session':<{width}}  {'time':>8}  result", f"{'-' * width}  {'-' * 8}  ------"]
    lines += [f"{name:<{width}}  {_minutes(sec):>8}  {res}" for name, sec, res in TIMINGS]
    total = time.monotonic() - STARTED
    lines.append(f"{'total':<{width}}  {_minutes(total):>8}")
    # stderr, where nox writes its own summary, so the two stay in order.
    print("\n" + "\n".join(lines), file=sys.stderr, flush=True)
    if out := os.environ.get("OTUS_PGREPL_TIMINGS"):
        Path(out).write_text(json.dumps(TIMINGS))
    if _whole_suite():
        _write_ci_json(total)


def _whole_suite() -> bool:
    """Plain `nox` (the README's test command): no session, keyword or tag chosen."""
    chosen = {"-s", "--session", "--sessions", "-e", "-k", "--keywords", "-t", "--tags"}
    return not any(arg.split("=")[0] in chosen for arg in sys.argv[1:])


def _write_ci_json(total: float) -> None:
    """bench/results/ci.json: the whole suite's wall time and each session's, from this run."""
    data = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "total_seconds": round(total, 1),
        "passed": all(res == "passed" for _, _, res in TIMINGS),
        "sessions": {name: {"seconds": round(sec, 1), "result": res} for name, sec, res in TIMINGS},
        "beside": list(BESIDE),
    }
    out = ROOT / "bench" / "results" / "ci.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")


atexit.register(_print_timings)


def timed(func: Callable[..., None]) -> Callable[..., None]:
    """Record the session's wall time and whether it passed, for the table at the end."""

    @functools.wraps(func)
    def wrapper(session: nox.Session, *args: object, **kwargs: object) -> None:
        started = time.monotonic()
        result = "failed"
        try:
            func(session, *args, **kwargs)
            result = "passed"
        except BaseException as exc:
            if type(exc).__name__ == "_SessionSkip":
                result = "skipped"
            raise
        finally:
            TIMINGS.append((session.name, time.monotonic() - started, result))

    return wrapper


def _machine_ready(session: nox.Session, what: str) -> None:
    """Root, then the machine prepared, the image built and the apt cache filled where they are not."""
    if not lh.is_root():
        session.error(f"{what} run rootful podman hosts with systemd: run nox as root")
    try:
        lh.ensure_machine(say=session.log)
    except lh.PrerequisiteError as exc:
        session.error(str(exc))


def _ensure_local_hosts(session: nox.Session, scenario: str) -> dict[str, str]:
    """Machine ready, image present, no stale hosts of this scenario's; env for molecule.

    Only the scenario's own hosts and network: a scenario may run beside another (BESIDE).
    """
    _machine_ready(session, "molecule scenarios")
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    hosts = [p["name"] for p in config["platforms"]]
    containers, networks = lh.clean(hosts=hosts, network=config["platforms"][0]["network"])
    session.log(f"removed stale hosts: {containers or 'none'}; networks: {networks or 'none'}")
    env = lh.molecule_env()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    return env


@nox.session
@timed
def lint(session: nox.Session) -> None:
    """ruff, yamllint and ansible-lint (production profile) over the real tree."""
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")
    session.run("yamllint", "--strict", ".")
    session.run(
        "ansible-lint",
        "--offline",
        *session.posargs,
        env={"ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections")},
    )
    _sanity(session)


def _sanity(session: nox.Session) -> None:
    """ansible-test sanity (validate-modules and the rest that run offline) over a staged copy.

    ansible-test wants the collection under ansible_collections/NS/NAME with its
    dependencies beside it, and a galaxy.yml for the version checks: the copy
    gets both. Its per-test virtualenvs live in a HOME of the project's own
    (.cache/ansible-test-home), so they are made once per machine.
    """
    home = ROOT / ".cache" / "ansible-test-home"
    collection.offline_get_pip(home)
    with tempfile.TemporaryDirectory(prefix="otus-pgrepl-sanity-") as tmp:
        staged = collection.stage_for_sanity(Path(tmp) / "ansible_collections")
        python = f"{sys.version_info[0]}.{sys.version_info[1]}"
        with session.chdir(staged):
            session.run(
                "ansible-test", "sanity", "--python", python, "--color", "no", env={"HOME": str(home)}
            )


@nox.session
@timed
def unit(session: nox.Session) -> None:
    """pytest: unit tests of modules, module_utils, filters and the task helpers.

    One worker per core (pytest-xdist): most of the time is ansible-playbook runs of the preflight tests.
    `nox -s unit -- -n 0 tests/test_x.py` runs serially.
    """
    session.run("pytest", "-q", "-n", "auto", *(session.posargs or ["tests"]))


BESIDE_RUN: dict[str, object] = {}


def _stop_beside() -> None:
    proc = BESIDE_RUN.get("proc")
    if isinstance(proc, subprocess.Popen) and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)


def _lowest_autogroup(pid: int) -> None:
    """Put the session of `pid` at the lowest CPU weight where the kernel groups tasks by session.

    With autogroup on, nice only orders tasks within one session; the whole session then competes
    with the hosts' containers as one. A session of its own at nice 19 leaves them the CPU too.
    """
    try:
        Path(f"/proc/{pid}/autogroup").write_text("19")
    except OSError:
        pass  # no autogroup here: nice alone orders the tasks


atexit.register(_stop_beside)


@nox.session(default=False)
def beside(session: nox.Session) -> None:
    """Start lint, unit, build and the own-hosts scenario, niced (plain `nox` only).

    Their output goes to .nox/beside.log; `beside_done` waits for them, shows it and fails if they failed.
    """
    log = ROOT / ".nox" / "beside.log"
    log.parent.mkdir(exist_ok=True)
    timings = log.with_suffix(".json")
    timings.unlink(missing_ok=True)
    nox_argv = [sys.executable, "-m", "nox", "--no-color", "-s", *BESIDE]
    io_low = ["ionice", "-c", "2", "-n", "7"] if shutil.which("ionice") else []
    argv = ["nice", "-n", "19", *io_low, *nox_argv]
    env = dict(os.environ, OTUS_PGREPL_TIMINGS=str(timings))
    with log.open("w") as handle:
        # A session of its own (see _lowest_autogroup); _stop_beside ends its process group.
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    _lowest_autogroup(proc.pid)
    BESIDE_RUN.update(proc=proc, log=log, timings=timings)
    session.log(f"started {' '.join(BESIDE)} beside the scenarios (niced): {log.relative_to(ROOT)}")


@nox.session(default=False)
def beside_done(session: nox.Session) -> None:
    """Wait for what `beside` started; show its output; its sessions join the timing table."""
    proc, log, timings = BESIDE_RUN.get("proc"), BESIDE_RUN.get("log"), BESIDE_RUN.get("timings")
    if not isinstance(proc, subprocess.Popen) or not isinstance(log, Path) or not isinstance(timings, Path):
        session.skip("nothing was started beside (run plain `nox`, or `nox -s beside ... beside_done`)")
    waited = time.monotonic()
    rc = proc.wait()
    session.log(f"waited {time.monotonic() - waited:.0f} s for {' '.join(BESIDE)} after the scenarios")
    print(log.read_text(), file=sys.stderr, flush=True)
    found = json.loads(timings.read_text()) if timings.exists() else []
    TIMINGS[:0] = [(name, sec, res) for name, sec, res in found]
    missing = set(BESIDE) - {name for name, _, _ in found}
    TIMINGS[:0] = [(name, 0.0, "failed") for name in sorted(missing)]
    if rc != 0 or missing:
        session.error(f"{' '.join(BESIDE)} beside the scenarios failed (exit {rc}): see the output above")


@nox.session(default=True)
@nox.parametrize("scenario", SCENARIOS)
@timed
def molecule(session: nox.Session, scenario: str) -> None:
    """`molecule test -s SCENARIO` on local podman systemd hosts (root), one scenario per host layout."""
    env = _ensure_local_hosts(session, scenario)
    session.run("molecule", "test", "-s", scenario, *session.posargs, env=env)


@nox.session
@timed
def docs(session: nox.Session) -> None:
    """Regenerate docs/reference/ from argument_specs and module DOCUMENTATION."""
    session.run("python", "-m", "tools.docs", *session.posargs)


@nox.session(default=False)
@timed
def converge(session: nox.Session) -> None:
    """Bring up the verified local stand (node1, node2, barman); rerun: changed=0.

    `nox -s converge -- --quiet` shows only each playbook's summary.
    """
    _machine_ready(session, "the local stand's hosts")
    streamed = "--quiet" not in session.posargs
    runs = st.up(stream=streamed)
    for run in runs:
        session.log(run.summary())
    if failed := st.failure(runs, streamed):
        session.error(failed)
    session.log(st.how_to_reach())


@nox.session(default=False)
@timed
def bench(session: nox.Session) -> None:
    """Benchmarks on the local stand, side by side; writes bench/results/.

    `nox -s bench` runs them all in one go (converge first: it rebuilds the
    stand the others use), then bench.report writes summary.md and the chart
    bench.png. `nox -s bench -- drill --runs 5` runs the named ones; other
    arguments go to each benchmark.
    """
    _machine_ready(session, "the benchmarks")
    names = [a for a in session.posargs if a in BENCHMARKS] or list(BENCHMARKS)
    rest = [a for a in session.posargs if a not in BENCHMARKS]
    for name in names:
        session.run("python", "-m", f"bench.{name}", *rest)
    session.run("python", "-m", "bench.report")


# converge: cold and rerun (and, with --fresh, from a machine without podman);
# connection: ms per no-op task through podman exec, nsenter and SSH; backup:
# DONE vs raw pg_basebackup, WAL archived, receive-wal back; drill: total, RTO,
# restore, recovery; restore: barman restore vs a plain copy at pgbench scale
# 20 and 100; incremental: a full backup vs an incremental one after 1 % of the
# rows changed.
BENCHMARKS = ("converge", "connection", "backup", "drill", "restore", "incremental")


@nox.session
@timed
def build(session: nox.Session) -> None:
    """Build dist/otus-pgrepl-VERSION.tar.gz, install it offline, load plugin docs."""
    try:
        tarball = collection.build_tarball(ROOT / "dist")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        session.error(f"building {collection.tarball_name()}: {exc}")
    with tempfile.TemporaryDirectory(prefix="otus-pgrepl-build-") as tmp:
        target = Path(tmp) / "installed"
        # A clean config and path: the source tree must not satisfy the install.
        empty_cfg = Path(tmp) / "ansible.cfg"
        empty_cfg.write_text("[defaults]\n")
        env = {"ANSIBLE_COLLECTIONS_PATH": str(target), "ANSIBLE_CONFIG": str(empty_cfg)}
        session.run(
            "ansible-galaxy",
            "collection",
            "install",
            "--offline",
            "--no-deps",
            "-p",
            str(target),
            str(tarball),
            env=env,
        )
        installed = target / "ansible_collections" / "otus" / "pgrepl"
        plugins = collection.documented_plugins(installed)
        if not plugins:
            session.error("the built collection holds no documented plugin")
        for kind, name in plugins:
            out = session.run("ansible-doc", "-t", kind, f"otus.pgrepl.{name}", env=env, silent=True)
            if not out or str(installed) not in out:
                session.error(f"ansible-doc did not load otus.pgrepl.{name} from {installed}")
            session.log(f"ansible-doc -t {kind} otus.pgrepl.{name}: loaded from the installed tarball")
    session.log(f"built {tarball.relative_to(ROOT)}")

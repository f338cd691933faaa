"""nox sessions for otus.pgrepl. Plain `nox` runs lint, unit, build and every
molecule scenario: the README's test command.

Sessions run in the environment nox is started from (the project's .venv,
made from requirements.txt), so the pinned tools are the ones used.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import nox
import yaml

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from tools import localhosts as lh  # noqa: E402

COLLECTION = ROOT / "collections" / "ansible_collections" / "otus" / "pgrepl"
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "unit", "build", "molecule"]
nox.options.error_on_missing_interpreters = True


def _galaxy_version() -> str:
    return str(yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"])


def _ensure_local_hosts(session: nox.Session) -> dict[str, str]:
    """Machine ready, image present, no stale hosts of ours; env for molecule."""
    if not lh.is_root():
        session.error("molecule scenarios run rootful podman hosts with systemd: run nox as root")
    session.run("invoke", "machine.ensure", external=True)
    session.run("invoke", "hosts.clean", external=True)
    env = lh.molecule_env()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    return env


@nox.session
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


@nox.session
def unit(session: nox.Session) -> None:
    """pytest: unit tests of modules, module_utils, filters and the task helpers."""
    session.run("pytest", "-q", *(session.posargs or ["tests"]))


@nox.session(default=True)
@nox.parametrize("scenario", SCENARIOS)
def molecule(session: nox.Session, scenario: str) -> None:
    """`molecule test -s SCENARIO` on local podman systemd hosts (root)."""
    env = _ensure_local_hosts(session)
    session.run("molecule", "test", "-s", scenario, *session.posargs, env=env)


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate docs/reference/ from argument_specs and module DOCUMENTATION."""
    session.run("python", "-m", "tools.docs", *session.posargs)


@nox.session(default=False)
def converge(session: nox.Session) -> None:
    """Bring up the verified local stand (node1, node2, barman); rerun: changed=0."""
    if not lh.is_root():
        session.error("the local stand runs rootful podman hosts with systemd: run nox as root")
    session.run("invoke", "stand.up", *session.posargs, external=True)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks on the local stand; writes bench/results/.

    `nox -s bench` runs both; `nox -s bench -- restore --runs 3` one of them
    (converge: cold converge and rerun; restore: barman restore of pgbench
    scale 20 against a plain copy). Other arguments go to the benchmark.
    """
    if not lh.is_root():
        session.error("the benchmark runs rootful podman hosts with systemd: run nox as root")
    names = [a for a in session.posargs if a in BENCHMARKS] or list(BENCHMARKS)
    rest = [a for a in session.posargs if a not in BENCHMARKS]
    session.run("invoke", "machine.ensure", external=True)
    for name in names:
        session.run("python", "-m", f"bench.{name}", *rest)


BENCHMARKS = ("converge", "restore")


@nox.session
def build(session: nox.Session) -> None:
    """Build dist/otus-pgrepl-VERSION.tar.gz, install it offline, load plugin docs."""
    version = _galaxy_version()
    dist = ROOT / "dist"
    dist.mkdir(exist_ok=True)
    tarball = dist / f"otus-pgrepl-{version}.tar.gz"
    if tarball.exists():
        tarball.unlink()
    with tempfile.TemporaryDirectory(prefix="otus-pgrepl-build-") as tmp:
        staged = Path(tmp) / "pgrepl"
        # The manifest lives once, at the top; the build gets a staged copy of
        # the collection tree with it (and the license).
        shutil.copytree(
            COLLECTION,
            staged,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".pytest_cache"),
        )
        shutil.copy2(ROOT / "galaxy.yml", staged / "galaxy.yml")
        shutil.copy2(ROOT / "LICENSE", staged / "LICENSE")
        session.run(
            "ansible-galaxy", "collection", "build", str(staged), "--output-path", str(dist), "--force"
        )
        if not tarball.exists():
            session.error(f"expected {tarball} after the build")
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
        plugins = _documented_plugins(installed)
        if not plugins:
            session.error("the built collection holds no documented plugin")
        for kind, name in plugins:
            out = session.run("ansible-doc", "-t", kind, f"otus.pgrepl.{name}", env=env, silent=True)
            if not out or str(installed) not in out:
                session.error(f"ansible-doc did not load otus.pgrepl.{name} from {installed}")
            session.log(f"ansible-doc -t {kind} otus.pgrepl.{name}: loaded from the installed tarball")
    session.log(f"built {tarball.relative_to(ROOT)}")


def _documented_plugins(root: Path) -> list[tuple[str, str]]:
    found = [("module", p.stem) for p in sorted((root / "plugins" / "modules").glob("*.py"))]
    found += [("filter", p.stem) for p in sorted((root / "plugins" / "filter").glob("*.yml"))]
    found += [("connection", p.stem) for p in sorted((root / "plugins" / "connection").glob("*.py"))]
    return [(k, n) for k, n in found if not n.startswith("_")]

"""invoke tasks for otus.pgrepl: prepare the machine, build the host image,
manage the local hosts. Each task is thin and delegates to the tools; run
`invoke --list` for the list and `invoke --help TASK` for a task's options."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tools import localhosts as lh  # noqa: E402


def _apt_missing(c: Context, packages: tuple[str, ...]) -> list[str]:
    missing = []
    for pkg in packages:
        res = c.run(f"dpkg-query -W -f='${{Status}}' {pkg}", hide=True, warn=True)
        if res is None or "install ok installed" not in res.stdout:
            missing.append(pkg)
    return missing


@task
def prepare(c: Context) -> None:
    """Install podman and friends, select runc, create the shared apt cache (root, idempotent)."""
    packages = " ".join(lh.HOST_PACKAGES)
    if shutil.which("apt-get") is None:
        raise Exit(
            "No apt-get here. Install these with your package manager, then set "
            f'`[engine] runtime = "runc"` in {lh.CONTAINERS_CONF}: {packages}',
            code=2,
        )
    if not lh.is_root():
        raise Exit(
            "Preparing the machine installs packages and edits "
            f"{lh.CONTAINERS_CONF}: run `sudo invoke machine.prepare`, or as root: "
            f"apt-get install -y {packages}",
            code=2,
        )
    missing = _apt_missing(c, lh.HOST_PACKAGES)
    if missing:
        print(f"installing: {' '.join(missing)}")
        c.run("apt-get update -qq", env={"DEBIAN_FRONTEND": "noninteractive"})
        c.run(
            "apt-get install -y -qq --no-install-recommends " + " ".join(missing),
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )
    conf = lh.CONTAINERS_CONF
    current = conf.read_text() if conf.exists() else ""
    wanted = lh.containers_conf_with_runc(current)
    if wanted != current:
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(wanted)
        print(f"{conf}: runtime = runc")
    (lh.APT_CACHE / "partial").mkdir(parents=True, exist_ok=True)
    limits = lh.derive_ulimits()
    print(f"machine ready; container ulimits {' '.join(limits.as_podman())}")


@task(help={"rebuild": "build again even when the image exists", "mirror": "Debian mirror URL"})
def build(c: Context, rebuild: bool = False, mirror: str = "") -> None:
    """Build the Debian trixie systemd host image with debootstrap (cached)."""
    try:
        lh.require_podman()
    except lh.PrerequisiteError as exc:
        raise Exit(str(exc), code=2) from exc
    if lh.image_exists() and not rebuild:
        print(f"{lh.IMAGE} exists (use --rebuild to build it again)")
        return
    source = mirror or lh.apt_mirror()
    print(f"debootstrap {lh.SUITE} from {source} ...")
    try:
        lh.build_image(source)
    except lh.PrerequisiteError as exc:
        raise Exit(str(exc), code=1) from exc
    print(f"built {lh.IMAGE}")


@task
def ensure(c: Context) -> None:
    """Prepare the machine and build the image only where something is missing."""
    if lh.missing_commands(["podman", "runc", "debootstrap"]) or not lh.CONTAINERS_CONF.exists():
        prepare(c)
    build(c)


@task
def clean(c: Context) -> None:
    """Remove this project's stale hosts and networks (by label and name), nothing else."""
    try:
        lh.require_podman()
    except lh.PrerequisiteError as exc:
        raise Exit(str(exc), code=2) from exc
    containers, networks = lh.clean()
    print(f"removed hosts: {containers or 'none'}; networks: {networks or 'none'}")


@task(name="list")
def list_hosts(c: Context) -> None:
    """List this project's hosts and networks."""
    try:
        lh.require_podman()
    except lh.PrerequisiteError as exc:
        raise Exit(str(exc), code=2) from exc
    c.run(f"podman ps -a --filter label={lh.PROJECT_LABEL}")
    c.run(f"podman network ls --filter name=^{lh.NETWORK_PREFIX}")


@task(
    help={"scenario": "molecule scenario name (default: all of them)"},
)
def test(c: Context, scenario: str = "") -> None:
    """Run the test suite (`nox`), or one molecule scenario."""
    if scenario:
        c.run(f"nox -s 'molecule({scenario})'", pty=sys.stdout.isatty())
    else:
        c.run("nox", pty=sys.stdout.isatty())


ns = Collection()
ns.add_collection(Collection("machine", prepare=prepare, ensure=ensure))
ns.add_collection(Collection("image", build=build))
ns.add_collection(Collection("hosts", clean=clean, list=list_hosts))
ns.add_task(test)

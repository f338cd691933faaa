"""The machine, the host image and this project's podman objects."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from tasks._exit import prerequisites
from tools import localhosts as lh


@task
def prepare(c: Context) -> None:
    """Install podman and friends, select runc, create the shared apt cache (root, idempotent)."""
    with prerequisites():
        lh.prepare_machine()


@task(help={"rebuild": "build again even when the image exists", "mirror": "Debian mirror URL"})
def build(c: Context, rebuild: bool = False, mirror: str = "") -> None:
    """Build the Debian trixie systemd host image with debootstrap (cached)."""
    with prerequisites():
        lh.ensure_image(rebuild=rebuild, mirror=mirror)


@task
def ensure(c: Context) -> None:
    """Prepare the machine, build the image and fill the hosts' apt cache, only where something is missing."""
    with prerequisites():
        lh.ensure_machine()


@task
def clean(c: Context) -> None:
    """Remove this project's stale hosts and networks (by label and name), nothing else."""
    with prerequisites():
        lh.require_podman()
    containers, networks = lh.clean()
    print(f"removed hosts: {containers or 'none'}; networks: {networks or 'none'}")


@task(name="list")
def list_hosts(c: Context) -> None:
    """List this project's hosts and networks."""
    with prerequisites():
        lh.require_podman()
    c.run(f"podman ps -a --filter label={lh.PROJECT_LABEL}")
    c.run(f"podman network ls --filter name=^{lh.NETWORK_PREFIX}")

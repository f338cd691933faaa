"""Connection benchmark: a play of no-op tasks on the stand's hosts, once per way in.

    python -m bench.connection [--tasks 100] [--runs 3]

Ways measured, on the same standing hosts in one run:
- podman_exec: containers.podman.podman, the podman connection bundled with ansible (`podman exec`);
- nsenter: the stand's podman_nsenter connection (stand/plugins/connection), as used: with the modules'
  compiled code kept on each host;
- nsenter_no_cache: the same connection compiling every module on every task, as Python does by itself;
- ssh: OpenSSH to each host's stand address with ControlPersist and pipelining, a key made for the
  benchmark (sshd is installed in the hosts for it when missing).

Writes bench/results/connection.json and connection.md: ms per no-op task per host for each way, and
which one the stand and the scenarios use.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import common
from tools import localhosts as lh
from tools import stand

USED = "nsenter"
WAYS = ("podman_exec", "nsenter", "nsenter_no_cache", "ssh")


def noop_play(tasks: int) -> list[dict]:
    return [
        {
            "name": "No-op tasks",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [{"name": f"no-op {i}", "ansible.builtin.ping": None} for i in range(tasks)],
        }
    ]


def inventory(way: str, key: Path) -> dict:
    hosts = {}
    for name in stand.hosts():
        hosts[name] = {
            "ansible_host": stand.container(name),
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        if way == "podman_exec":
            hosts[name]["ansible_connection"] = "containers.podman.podman"
        elif way.startswith("nsenter"):
            hosts[name]["ansible_connection"] = "podman_nsenter"
            hosts[name]["ansible_podman_nsenter_bytecode_cache"] = way == "nsenter"
        else:
            hosts[name].update(
                ansible_connection="ssh",
                ansible_host=address(name),
                ansible_user="root",
                ansible_ssh_private_key_file=str(key),
                ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                "-o ControlMaster=auto -o ControlPersist=60s",
            )
    return {"all": {"hosts": hosts}}


def address(name: str) -> str:
    """The host's fixed address on the stand's network (stand_address in the inventory)."""
    groups = yaml.safe_load(stand.INVENTORY.read_text())["all"]["children"].values()
    return next(g["hosts"][name]["stand_address"] for g in groups if name in g.get("hosts", {}))


def prepare_ssh(workdir: Path) -> Path:
    """A key for the benchmark and sshd in every host, authorised for it."""
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = (workdir / "id_ed25519.pub").read_text().strip()
    for name in stand.hosts():
        keys = "/root/.ssh/authorized_keys"
        script = (
            "command -v sshd >/dev/null"
            " || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null;"
            " systemctl start ssh; install -d -m 700 /root/.ssh;"
            f" grep -qxF '{public}' {keys} 2>/dev/null || echo '{public}' >> {keys}"
        )
        common.podman_exec(name, "sh", "-ec", script)
    return key


def run_once(way: str, tasks: int, workdir: Path, key: Path) -> float:
    inv = workdir / f"{way}.yml"
    inv.write_text(yaml.safe_dump(inventory(way, key)))
    play = workdir / "noop.yml"
    play.write_text(yaml.safe_dump(noop_play(tasks), sort_keys=False))
    env = stand.ansible_env()
    started = time.monotonic()
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inv), str(play)], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{way}: the no-op play failed:\n{proc.stdout[-3000:]}")
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args, _ = parser.parse_known_args(argv)
    lh.require_podman()
    common.ensure_stand()
    hosts = len(stand.hosts())
    with tempfile.TemporaryDirectory(prefix="otus-pgrepl-conn-") as tmp:
        workdir = Path(tmp)
        key = prepare_ssh(workdir)
        seconds: dict[str, list[float]] = {way: [] for way in WAYS}
        # Ways interleaved run by run, so a busy moment of the machine hits them alike.
        for _ in range(args.runs):
            for way in WAYS:
                seconds[way].append(run_once(way, args.tasks, workdir, key))
    result = {
        **common.header(),
        "hosts": hosts,
        "tasks": args.tasks,
        "runs": args.runs,
        "used": USED,
        "play_seconds": seconds,
        # One task runs on every host side by side (forks >= hosts): the cost of a task for the play.
        "ms_per_task": {w: round(1000 * statistics.median(s) / args.tasks, 1) for w, s in seconds.items()},
    }
    lines = [
        "# Connection benchmark",
        "",
        f"Measured {result['measured_at']} ({result['cpus']} CPUs): a play of {args.tasks} "
        f"`ansible.builtin.ping` tasks on the stand's {hosts} hosts, {args.runs} runs per way, interleaved; "
        "medians. Used by the stand and the scenarios: "
        f"`{USED}`.",
        "",
        "| way | ms per task (all hosts) | play seconds |",
        "| --- | --- | --- |",
    ]
    for way in WAYS:
        lines.append(
            f"| {way} | {result['ms_per_task'][way]} | {', '.join(f'{s:.1f}' for s in seconds[way])} |"
        )
    common.write("connection", result, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Helpers to run a module's main() in-process with a fake command runner, and to run
ansible-playbook from the project tree."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(Exception):
    def __init__(self, result: dict, failed: bool):
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


@dataclass
class FakeRunner:
    """Answers module.run_command calls through per-program handlers and records them."""

    handlers: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)
    envs: list = field(default_factory=list)

    def __call__(self, module, args, **kwargs):
        argv = list(args)
        self.calls.append(argv)
        self.envs.append(kwargs.get("environ_update") or {})
        for name, handler in self.handlers.items():
            if any(a == name or a.endswith("/" + name) for a in argv):
                return handler(argv, kwargs)
        return 0, "", ""

    def ran(self, name: str) -> list[list[str]]:
        return [c for c in self.calls if any(a == name or a.endswith("/" + name) for a in c)]


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, args, runner) -> (result, failed)."""

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise ModuleExit(kwargs, failed=False)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        kwargs["failed"] = True
        raise ModuleExit(kwargs, failed=True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def _run(main, args: dict, runner: FakeRunner | None = None, check_mode: bool = False):
        payload = dict(args)
        if check_mode:
            payload["_ansible_check_mode"] = True
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload})))
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
        if runner is not None:
            monkeypatch.setattr(
                basic.AnsibleModule,
                "run_command",
                lambda self, args, **kw: runner(self, args, **kw),  # noqa: PLW0108 -- binds self
            )
        with pytest.raises(ModuleExit) as exc:
            main()
        return exc.value.result, exc.value.failed

    return _run


ROOT = Path(__file__).resolve().parents[1]


def run_playbook(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """ansible-playbook ARGS as this repository runs it: its ansible.cfg and collections, no colour,
    only the callbacks the config names."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return subprocess.run(
        ["ansible-playbook", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load_role_file(role: str, name: str):
    """A Python program a role installs (roles/ROLE/files/NAME.py), imported as a module for its tests."""
    path = (
        Path(__file__).resolve().parents[1]
        / "collections/ansible_collections/otus/pgrepl/roles"
        / role
        / "files"
    )
    spec = importlib.util.spec_from_file_location(name, path / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would (dataclasses look the module up).
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

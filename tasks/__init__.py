"""invoke tasks for otus.pgrepl: `invoke --list` lists them, `invoke --help TASK` shows a task's options.

Each task is thin: it calls tools/ (the same code nox runs) and turns what
goes wrong into an Exit with a message that says what to do.
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke.collection import Collection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks import machine, stand  # noqa: E402

ns = Collection()
ns.add_collection(Collection("machine", prepare=machine.prepare, ensure=machine.ensure))
ns.add_collection(Collection("image", build=machine.build))
ns.add_collection(Collection("hosts", clean=machine.clean, list=machine.list_hosts))
ns.add_collection(Collection.from_module(stand, name="stand"))

"""Stand-in for the get-pip.py script ansible-test downloads before its sanity tests.

ansible-test fetches get-pip.py from ci-files.testing.ansible.com, which these
machines cannot reach (only the package registries are). This script does the
same job from what is here: pip from the standard library's bundled wheel
(ensurepip), then `pip install` of the packages ansible-test asked for, from
the package index pip is configured with. `nox -s lint` puts it where
ansible-test looks for its cached copy, in a HOME of the project's own.
"""

from __future__ import annotations

import runpy
import subprocess
import sys

# get-pip.py options that pip itself does not know.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main() -> None:
    # In a child process: ensurepip turns pip's configuration off in the process
    # it runs in (PIP_CONFIG_FILE=/dev/null), and the install below needs it
    # (index, certificates).
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True)
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    sys.argv = ["pip", "install", *args]
    runpy.run_module("pip", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

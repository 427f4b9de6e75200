"""Running the real `fcw` command in a subprocess, for the tests that drive the CLI."""
import os
import shutil
import subprocess
import sys

FCW = [shutil.which("fcw")] if shutil.which("fcw") else [sys.executable, "-m", "fcw"]


def fcw(*args, env_extra=None, timeout=300):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([*FCW, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)

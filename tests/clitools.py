"""Running the real `fcw` command in a subprocess, for the tests that drive the CLI."""
import os
import shutil
import subprocess
import sys

FCW = [shutil.which("fcw")] if shutil.which("fcw") else [sys.executable, "-m", "fcw"]

#: The one bound on how long a test waits for a subprocess, a thread or a window: a guard
#: against a hang, never a speed limit. The suite runs on shared two-core machines with both
#: cores kept busy by others; whatever takes seconds there still ends well within this.
HANG_S = 1800.0


def fcw(*args, env_extra=None, timeout=HANG_S):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([*FCW, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)

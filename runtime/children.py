"""What every child process of the server shares: it ends as soon as the server does.

The kernel sends the child SIGKILL when its parent dies (PR_SET_PDEATHSIG, Linux), and EOF on its
stdin (the parent's end of the pipe closing, on any system) ends it too. A child that outlived a
kill -9 of its server would keep what it holds: the embedded model's memory, the views' lock.
"""

import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Call first thing in a child started with a pipe on its stdin; `parent` is the server's pid."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the stdin watch below still ends the process
        pass
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(0)

    def watch() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        os._exit(0)  # no clean-up: what the child holds is released by its exit, and must not wait

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()

"""Programs a test runs as another user (nobody): a build tree or a clone
under a directory only its owner can enter (a clone in /root, mode 0700)
leaves that user unable to execute them (EACCES). reachable() hands back a
path the other user can execute: the file itself when it can already, else a
copy in a directory every user can enter, removed when the test exits."""

import atexit
import os
import shutil
import stat
import tempfile

_dir = None


def others_can_execute(path):
    """Every directory on the way has o+x, and the file o+x."""
    path = os.path.abspath(path)
    while True:
        try:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def reachable(path):
    """`path`, or a copy (mode 0755; a directory is copied whole) that
    others can execute."""
    global _dir
    if others_can_execute(path):
        return path
    if _dir is None:
        _dir = tempfile.mkdtemp(prefix="vmakit-reach-")
        os.chmod(_dir, 0o755)
        atexit.register(shutil.rmtree, _dir, True)
        if not others_can_execute(_dir):
            raise RuntimeError(f"{_dir}: not reachable by other users either (set TMPDIR)")
    dst = os.path.join(_dir, os.path.basename(path.rstrip("/")))
    if os.path.isdir(path):
        shutil.copytree(path, dst, dirs_exist_ok=True)
        for root, dirs, files in os.walk(dst):
            for n in dirs + files:
                os.chmod(os.path.join(root, n), 0o755)
        os.chmod(dst, 0o755)
    else:
        shutil.copy2(path, dst)
        os.chmod(dst, 0o755)
    return dst


def reachable_harness(harness):
    """The harness with its probes beside it (it finds them there)."""
    copy = reachable(harness)
    if copy != harness:
        probes = os.path.join(os.path.dirname(harness), "probes")
        if os.path.isdir(probes):
            reachable(probes)
    return copy

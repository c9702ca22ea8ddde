"""Data at rest: the data directory kept to its owner (0700, files 0600) unless the operator says otherwise.

The store holds member ids, questions and votes (bot/state.py), so it should not be readable by
other accounts on the machine. SQLite creates its WAL and SHM files with the process umask, and
numpy and bm25s write theirs the same way, so modes are set on the directory when it is created
and on every file after each write (`secure_files`), cheap for the handful of files there are.
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_data_dir(settings) -> Path:
    """Create the data directory (0700 when `private_files`); an existing one is tightened too."""
    d = Path(settings.data_dir)
    d.mkdir(parents=True, exist_ok=True)
    if settings.private_files:
        _chmod(d, DIR_MODE)
    return d


def secure_files(settings) -> None:
    """Every file under the data directory 0600 and every directory 0700 (when `private_files`)."""
    if not settings.private_files:
        return
    root = Path(settings.data_dir)
    if not root.is_dir():
        return
    _chmod(root, DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            _chmod(Path(dirpath) / name, DIR_MODE)
        for name in filenames:
            _chmod(Path(dirpath) / name, FILE_MODE)


def private_umask(settings) -> None:
    """For a process that is ours alone (the CLI, the bot): new files start private."""
    if settings.private_files:
        os.umask(0o077)


def _chmod(path: Path, mode: int) -> None:
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) == mode:
            return
        os.chmod(path, mode)
    except FileNotFoundError:
        pass  # a temporary file renamed away meanwhile
    except OSError as exc:
        log.warning("cannot restrict the permissions of %s: %s", path, exc.strerror)

"""The study's journal file, forced to disk once a generation rather than once a record.

Optuna's JournalFileBackend writes each record (a trial created, a parameter set, a value
told) under its lock and then calls fsync: about 100 fsyncs for a generation of 20 trials,
about 1 s of a 200-trial search here. `Journal` writes the same bytes the same way, at once
(other processes read them; a killed process loses none: they are in the file), and leaves
the fsync to `sync_all`, which the study calls when a generation's trials are asked, before
any of their runs exists, and when they are told. After a power loss the study is then at
worst a generation behind its runs: trials asked but not told stay RUNNING, and the next run
of the command tells them from their finished runs, or asks them again, as after a kill.
"""

from __future__ import annotations

import json
import os
import weakref
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock


class Journal(JournalFileBackend):
    """A JournalFileBackend (same records, file and lock) whose fsync waits for `sync_all`."""

    _opened: weakref.WeakSet[Journal] = weakref.WeakSet()

    def __init__(self, file_path: str) -> None:
        self.path, self.lock = file_path, JournalFileSymlinkLock(file_path)
        super().__init__(file_path, lock_obj=self.lock)
        self.unsynced = False
        Journal._opened.add(self)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        self.lock.acquire()
        try:
            with open(self.path, "ab") as f:
                f.write(text.encode("utf-8"))
        finally:
            self.lock.release()
        self.unsynced = True

    def sync(self) -> None:
        """Force what this process appended to disk."""
        if self.unsynced:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self.unsynced = False

    @classmethod
    def sync_all(cls) -> None:
        """`sync` every journal this process has open."""
        for journal in list(cls._opened):
            journal.sync()

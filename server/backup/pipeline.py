"""The stages of a backup's data path joined into one pipeline (see stages.py):

    SQL sections -> SectionFramer -> [byte stages ...] -> FileWriter -> the `.partial` file

The dump writes into `framer`; closing the pipeline ends the last section, closes each byte
stage in turn and makes the file durable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import BinaryIO

from server.backup.file_writer import FileWriter
from server.backup.manifest import Section
from server.backup.sections import SectionFramer
from server.backup.stages import ByteSink

# A byte stage is made around the sink it writes into.
ByteStage = Callable[[ByteSink], ByteSink]


class BackupPipeline:
    def __init__(
        self,
        out: BinaryIO,
        compression: str,
        *,
        level: int = 3,
        threads: int = 0,
        byte_stages: Sequence[ByteStage] = (),
    ) -> None:
        self.file = FileWriter(out)
        head: ByteSink = self.file
        for stage in reversed(byte_stages):
            head = stage(head)
        self._head = head
        self.framer = SectionFramer(head, compression, level=level, threads=threads)

    @property
    def sections(self) -> list[Section]:
        return self.framer.sections

    def close(self) -> str:
        """End the last section, close every stage, fsync; returns the file's SHA-256."""
        self.framer.end()
        self._head.close()
        return self.file.sha256

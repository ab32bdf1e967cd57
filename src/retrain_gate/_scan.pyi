import mmap
from typing import Any

def scan(
    buffer: bytes | bytearray | memoryview | mmap.mmap,
    field: str,
    frames_field: str | None,
    tolerance: float,
    /,
) -> tuple[Any, ...] | None: ...

# The compiled build's llhttp binding (_tokenizer.c); absent from a pure-Python install.
from typing import Any

LLHTTP_VERSION: str

def note_fields(names: tuple[bytes, ...]) -> None: ...

class Tokenizer:
    in_head: bool
    def __init__(self, protocol: Any, max_target: int, max_count: int, max_size: int, max_field: int) -> None: ...
    def feed_data(self, data: Any, room: int = -1, /) -> int: ...

"""wsgi.file_wrapper: a file the server may send with os.sendfile instead of iterating it."""


class FileWrapper:
    __slots__ = ("filelike", "blksize")

    def __init__(self, filelike, blksize: int = 65536):
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self):
        read = self.filelike.read
        blksize = self.blksize
        while True:
            data = read(blksize)
            if not data:
                return
            yield data

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()

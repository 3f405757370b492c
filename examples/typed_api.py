"""A small typed API: the view signatures are the contract and the OpenAPI document.

    python examples/typed_api.py                       # serve on 127.0.0.1:8000
    hatchway openapi examples.typed_api:app            # print the OpenAPI 3.1 document
    open http://127.0.0.1:8000/docs                    # interactive docs (pip install 'hatchway[docs]')
"""

import dataclasses
import importlib.util
import itertools
import threading
from typing import Annotated

from hatchway.web import App, Blueprint, abort
from hatchway.web.typed import Field, Header, Problem, Query

# The docs page needs the Swagger UI assets of the 'docs' extra; without them, only the JSON.
DOCS = "/docs" if importlib.util.find_spec("swagger_ui_bundle") else None

app = App(__name__, title="Notes API", version="1.0.0", openapi_url="/openapi.json", docs_url=DOCS)
notes = Blueprint("notes", url_prefix="/notes")


@dataclasses.dataclass
class NoteIn:
    title: Annotated[str, Field(min_length=1, max_length=80)]
    body: str = ""
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Note:
    id: int
    title: str
    body: str
    tags: list[str]


_store: dict[int, Note] = {}
_ids = itertools.count(1)
_lock = threading.Lock()


@notes.get("/")
def list_notes(tag: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[Note]:
    """List notes, newest first.

    Filter by one tag; at most `limit` notes are returned.
    """
    found = [n for n in reversed(_store.values()) if tag is None or tag in n.tags]
    return [dataclasses.asdict(n) for n in found[:limit]]


@notes.post("/", responses={201: Note})
def create_note(note: NoteIn, x_author: Annotated[str | None, Header()] = None):
    """Create a note."""
    with _lock:
        new = Note(next(_ids), note.title, note.body, note.tags + ([f"by:{x_author}"] if x_author else []))
        _store[new.id] = new
    return new, 201


@notes.get("/<int:id>", responses={404: Problem})
def get_note(id: int) -> Note:
    """Fetch one note."""
    if id not in _store:
        abort(404, f"no note {id}")
    return _store[id]


@notes.delete("/<int:id>", responses={204: None, 404: Problem})
def delete_note(id: int):
    """Delete a note."""
    if _store.pop(id, None) is None:
        abort(404, f"no note {id}")
    return "", 204


@app.get("/health", deprecated=True)
def health() -> dict:
    """Old liveness probe; use the server's own health endpoint."""
    return {"ok": True}


app.register_blueprint(notes)

if __name__ == "__main__":
    app.run("127.0.0.1", 8000)

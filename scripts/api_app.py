"""An API in the style users benchmark endpoint by endpoint, for `blast --openapi`.

Simple endpoints: async with a non-blocking sleep, async with a blocking sleep (the
anti-pattern that stalls the event loop), sync in the threadpool; items 1-2000 read and
written through a JSON body model with nested models and an enum; an upload endpoint whose
body is multipart (which blast cannot build, so it skips it and says why).

Bookkeeping for the tests, left out of the OpenAPI document:
GET /routes lists every documented "METHOD path"; GET /stats counts requests per route and
item ids outside 1-2000 (`misses`), per worker process.
"""
import asyncio
import enum
import time
from collections import Counter

from fastapi import FastAPI, Path, Query, Request
from pydantic import BaseModel, Field

app = FastAPI(title="blast test API", version="1")
counts: Counter = Counter()
ITEMS = 2000


def _seen(route: str, item_id: int | None = None) -> None:
    counts[route] += 1
    if item_id is not None and not 1 <= item_id <= ITEMS:
        counts["misses"] += 1


class Kind(str, enum.Enum):
    tool = "tool"
    part = "part"


class Tag(BaseModel):
    name: str = Field(min_length=3)
    note: str | None = None


class Item(BaseModel):
    name: str
    kind: Kind
    price: float = Field(gt=0)
    tags: list[Tag]
    stock: int = 1


ItemId = Path(ge=1, le=ITEMS)


@app.get("/api/simple/async/{item_id}")
async def simple_async(item_id: int = ItemId) -> dict:
    _seen("simple_async", item_id)
    await asyncio.sleep(0.001)
    return {"item_id": item_id}


@app.get("/api/simple/blocking/{item_id}")
async def simple_blocking(item_id: int = ItemId) -> dict:
    _seen("simple_blocking", item_id)
    time.sleep(0.001)
    return {"item_id": item_id}


@app.get("/api/simple/sync/{item_id}")
def simple_sync(item_id: int = ItemId) -> dict:
    _seen("simple_sync", item_id)
    return {"item_id": item_id}


@app.get("/api/items")
async def list_items(limit: int = Query(10, ge=1, le=100), kind: Kind | None = None) -> dict:
    _seen("list_items")
    return {"items": list(range(1, limit + 1)), "kind": kind}


@app.post("/api/items")
async def create_item(item: Item) -> dict:
    _seen("create_item")
    return {"created": item.name, "tags": len(item.tags)}


@app.get("/api/items/{item_id}", operation_id="read_item")
async def read_item(item_id: int = ItemId) -> dict:
    _seen("read_item", item_id)
    return {"item_id": item_id}


@app.post(
    "/api/upload",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": {"type": "object"}}},
        }
    },
)
async def upload(request: Request) -> dict:
    _seen("upload")
    return {"bytes": len(await request.body())}


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@app.get("/routes", include_in_schema=False)
async def routes() -> list:
    documented = [r for r in app.routes if getattr(r, "include_in_schema", False)]
    return sorted(f"{m} {r.path}" for r in documented for m in r.methods)


@app.get("/stats", include_in_schema=False)
async def stats() -> dict:
    return dict(counts)

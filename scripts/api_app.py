"""An API in the style users benchmark endpoint by endpoint, for `blast --openapi`.

Simple endpoints, each waiting SLEEP seconds: async with a non-blocking sleep, async with a
blocking sleep (the anti-pattern that stalls the event loop: one worker serves at most
1/SLEEP requests a second, one at a time), sync in the threadpool; items 1-2000 read and
written through a JSON body model with nested models and an enum; an upload endpoint whose
body is multipart (which blast cannot build, so it skips it and says why).

Database endpoints on SQLite in WAL mode (the file BLAST_API_DB names, default
/tmp/blast-api.db; `POST /seed` fills items 1-2000): async reads and writes through
aiosqlite, sync ones in the threadpool (a connection per thread), and the blocking-in-async
anti-pattern (the sqlite3 module called from an async endpoint). An item that is not in the
table is a 404, so reads of an unseeded database, or of ids blast made up, fail.

Bookkeeping for the tests, left out of the OpenAPI document:
GET /routes lists every documented "METHOD path"; GET /stats counts requests per route and
item ids outside 1-2000 (`misses`), per worker process, and the database's journal mode.
"""
import asyncio
import asyncio.base_events
import contextlib
import enum
import os
import socket
import sqlite3
import threading
import time
from collections import Counter

import aiosqlite
from fastapi import FastAPI, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field



def _nodelay(sock: socket.socket) -> None:
    """Uvicorn's `--workers N` hands its workers a listening socket whose `proto` is 0, and
    asyncio then leaves Nagle's algorithm on for every connection: each keep-alive response
    waits ~40 ms for the client's delayed ACK (uvicorn issue #3149; one worker is not
    affected). Every TCP connection gets TCP_NODELAY, so that 1 and N workers differ by their
    workers only."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


asyncio.base_events._set_nodelay = _nodelay

ITEMS = 2000
SLEEP = 0.005
DB = os.environ.get("BLAST_API_DB", "/tmp/blast-api.db")
counts: Counter = Counter()
db: dict = {}


def _open_sqlite() -> sqlite3.Connection:
    conn = sqlite3.connect(DB, timeout=10, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI):
    # WAL: readers do not wait for the writer. Each worker process opens its own connections.
    setup = _open_sqlite()
    setup.execute("PRAGMA journal_mode = WAL")
    setup.execute(
        "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, stock INTEGER)"
    )
    setup.close()
    db["async"] = await aiosqlite.connect(DB, timeout=10, isolation_level=None)
    await db["async"].execute("PRAGMA busy_timeout = 10000")
    # The aiosqlite connection is shared by every request of the worker: one statement or
    # transaction at a time. A read still stepping when another request's write begins would
    # hold a snapshot that the write cannot upgrade (SQLITE_BUSY at once, no busy wait).
    db["turn"] = asyncio.Lock()
    db["blocking"] = _open_sqlite()
    yield
    await db["async"].close()
    db["blocking"].close()


app = FastAPI(title="blast test API", version="1", lifespan=lifespan)
_local = threading.local()


def _thread_db() -> sqlite3.Connection:
    """The threadpool's connections: one per thread (sqlite3 connections stay in theirs)."""
    if not hasattr(_local, "conn"):
        _local.conn = _open_sqlite()
    return _local.conn


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
    await asyncio.sleep(SLEEP)
    return {"item_id": item_id}


@app.get("/api/simple/blocking/{item_id}")
async def simple_blocking(item_id: int = ItemId) -> dict:
    _seen("simple_blocking", item_id)
    time.sleep(SLEEP)
    return {"item_id": item_id}


@app.get("/api/simple/sync/{item_id}")
def simple_sync(item_id: int = ItemId) -> dict:
    _seen("simple_sync", item_id)
    time.sleep(SLEEP)
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


class Stock(BaseModel):
    delta: int = Field(ge=-5, le=5, examples=[1])


def _found(rows: list, item_id: int) -> dict:
    """The item from a statement's rows, all fetched: a statement still open would keep its
    transaction (and, for a write, the database's write lock) until the cursor is collected,
    and other connections would find the database locked."""
    if not rows:
        counts["db_missing"] += 1
        raise HTTPException(status_code=404, detail=f"no item {item_id}")
    row = rows[0]
    return {"id": row[0], "name": row[1], "stock": row[2]}


SELECT = "SELECT id, name, stock FROM items WHERE id = ?"
# Writes take the write lock first (BEGIN IMMEDIATE): a write that began as a read would
# find, when another connection had committed meanwhile, that its snapshot cannot become a
# write, and fail at once with "database is locked" instead of waiting its turn.
UPDATE = "UPDATE items SET stock = stock + ? WHERE id = ? RETURNING id, name, stock"


@app.post("/seed")
async def seed() -> dict:
    rows = [(i, f"item {i}", 100) for i in range(1, ITEMS + 1)]
    conn = db["async"]
    async with db["turn"]:
        await conn.execute("BEGIN IMMEDIATE")
        await conn.execute("DELETE FROM items")
        await conn.executemany("INSERT INTO items (id, name, stock) VALUES (?, ?, ?)", rows)
        await conn.execute("COMMIT")
    return {"items": ITEMS}


@app.get("/api/db/async/{item_id}")
async def db_async_read(item_id: int = ItemId) -> dict:
    _seen("db_async_read", item_id)
    async with db["turn"], db["async"].execute(SELECT, (item_id,)) as cursor:
        return _found(await cursor.fetchall(), item_id)


@app.post("/api/db/async/{item_id}")
async def db_async_write(stock: Stock, item_id: int = ItemId) -> dict:
    _seen("db_async_write", item_id)
    conn = db["async"]
    async with db["turn"]:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            async with conn.execute(UPDATE, (stock.delta, item_id)) as cursor:
                rows = await cursor.fetchall()
        finally:
            await conn.execute("COMMIT")
    return _found(rows, item_id)


@app.get("/api/db/sync/{item_id}")
def db_sync_read(item_id: int = ItemId) -> dict:
    _seen("db_sync_read", item_id)
    return _found(_thread_db().execute(SELECT, (item_id,)).fetchall(), item_id)


@app.post("/api/db/sync/{item_id}")
def db_sync_write(stock: Stock, item_id: int = ItemId) -> dict:
    _seen("db_sync_write", item_id)
    conn = _thread_db()
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(UPDATE, (stock.delta, item_id)).fetchall()
    finally:
        conn.execute("COMMIT")
    return _found(rows, item_id)


@app.get("/api/db/blocking/{item_id}")
async def db_blocking_read(item_id: int = ItemId) -> dict:
    _seen("db_blocking_read", item_id)
    return _found(db["blocking"].execute(SELECT, (item_id,)).fetchall(), item_id)


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@app.get("/routes", include_in_schema=False)
async def routes() -> list:
    documented = [r for r in app.routes if getattr(r, "include_in_schema", False)]
    return sorted(f"{m} {r.path}" for r in documented for m in r.methods)


@app.get("/stats", include_in_schema=False)
async def stats() -> dict:
    mode = db["blocking"].execute("PRAGMA journal_mode").fetchone()[0]
    return {**counts, "journal_mode": mode, "pid": os.getpid()}

"""The model server blast is usually pointed at: FastAPI with a /predict endpoint.

POST /predict (or GET) answers {"prediction": 0|1}, derived from the request body so that
it is deterministic; GET /health answers {"status": "ok"}.

GET /generate (or POST) streams like a generative model: server-sent events
`data: {"token": i}` after FIRST_MS milliseconds (the prompt's processing), then one every
DELAY_MS (decoding), then `data: [DONE]`; query parameters tokens (8), first_ms (50),
delay_ms (10). Its headers go out at once, before the first token, as model servers' do.
"""
import asyncio
import zlib

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

app = FastAPI()


def _predict(body: bytes) -> dict:
    return {"prediction": zlib.crc32(body) & 1}


@app.post("/predict")
async def predict(request: Request) -> dict:
    return _predict(await request.body())


@app.get("/predict")
async def predict_get() -> dict:
    return _predict(b"")


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


async def _tokens(tokens: int, first_ms: float, delay_ms: float):
    await asyncio.sleep(first_ms / 1000)
    for i in range(tokens):
        if i:
            await asyncio.sleep(delay_ms / 1000)
        yield f'data: {{"token": {i}}}\n\n'
    yield "data: [DONE]\n\n"


@app.api_route("/generate", methods=["GET", "POST"])
async def generate(tokens: int = 8, first_ms: float = 50, delay_ms: float = 10) -> StreamingResponse:
    return StreamingResponse(_tokens(tokens, first_ms, delay_ms), media_type="text/event-stream")

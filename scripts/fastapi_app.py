"""The model server blast is usually pointed at: FastAPI with a /predict endpoint.

POST /predict (or GET) answers {"prediction": 0|1}, derived from the request body so that
it is deterministic; GET /health answers {"status": "ok"}.
"""
import zlib

from fastapi import FastAPI, Request

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

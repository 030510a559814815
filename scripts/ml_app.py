"""A model API as Locust users load-test it: an image upload to /predict, several training
files to /upload_training_data, and an endpoint that fails a known share of its requests.

POST /predict takes one file (`file`, multipart) and answers {"prediction": 0|1, "bytes": N,
"sha256": HEX}: the prediction is the low bit of the upload's first SHA-256 byte, so any
change to the bytes on the way shows in the hash (the tests compare it with the file's).
POST /upload_training_data?label=L takes several files under one name (`files`) and answers
each one's size and hash. GET /flaky fails every FLAKY_EVERY-th request of the worker (default
10) with a 500 whose detail is "model overloaded". GET /health answers {"status": "ok"}.
"""
import hashlib
import itertools
import os

from fastapi import FastAPI, File, HTTPException, Query, UploadFile

app = FastAPI(title="blast ML API", version="1")
FLAKY_EVERY = int(os.environ.get("FLAKY_EVERY", "10"))
_flaky = itertools.count(1)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@app.post("/predict")
async def predict(file: UploadFile = File(...)) -> dict:
    data = await file.read()
    digest = hashlib.sha256(data).digest()
    return {
        "prediction": digest[0] & 1,
        "bytes": len(data),
        "sha256": digest.hex(),
        "filename": file.filename,
        "content_type": file.content_type,
    }


@app.post("/upload_training_data")
async def upload_training_data(
    label: str = Query(...), files: list[UploadFile] = File(...)
) -> dict:
    sizes, digests = [], []
    for f in files:
        data = await f.read()
        sizes.append(len(data))
        digests.append(_digest(data))
    return {"label": label, "files": len(files), "bytes": sizes, "sha256": digests}


@app.get("/flaky")
async def flaky() -> dict:
    if next(_flaky) % FLAKY_EVERY == 0:
        raise HTTPException(status_code=500, detail="model overloaded")
    return {"prediction": 1}


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}

"""A model API as Locust users load-test it: an image upload to /predict, several training
files to /upload_training_data, and an endpoint that fails a known share of its requests.

POST /predict takes one file (`file`, multipart) and answers {"prediction": 0|1, "bytes": N,
"sha256": HEX}: the prediction is the low bit of the upload's first SHA-256 byte, so any
change to the bytes on the way shows in the hash (the tests compare it with the file's).
POST /upload_training_data?label=L takes several files under one name (`files`) and answers
each one's size and hash. GET /flaky fails every FLAKY_EVERY-th request of the worker (default
10) with a 500 whose detail is "model overloaded". GET /health answers {"status": "ok"}.

A retraining job, as a user flow drives it (`blast --flow`): POST /retrain {"seconds": S}
answers {"job_id": ID, "status": "queued"} and the job is done S seconds later (default 0.5);
GET /retrain_jobs/ID answers {"status": "running"} until then, then {"status": "done",
"model": NAME}, where NAME holds a quote (a flow that puts it into a JSON body must escape
it); POST /retrain_jobs/ID/deploy {"model": NAME} answers 200 when NAME is the job's, else
409. An unknown ID is a 404. GET /retrain_stats counts jobs, polls, deploys, wrong models
and unknown IDs (the tests check that a flow never sends a wrong ID). The jobs live in the
process: serve it with one worker.
"""
import hashlib
import itertools
import os
import secrets
import time

from fastapi import Body, FastAPI, File, HTTPException, Query, UploadFile

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


_jobs: dict[str, dict] = {}
_retrain = {"created": 0, "polls": 0, "deployed": 0, "wrong_model": 0, "unknown_ids": 0}


def _job(job_id: str) -> dict:
    job = _jobs.get(job_id)
    if job is None:
        _retrain["unknown_ids"] += 1
        raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
    return job


@app.post("/retrain", status_code=202)
async def retrain(seconds: float = Body(0.5, embed=True)) -> dict:
    job_id = secrets.token_hex(4)
    _jobs[job_id] = {
        "done_at": time.monotonic() + seconds,
        "model": f'clf-{job_id} "v2"',
    }
    _retrain["created"] += 1
    return {"job_id": job_id, "status": "queued"}


@app.get("/retrain_jobs/{job_id}")
async def retrain_job(job_id: str) -> dict:
    job = _job(job_id)
    _retrain["polls"] += 1
    if time.monotonic() < job["done_at"]:
        return {"job_id": job_id, "status": "running"}
    return {"job_id": job_id, "status": "done", "model": job["model"]}


@app.post("/retrain_jobs/{job_id}/deploy")
async def deploy(job_id: str, model: str = Body(..., embed=True)) -> dict:
    job = _job(job_id)
    if model != job["model"]:
        _retrain["wrong_model"] += 1
        raise HTTPException(status_code=409, detail=f"job {job_id} trained {job['model']!r}")
    _retrain["deployed"] += 1
    return {"job_id": job_id, "deployed": model}


@app.get("/retrain_stats")
async def retrain_stats() -> dict:
    return _retrain

"""The Locust run that blast's --locust-csv is checked against (tests/real_servers.rs): users
that call /health and /flaky of scripts/ml_app.py in turn, with no wait, as a mix of the same
two targets does in blast. Run: locust -f scripts/locustfile.py --headless -u 2 -r 2 -t 3s
-H http://127.0.0.1:PORT --csv PREFIX
"""
from locust import HttpUser, constant, task


class ModelUser(HttpUser):
    wait_time = constant(0)

    @task
    def health(self) -> None:
        self.client.get("/health")

    @task
    def flaky(self) -> None:
        self.client.get("/flaky", name="flaky")

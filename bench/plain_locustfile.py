"""The reference for bench/load_generator.py: a plain FastHttpUser locustfile, as one would
hand-write it for this gateway — the same request as the harness's users (GET /api/users,
tenant Host, a bearer token), one task, no think time, no hooks."""

from locust import FastHttpUser, task

from harness.tokens import dev_minter

_TOKEN = dev_minter().mint("acme", "plain-user", ttl=3600)
_HEADERS = {"Host": "acme.app.example.com", "Accept": "application/json",
            "Authorization": f"Bearer {_TOKEN}"}


class PlainUser(FastHttpUser):
    @task
    def users(self) -> None:
        self.client.get("/api/users", headers=_HEADERS)

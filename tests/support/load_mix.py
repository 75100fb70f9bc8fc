"""A mixed read/write load on one experiment, from many concurrent clients, with accounting.

Each client loops for a bounded time over: set its own tag (a new key each time), set one of a
few hot tags every client fights over, delete one of its older tags, rename nothing (names are
unique), read the experiment, search, read by name, and now and then create an experiment.
Every acknowledged write is recorded so the caller can check the database holds exactly it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx

API = "/api/2.0/mlflow/experiments"
HOT_KEYS = ("hot-0", "hot-1", "hot-2", "hot-3")


@dataclass
class MixResult:
    experiment_id: str
    experiment_name: str
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    own_tags: dict[str, str] = field(default_factory=dict)  # key -> value, acknowledged
    deleted_tags: set[str] = field(default_factory=set)
    hot_values: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    created: dict[str, str] = field(default_factory=dict)  # name -> id

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, q: float, operation: str | None = None) -> float:
        values = sorted(
            v
            for op, vs in self.latencies.items()
            if operation is None or op == operation
            for v in vs
        )
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]


async def _client(
    client: httpx.AsyncClient, number: int, result: MixResult, deadline: float
) -> None:
    rng = random.Random(number)
    i = 0
    experiment_id = result.experiment_id

    async def call(operation: str, method: str, path: str, **kwargs: object) -> dict | None:  # type: ignore[type-arg]
        started = time.perf_counter()
        try:
            response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            result.errors.append(f"{operation}: transport {exc!r}")
            return None
        result.latencies[operation].append(time.perf_counter() - started)
        result.statuses[response.status_code] += 1
        if response.status_code != 200:
            result.errors.append(f"{operation}: {response.status_code} {response.text[:200]}")
            return None
        answer: dict = response.json()  # type: ignore[type-arg]
        return answer

    while time.monotonic() < deadline:
        i += 1
        key = f"c{number}-{i}"
        value = f"v{i}"
        body = {"experiment_id": experiment_id, "key": key, "value": value}
        if await call("set-tag", "POST", f"{API}/set-experiment-tag", json=body) is not None:
            result.own_tags[key] = value
        hot = rng.choice(HOT_KEYS)
        hot_value = f"c{number}-{i}"
        body = {"experiment_id": experiment_id, "key": hot, "value": hot_value}
        if await call("set-hot-tag", "POST", f"{API}/set-experiment-tag", json=body) is not None:
            result.hot_values[hot].add(hot_value)
        if i > 3 and i % 3 == 0:
            old = f"c{number}-{i - 3}"
            if old in result.own_tags:
                body = {"experiment_id": experiment_id, "key": old}
                deleted = await call(
                    "delete-tag", "POST", f"{API}/delete-experiment-tag", json=body
                )
                if deleted is not None:
                    result.deleted_tags.add(old)
        await call("get", "GET", f"{API}/get", params={"experiment_id": experiment_id})
        await call(
            "get-by-name",
            "GET",
            f"{API}/get-by-name",
            params={"experiment_name": result.experiment_name},
        )
        if i % 2 == 0:
            await call(
                "search",
                "POST",
                f"{API}/search",
                json={"max_results": 10, "filter": "tags.`hot-0` LIKE 'c%'"},
            )
        if i % 10 == 0:
            name = f"load-{number}-{i}"
            created = await call("create", "POST", f"{API}/create", json={"name": name})
            if created is not None:
                result.created[name] = created["experiment_id"]


async def warm_up(client: httpx.AsyncClient, timeout: float = 180) -> None:
    """Wait until every worker has loaded MLflow's in-process app (a few CPU-seconds each,
    on a background thread that competes with the event loop for the GIL meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            answers = await asyncio.gather(*(client.get("/version") for _ in range(16)))
        except httpx.HTTPError:
            await asyncio.sleep(0.5)  # stock MLflow sometimes drops connections while starting
            continue
        if all(a.status_code == 200 for a in answers) and time.perf_counter() - started < 1:
            return
        await asyncio.sleep(0.5)


async def run_mix(url: str, clients: int, seconds: float) -> MixResult:
    # Idle pooled connections expire on our side first: both servers (uvicorn) close a
    # connection idle for 5 s, and one reused at that instant fails with ReadError (seen once
    # under CI load, 2026-11-27: warm-up connections idle in the pool for 5 s). httpx's own
    # default expiry is those same 5 s.
    limits = httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await warm_up(client)
        name = f"load-target-{int(time.time() * 1000)}"
        created = await client.post(f"{API}/create", json={"name": name})
        created.raise_for_status()
        result = MixResult(created.json()["experiment_id"], name)
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(_client(client, n, result, deadline) for n in range(clients)))
        result.seconds = time.monotonic() - started
    return result

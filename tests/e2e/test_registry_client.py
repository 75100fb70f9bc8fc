"""The real MLflow client's registry calls, and 16 concurrent HTTP clients, on our server."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.support.servers import Server


@pytest.fixture
def client(core_server: Server) -> MlflowClient:
    return MlflowClient(core_server.url, registry_uri=core_server.url)


def test_client_registry_calls(client: MlflowClient) -> None:
    client.create_registered_model("client-model", tags={"team": "core"}, description="d")
    first = client.create_model_version("client-model", "s3://bucket/m", tags={"k": "v"})
    second = client.create_model_version("client-model", "s3://bucket/m2", description="two")
    assert (first.version, second.version) == ("1", "2")
    assert first.tags == {"k": "v"}

    client.transition_model_version_stage("client-model", "1", "Production")
    client.transition_model_version_stage("client-model", "2", "Production", True)
    assert client.get_model_version("client-model", "1").current_stage == "Archived"
    client.set_registered_model_alias("client-model", "champion", "2")
    assert client.get_model_version_by_alias("client-model", "champion").version == "2"
    model = client.get_registered_model("client-model")
    assert model.aliases == {"champion": "2"}
    assert model.tags == {"team": "core"}
    latest = client.get_latest_versions("client-model", stages=["Production"])
    assert [v.version for v in latest] == ["2"]

    found = client.search_registered_models("tags.team = 'core'")
    assert [m.name for m in found] == ["client-model"]
    versions = client.search_model_versions("name = 'client-model'", order_by=["version_number"])
    assert [v.version for v in versions] == ["1", "2"]
    assert client.get_model_version_download_uri("client-model", "2") == "s3://bucket/m2"

    client.rename_registered_model("client-model", "client-model-2")
    client.delete_model_version("client-model-2", "1")
    with pytest.raises(MlflowException, match="not found"):
        client.get_model_version("client-model-2", "1")
    client.delete_registered_model("client-model-2")
    with pytest.raises(MlflowException, match="not found"):
        client.get_registered_model("client-model-2")


def _post(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_sixteen_clients_creating_versions_of_one_model(core_server: Server) -> None:
    api = f"{core_server.url}/api/2.0/mlflow"
    assert _post(f"{api}/registered-models/create", {"name": "contended"})[0] == 200
    answers: list[tuple[int, dict[str, object]]] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def create() -> None:
        start.wait()
        for _ in range(4):
            answer = _post(
                f"{api}/model-versions/create", {"name": "contended", "source": "s3://b/c"}
            )
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=create) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [200] * 64, answers
    numbers = sorted(int(body["model_version"]["version"]) for _, body in answers)  # type: ignore[index]
    assert numbers == list(range(1, 65))

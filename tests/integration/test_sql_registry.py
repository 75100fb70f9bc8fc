"""The model registry on real databases, through the public library API and the SQL adapter."""

from __future__ import annotations

import threading

import pytest
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as MlflowRegistryStore

from mlflow_core import ErrorCode, MlflowCoreError
from mlflow_core.adapters.sql.database import mlflow_store_uri
from mlflow_core.domain.registry import RegistryTag
from mlflow_core.services.registry import RegistryService
from tests.support.databases import SharedDatabase


def _error(fn, *args, **kwargs) -> MlflowCoreError:
    with pytest.raises(MlflowCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def test_lifecycle_of_a_model_and_its_versions(registry: RegistryService) -> None:
    registry.create_registered_model("churn", [RegistryTag("team", "ds")], "predicts churn")
    for _ in range(3):
        registry.create_model_version("churn", "s3://bucket/churn", run_id="r" * 32)
    registry.transition_model_version_stage("churn", "1", "staging")
    registry.transition_model_version_stage("churn", "2", "Production")
    registry.transition_model_version_stage("churn", "3", "Production", True)
    assert registry.get_model_version("churn", "2").current_stage == "Archived"
    latest = registry.get_latest_versions("churn")
    assert [(v.version, v.current_stage) for v in latest] == [
        (1, "Staging"),
        (2, "Archived"),
        (3, "Production"),
    ]
    assert [v.version for v in registry.get_latest_versions("churn", ["production"])] == [3]

    registry.set_registered_model_alias("churn", "champion", "3")
    assert registry.get_model_version_by_alias("churn", "champion").aliases == ("champion",)
    assert registry.get_model_version_by_alias("churn", "LATEST").version == 3
    registry.set_model_version_tag("churn", "1", RegistryTag("k", "v"))
    registry.set_model_version_tag("churn", "1", RegistryTag("k", "w"))
    assert registry.get_model_version("churn", "1").tags == {"k": "w"}

    renamed = registry.rename_registered_model("churn", "churn-v2")
    assert renamed.aliases == {"champion": 3}
    assert registry.get_model_version("churn-v2", "1").tags == {"k": "w"}
    assert _error(registry.get_registered_model, "churn").error_code is (
        ErrorCode.RESOURCE_DOES_NOT_EXIST
    )

    registry.delete_model_version("churn-v2", "3")
    assert _error(registry.get_model_version, "churn-v2", "3").message == (
        "Model Version (name=churn-v2, version=3) not found"
    )
    assert registry.get_registered_model("churn-v2").aliases == {}
    # a deleted version's number is never reused
    assert registry.create_model_version("churn-v2", "s3://b/x").version == 4

    registry.delete_registered_model("churn-v2")
    assert registry.search_model_versions("name = 'churn-v2'").items == []
    registry.create_registered_model("churn-v2")
    assert registry.create_model_version("churn-v2", "s3://b/x").version == 1


def test_latest_versions_come_in_order_of_each_stages_first_version(
    registry: RegistryService,
) -> None:
    """MLflow keys latest versions by stage while walking versions in order: stage None
    (versions 1 and 3) comes before Staging (version 2) though its latest is newer. Checked
    against MLflow's SqlAlchemyStore by hand; every read path of ours must agree."""
    registry.create_registered_model("order", [RegistryTag("team", "x")])
    for _ in range(3):
        registry.create_model_version("order", "s3://bucket/order")
    registry.transition_model_version_stage("order", "2", "Staging")
    registry.set_model_version_tag("order", "3", RegistryTag("k", "v"))
    registry.set_registered_model_alias("order", "best", "2")
    expected = [(3, "None"), (2, "Staging")]

    latest = registry.get_latest_versions("order")
    assert [(v.version, v.current_stage) for v in latest] == expected
    assert [(v.tags, v.aliases) for v in latest] == [({"k": "v"}, ()), ({}, ("best",))]
    for model in (
        registry.get_registered_model("order"),
        registry.search_registered_models("name = 'order'").items[0],
    ):
        assert [(v.version, v.current_stage) for v in model.latest_versions] == expected
        assert model.latest_versions[0].tags == {"k": "v"}
        assert (model.tags, model.aliases) == ({"team": "x"}, {"best": 2})


def test_search_filters_orders_and_pages(registry: RegistryService) -> None:
    for index in range(5):
        name = f"model-{index}"
        registry.create_registered_model(name, [RegistryTag("parity", str(index % 2))])
        registry.create_model_version(name, f"s3://b/{index}", run_id=f"{index:032d}")
    prompt_tag = [RegistryTag("mlflow.prompt.is_prompt", "true")]
    registry.create_registered_model("Prompt", prompt_tag)
    # MLflow marks a prompt's versions too; version search leaves out names with such a tag.
    registry.create_model_version("Prompt", "s3://b/p", tags=prompt_tag)

    odd = registry.search_registered_models("tags.parity = '1'")
    assert [m.name for m in odd] == ["model-1", "model-3"]
    assert [m.name for m in registry.search_registered_models("name LIKE 'model-%'", 2)] == [
        "model-0",
        "model-1",
    ]
    names = [m.name for m in registry.search_registered_models(order_by=["name DESC"])]
    assert names == [f"model-{i}" for i in (4, 3, 2, 1, 0)]  # the prompt stays out
    prompts = registry.search_registered_models("tags.`mlflow.prompt.is_prompt` = 'true'")
    assert [m.name for m in prompts] == ["Prompt"]
    assert [m.name for m in registry.search_registered_models("name ILIKE 'MODEL-4'")] == [
        "model-4"
    ]

    first = registry.search_registered_models(max_results=3)
    assert first.next_page_token is not None
    rest = registry.search_registered_models(max_results=3, page_token=first.next_page_token)
    assert [m.name for m in [*first, *rest]] == [f"model-{i}" for i in range(5)]
    assert rest.next_page_token is None

    versions = registry.search_model_versions(f"run_id = '{3:032d}'")
    assert [(v.name, v.version) for v in versions] == [("model-3", 1)]
    assert len(registry.search_model_versions("source_path LIKE 's3://b/%'")) == 5
    assert len(registry.search_model_versions("version_number = 1")) == 5
    bad = _error(registry.search_model_versions, "version_number LIKE '1'")
    assert bad.message == "Invalid comparator for attribute version_number: LIKE"


def test_errors_answer_like_mlflow(registry: RegistryService) -> None:
    registry.create_registered_model("taken")
    assert _error(registry.create_registered_model, "taken").message == (
        "Registered Model (name=taken) already exists."
    )
    prompt_tags = [RegistryTag("mlflow.prompt.is_prompt", "true")]
    assert "MLflow does not allow creating a model and a prompt with the same name" in (
        _error(registry.create_registered_model, "taken", prompt_tags).message
    )
    registry.create_registered_model("other")
    clash = _error(registry.rename_registered_model, "other", "taken")
    assert clash.error_code is ErrorCode.RESOURCE_ALREADY_EXISTS
    assert registry.get_registered_model("other").name == "other"  # nothing half-done
    assert _error(registry.create_model_version, "nope", "s3://x").message == (
        "Registered Model with name=nope not found"
    )
    assert _error(registry.get_model_version_by_alias, "taken", "missing").error_code is (
        ErrorCode.INVALID_PARAMETER_VALUE
    )
    assert _error(registry.transition_model_version_stage, "taken", "1", "None", True).message == (
        "Model version transition cannot archive existing model versions because 'None' is not "
        "an Active stage. Valid stages are ['Staging', 'Production']"
    )


def test_concurrent_creates_get_distinct_consecutive_versions(registry: RegistryService) -> None:
    registry.create_registered_model("busy")
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def create(tagged: bool) -> None:
        # Creates with and without tags interleave: a store that writes the two kinds in
        # different orders (the model's row, then the version, or the reverse) deadlocks here.
        tags = [RegistryTag("t", "x")] if tagged else []
        start.wait()
        try:
            for _ in range(3):
                version = registry.create_model_version("busy", "s3://b/busy", tags=tags)
                results.append(version.version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i % 2 == 0,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == list(range(1, 49))


def test_mlflow_reads_what_we_wrote(
    registry: RegistryService, shared_database: SharedDatabase
) -> None:
    registry.create_registered_model("shared", [RegistryTag("a", "1")], "desc")
    registry.create_model_version("shared", "s3://b/1", tags=[RegistryTag("t", "x")])
    registry.create_model_version("shared", "s3://b/2")
    registry.transition_model_version_stage("shared", "2", "Production")
    registry.set_registered_model_alias("shared", "prod", "2")
    theirs = MlflowRegistryStore(mlflow_store_uri(shared_database.uri))
    try:
        model = theirs.get_registered_model("shared")
        assert model.tags == {"a": "1"}
        assert model.aliases == {"prod": 2}
        assert {v.version: v.current_stage for v in model.latest_versions} == {
            1: "None",
            2: "Production",
        }
        assert theirs.get_model_version("shared", 1).tags == {"t": "x"}
        # and the reverse: MLflow's next version continues our numbering
        assert theirs.create_model_version("shared", "s3://b/3").version == 3
    finally:
        theirs.engine.dispose()
    assert registry.get_model_version("shared", "3").source == "s3://b/3"

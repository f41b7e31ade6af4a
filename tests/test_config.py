"""pipeline.config: defaults, hokusai.toml, HOKUSAI_* variables, overrides, one error for all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.config import Settings, config_hash, load_settings, mlflow_uri
from pipeline.errors import ConfigError


def write_config(project: Path, text: str) -> Path:
    path = project / "hokusai.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_with_no_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})

    assert settings == Settings()
    assert settings.model.target == "target"
    assert settings.model.features == []
    assert (settings.model.task, settings.model.estimator, settings.model.primary_metric) == ("auto", "auto", "auto")
    assert settings.attestation.metric_family == "auto"  # all four resolved from the base data (modelling.task)
    assert settings.data.base == "data/base.csv"
    assert settings.data.benchmark == "data/benchmark.csv"
    assert settings.evaluation.seed == 42
    assert settings.evaluation.min_improvement_bps == 100  # DeltaVerifier's deployed threshold
    assert settings.evaluation.min_benchmark_rows == 50
    assert settings.attestation.network == "local" and settings.attestation.chain_id is None  # the network's
    assert settings.tracking.mlflow_uri == ""
    assert settings.metaflow.datastore == "local"


def test_values_come_from_hokusai_toml(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
[model]
target = "label"
features = ["a", "b"]
estimator = "random_forest"
params = { n_estimators = 10, max_depth = 3 }
primary_metric = "f1"

[evaluation]
seed = 3
min_benchmark_rows = 20

[tracking]
experiment = "mine"
""",
    )

    settings = load_settings(tmp_path, environ={})

    assert settings.model.target == "label"
    assert settings.model.features == ["a", "b"]
    assert settings.model.estimator == "random_forest"
    assert settings.model.params == {"n_estimators": 10, "max_depth": 3}
    assert settings.model.primary_metric == "f1"
    assert settings.evaluation.seed == 3
    assert settings.evaluation.min_benchmark_rows == 20
    assert settings.evaluation.min_improvement_bps == 100  # untouched field keeps its default
    assert settings.tracking.experiment == "mine"


def test_environment_beats_file_and_overrides_beat_environment(tmp_path: Path) -> None:
    write_config(tmp_path, "[evaluation]\nseed = 3\nmin_improvement_bps = 5\n")
    environ = {"HOKUSAI_EVALUATION__SEED": "7", "HOKUSAI_EVALUATION__MIN_BENCHMARK_ROWS": "11"}

    from_env = load_settings(tmp_path, environ=environ)
    overridden = load_settings(tmp_path, overrides={"evaluation": {"seed": 9}}, environ=environ)

    assert from_env.evaluation.seed == 7
    assert from_env.evaluation.min_benchmark_rows == 11
    assert from_env.evaluation.min_improvement_bps == 5  # file value of the same section kept
    assert overridden.evaluation.seed == 9
    assert overridden.evaluation.min_benchmark_rows == 11
    assert overridden.evaluation.min_improvement_bps == 5


def test_environment_values_parse_as_json_when_they_can(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path,
        environ={
            "HOKUSAI_MODEL__FEATURES": '["x", "y"]',
            "HOKUSAI_MODEL__PARAMS": '{"C": 0.5}',
            "HOKUSAI_MODEL__ESTIMATOR": "hist_gradient_boosting",
            "HOKUSAI_DATA__MAX_ROWS": "5000",
        },
    )

    assert settings.model.features == ["x", "y"]
    assert settings.model.params == {"C": 0.5}
    assert settings.model.estimator == "hist_gradient_boosting"
    assert settings.data.max_rows == 5000


def test_environment_values_of_text_fields_stay_text(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path,
        environ={
            "HOKUSAI_TRACKING__EXPERIMENT": "2024",
            "HOKUSAI_MODEL__TARGET": '"label"',
            "HOKUSAI_ATTESTATION__BENCHMARK_SPEC_ID": "1.50",
        },
    )

    assert settings.tracking.experiment == "2024"
    assert settings.model.target == "label"
    assert settings.attestation.benchmark_spec_id == "1.50"


def test_only_hokusai_section_variables_count(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={"HOKUSAI_SEED": "1", "OTHER_EVALUATION__SEED": "2"})

    assert settings.evaluation.seed == 42


def test_explicit_environ_ignores_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOKUSAI_EVALUATION__SEED", "5")

    assert load_settings(tmp_path, environ={}).evaluation.seed == 42
    assert load_settings(tmp_path, environ={"HOKUSAI_EVALUATION__SEED": "6"}).evaluation.seed == 6


def test_every_bad_field_is_reported_in_one_error(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        '[model]\nestimator = "svm"\n[evaluation]\nseed = "abc"\nmin_benchmark_rows = 0\n',
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})

    assert str(caught.value) == (
        "Invalid configuration in hokusai.toml: "
        "model.estimator: input should be 'auto', 'logistic_regression', 'ridge', 'random_forest' or "
        "'hist_gradient_boosting' (got 'svm'); "
        "evaluation.seed: input should be a valid integer, unable to parse string as an integer "
        "(got 'abc'); "
        "evaluation.min_benchmark_rows: input should be greater than or equal to 1 (got 0)."
    )
    assert caught.value.exit_code == 2


def test_bad_environment_values_name_the_variables_as_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            tmp_path,
            environ={"HOKUSAI_EVALUATION__SEED": "-1", "HOKUSAI_EVALUATION__SEDE": "1"},
        )

    assert str(caught.value) == (
        "Invalid configuration in the defaults + HOKUSAI_* variables: "
        "evaluation.seed: input should be greater than or equal to 0 (got -1); "
        "evaluation.sede: extra inputs are not permitted (got 1)."
    )


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[model\ntarget = 1\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})

    assert str(caught.value) == (
        f"{path} is not valid TOML (Expected ']' at the end of a table declaration "
        "(at line 1, column 7)); fix the syntax."
    )


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "other.toml"

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={}, config_file=missing)

    assert str(caught.value) == f"Config file {missing} does not exist; pass an existing file."


def test_explicit_config_file_is_read_instead_of_hokusai_toml(tmp_path: Path) -> None:
    write_config(tmp_path, "[evaluation]\nseed = 1\n")
    other = tmp_path / "other.toml"
    other.write_text("[evaluation]\nseed = 2\n", encoding="utf-8")

    assert load_settings(tmp_path, environ={}, config_file=other).evaluation.seed == 2


def test_target_listed_as_feature_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, '[model]\ntarget = "y"\nfeatures = ["a", "y"]\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})

    assert str(caught.value) == (
        "Invalid configuration in hokusai.toml: model: the target 'y' is also listed as a feature "
        "(got {'target': 'y', 'features': ['a', 'y']})."
    )


def test_a_custom_metric_may_not_take_a_built_in_name(tmp_path: Path) -> None:
    write_config(tmp_path, '[evaluation.custom_metrics.accuracy]\nfunction = "m:acc"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})

    assert str(caught.value) == (
        "Invalid configuration in hokusai.toml: evaluation.custom_metrics: 'accuracy' is the name of a "
        "built-in metric; give the custom metric another name (got {'accuracy': {'function': 'm:acc'}})."
    )


def test_an_unbounded_custom_metric_is_not_offered_as_primary(tmp_path: Path) -> None:
    write_config(tmp_path, '[model]\nprimary_metric = "cost"\n[evaluation.custom_metrics.cost]\nfunction = "m:cost"\n'
                 'direction = "lower"\n[evaluation.custom_metrics.hits]\nfunction = "m:hits"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})

    assert "use one of accuracy, balanced_accuracy, precision, recall, f1, auroc, r2, hits" in str(caught.value)
    assert ", cost" not in str(caught.value)


def test_config_hash_is_stable_and_follows_the_seed(tmp_path: Path) -> None:
    first = config_hash(load_settings(tmp_path, environ={}))
    again = config_hash(load_settings(tmp_path, environ={}))
    reseeded = config_hash(load_settings(tmp_path, environ={"HOKUSAI_EVALUATION__SEED": "7"}))
    other_tracking = config_hash(
        load_settings(tmp_path, overrides={"tracking": {"experiment": "elsewhere"}}, environ={})
    )

    assert re.fullmatch(r"0x[0-9a-f]{64}", first)
    assert first == again
    assert reseeded != first
    assert other_tracking == first  # tracking does not shape the evaluation


def test_mlflow_uri_defaults_to_sqlite_inside_the_project(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})

    assert mlflow_uri(settings, tmp_path) == f"sqlite:///{tmp_path.resolve()}/.hokusai/mlflow.db"


def test_mlflow_uri_configured_is_used_as_is(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path, environ={"HOKUSAI_TRACKING__MLFLOW_URI": "http://127.0.0.1:5000"}
    )

    assert mlflow_uri(settings, tmp_path) == "http://127.0.0.1:5000"

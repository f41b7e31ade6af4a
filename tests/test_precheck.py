"""Issue 10: bad input fails in the CLI's pre-check, before any run exists, and contributed
file paths follow one rule in every command (current folder first, then the project folder;
recorded relative to the project, or by file name alone when outside it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import DataError, ModelError
from tests.conftest import ALICE, BOB, FIXTURES, PROJECT_TOML, invoke, make_project

pytestmark = pytest.mark.timeout(120)


def flat(text: str) -> str:
    return " ".join(text.split())


def with_model(project: Path, lines: str) -> Path:
    """The project's hokusai.toml with `lines` added to its [model] section."""
    (project / "hokusai.toml").write_text(PROJECT_TOML.replace("[model]\n", f"[model]\n{lines}\n"))
    return project


def assert_no_run(project: Path) -> None:
    assert not (project / ".metaflow" / "HokusaiEvaluationFlow").exists()
    runs = invoke("runs", "--json", "--project", str(project))
    assert runs.exit_code == 0, runs.stderr
    assert json.loads(runs.stdout)["runs"] == []


# --- bad [model] params and features: refused before any run ----------------------------

BAD_PARAMS = [
    ("logistic_regression", 'C = "abc"',
     "model.params does not suit logistic_regression: The 'C' parameter of LogisticRegression must be a float in "
     "the range (0.0, inf]. Got 'abc' instead; fix the [model] params in hokusai.toml."),
    ("logistic_regression", "foo = 1",
     "model.params does not suit logistic_regression: LogisticRegression.__init__() got an unexpected keyword "
     "argument 'foo'; fix the [model] params in hokusai.toml."),
    ("random_forest", "n_estimators = 0",
     "model.params does not suit random_forest: The 'n_estimators' parameter of RandomForestClassifier must be an "
     "int in the range [1, inf). Got 0 instead; fix the [model] params in hokusai.toml."),
]


@pytest.mark.parametrize(("estimator", "params", "sentence"), BAD_PARAMS)
def test_bad_params_fail_before_any_run(tmp_path: Path, estimator: str, params: str, sentence: str) -> None:
    project = make_project(tmp_path)
    model = f'estimator = "{estimator}"\nparams = {{{params}}}'
    toml = PROJECT_TOML.replace('estimator = "logistic_regression"', model)
    (project / "hokusai.toml").write_text(toml)

    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}")

    assert result.exit_code == 2
    assert flat(result.stderr) == f"Error: {sentence}"
    assert "Traceback" not in result.stderr + result.stdout
    assert_no_run(project)


@pytest.mark.parametrize(
    ("estimator", "params"),
    [("logistic_regression", {"C": "abc"}), ("logistic_regression", {"foo": 1}), ("random_forest", {"n_estimators": 0}),
     ("hist_gradient_boosting", {"max_iter": -1}), ("random_forest", {"criterion": "nope"})],
)
def test_precheck_says_what_training_says(estimator: str, params: dict) -> None:
    """The pre-check's sentence is the one `fit` (the flow's training) raises on real data."""
    from pipeline.config import Settings
    from pipeline.modelling.models import fit
    from pipeline.validation import check_params

    base = pd.read_csv(FIXTURES / "base.csv")
    settings = Settings.model_validate({"model": {"estimator": estimator, "params": params}})
    with pytest.raises(ModelError) as trained:
        fit(estimator, params, 42, base.drop(columns="target"), base["target"])
    with pytest.raises(ModelError) as checked:
        check_params(settings)
    assert checked.value.message == trained.value.message


def test_good_params_and_a_baseline_file_pass_the_precheck() -> None:
    from pipeline.config import Settings
    from pipeline.validation import check_params

    check_params(Settings.model_validate({"model": {"params": {"C": 0.5, "class_weight": "balanced"}}}))
    check_params(Settings.model_validate({"model": {"estimator": "hist_gradient_boosting", "params": {"max_iter": 5}}}))
    # with a baseline model file the flow trains nothing from [model]: its params are not used
    check_params(Settings.model_validate({"model": {"params": {"C": "abc"}}, "data": {"baseline_model": "m.skops"}}))


def test_a_custom_metric_that_cannot_be_imported_fails_before_any_run(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    with (project / "hokusai.toml").open("a") as toml:
        toml.write('\n[evaluation.custom_metrics.recall_of_1]\nfunction = "nowhere_metrics:recall_of_1"\n')

    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        "Error: Custom metric 'nowhere_metrics:recall_of_1' cannot be imported (No module named 'nowhere_metrics'); give "
        "module:function on the project's Python path.")
    assert_no_run(project)


def test_feature_missing_from_base_fails_before_any_run(tmp_path: Path) -> None:
    project = with_model(make_project(tmp_path), 'features = ["mean_radius", "nope", "worst_area"]')

    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        "Error: data/base.csv: missing column(s) 'nope'; the model needs mean_radius, nope, worst_area, target.")
    assert "Traceback" not in result.stderr + result.stdout
    assert_no_run(project)


def test_missing_feature_sentence_is_the_one_of_load_baseline_model(tmp_path: Path) -> None:
    from pipeline.config import Settings
    from pipeline.data.inputs import prepare_run
    from pipeline.modelling.baseline import prepare_baseline

    project = with_model(make_project(tmp_path), 'features = ["nope"]')
    settings = Settings.model_validate({"model": {"features": ["nope"]}})
    base = ("data/base.csv", (project / "data" / "base.csv").read_bytes())
    with pytest.raises(DataError) as flow:
        prepare_baseline(settings, base, None)
    with pytest.raises(DataError) as checked:
        prepare_run(project, [str(project / "data" / "contrib_alice.csv")], dry_run=False)
    assert checked.value.message == flow.value.message == (
        "data/base.csv: missing column(s) 'nope'; the model needs nope, target.")


# --- one rule for contributed paths ------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A project, and a working folder outside it holding Bob's file: the current folder."""
    project = make_project(tmp_path / "project")
    here = tmp_path / "here"
    here.mkdir()
    shutil.copy(FIXTURES / "contrib_bob.parquet", here / "bob.parquet")
    monkeypatch.chdir(here)
    return {"project": project, "here": here}


def test_find_contribution_current_folder_first_then_project(layout: dict[str, Path]) -> None:
    from pipeline.data.inputs import contribution_name, find_contribution, flow_contribs

    project, here = layout["project"], layout["here"]
    assert find_contribution(project, "bob.parquet") == here / "bob.parquet"
    assert find_contribution(project, "data/contrib_alice.csv") == project / "data" / "contrib_alice.csv"
    assert find_contribution(project, "../project/data/base.csv") == project / "data" / "base.csv"
    # a file in the current folder shadows the project's file of the same relative path
    (here / "data").mkdir()
    shutil.copy(FIXTURES / "contrib_alice.csv", here / "data" / "contrib_alice.csv")
    assert find_contribution(project, "data/contrib_alice.csv") == here / "data" / "contrib_alice.csv"
    assert find_contribution(project, str(project / "data" / "base.csv")) == project / "data" / "base.csv"

    assert contribution_name(project, project / "data" / "base.csv") == "data/base.csv"
    assert contribution_name(project, here / "bob.parquet") == "bob.parquet"
    assert flow_contribs(project, [f"bob.parquet:{BOB}", "data/benchmark.csv", str(project / "data" / "base.csv")]) == [
        f"{here / 'bob.parquet'}:{BOB}", "data/benchmark.csv", "data/base.csv"]
    assert flow_contribs(project, ["contrib_alice.csv"], cwd=project / "data") == ["data/contrib_alice.csv"]


def test_folder_and_absolute_path_sentences(layout: dict[str, Path]) -> None:
    from pipeline.data.inputs import find_contribution

    project = layout["project"]
    with pytest.raises(DataError) as folder:
        find_contribution(project, "data")
    assert folder.value.message == "Contribution data: is a folder; give a file."
    with pytest.raises(DataError) as absolute:
        find_contribution(project, "/nowhere/x.csv")
    assert absolute.value.message == "Contribution /nowhere/x.csv: file not found; check the path."


def test_run_not_found_names_both_places(layout: dict[str, Path]) -> None:
    project, here = layout["project"], layout["here"]

    result = invoke("run", "--project", str(project), "--contrib", f"data/x.csv:{ALICE}")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        f"Error: Contribution data/x.csv: file not found in the current folder ({here}) or the project folder "
        f"({project}); check the path.")
    assert not (project / ".metaflow").exists()


def test_validate_not_found_names_both_places(layout: dict[str, Path]) -> None:
    project, here = layout["project"], layout["here"]

    result = invoke("validate", "--project", str(project), "data/x.csv")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        f"Error: File data/x.csv: file not found in the current folder ({here}) or the project folder "
        f"({project}); check the path.")


def test_validate_finds_files_in_the_current_folder_and_the_project(layout: dict[str, Path]) -> None:
    project, here = layout["project"], layout["here"]

    result = invoke("validate", "--project", str(project), "data/contrib_alice.csv", "bob.parquet", "--json")

    assert result.exit_code == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert [f["file"] for f in manifest["files"]] == ["data/contrib_alice.csv", "bob.parquet"]
    written = project / "data" / "contrib_alice.csv.manifest.json"  # next to the first file
    assert json.loads(written.read_text()) == manifest
    assert f"Manifest: {written}" in flat(result.stderr)
    assert str(here) not in result.stdout and str(project) not in result.stdout


def test_validate_from_a_subfolder_of_the_project(layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    project = layout["project"]
    monkeypatch.chdir(project / "data")

    result = invoke("validate", "--project", "..", "contrib_alice.csv", "--manifest", "m.json")

    assert result.exit_code == 0, result.stderr
    assert "│ data/contrib_alice.csv │ (no wallet) │     180 │" in result.stderr
    files = json.loads((project / "data" / "m.json").read_text())["files"]
    assert [f["file"] for f in files] == ["data/contrib_alice.csv"]


@pytest.mark.timeout(300)
def test_dry_run_from_outside_the_project(layout: dict[str, Path]) -> None:
    """The flow reads the same files the pre-check found, under the same names."""
    from pipeline.runs.runner import get_run

    project, here = layout["project"], layout["here"]

    result = invoke("dry-run", "--json", "--project", str(project),
                    "--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"bob.parquet:{BOB}")

    assert result.exit_code == 0, result.stderr[-3000:]
    run = get_run(project, json.loads(result.stdout)["run_id"])
    assert run.data.contrib_files == f"data/contrib_alice.csv:{ALICE},{here / 'bob.parquet'}:{BOB}"
    assert [f["file"] for f in run.data.data_manifest["files"]] == ["data/contrib_alice.csv", "bob.parquet"]
    assert [(c["file"], c["wallet"]) for c in run.data.contributions] == [
        ("data/contrib_alice.csv", ALICE), ("bob.parquet", BOB)]
    recorded = json.dumps([run.data.data_manifest, run.data.contributions, run.data.attestation], default=str)
    assert str(here) not in recorded and str(project) not in recorded


# --- the project's own files: checked before any run ------------------------------------


def test_a_benchmark_with_unknown_labels_fails_before_any_run(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    bench = pd.read_csv(project / "data" / "benchmark.csv")
    bench.loc[[3, 7], "target"] = 2
    bench.to_csv(project / "data" / "benchmark.csv", index=False)

    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        "Error: data/benchmark.csv: column 'target' has labels the baseline does not know (2) in rows 4, 8 (2 rows); "
        "use one of 0, 1.")
    assert_no_run(project)


def test_a_base_column_no_model_can_use_fails_before_any_run(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    base = pd.read_csv(project / "data" / "base.csv")
    base.insert(0, "passenger", [f"name {i}" for i in range(len(base))])
    base.to_csv(project / "data" / "base.csv", index=False)

    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        "Error: data/base.csv: column 'passenger' (a different text in every row: an ID or free text) cannot be "
        "used as a feature; list [model] features without it (or drop it from the file).")
    assert_no_run(project)


def test_a_benchmark_missing_a_class_fails_before_any_run(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    bench = pd.read_csv(project / "data" / "benchmark.csv")
    bench[bench["target"] == 1].to_csv(project / "data" / "benchmark.csv", index=False)

    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        "Error: The benchmark holds a single class; AUROC needs at least two: add rows of the other classes.")
    assert_no_run(project)


def test_a_continuous_target_under_a_classification_task_is_named(tmp_path: Path) -> None:
    """Before: `column 'target' has labels the baseline does not know (100, 103, …)` or
    scikit-learn's `Unknown label type: continuous` (exit 3). Now one sentence naming the target
    and the setting, before any run (with `task = "auto"` it is a regression: test_real_tables)."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame.round(6)
    (tmp_path / "data").mkdir()
    data.iloc[:40].to_csv(tmp_path / "data" / "base.csv", index=False)
    data.iloc[40:140].to_csv(tmp_path / "data" / "benchmark.csv", index=False)
    data.iloc[140:].to_csv(tmp_path / "data" / "more.csv", index=False)
    (tmp_path / "hokusai.toml").write_text('[model]\ntarget = "target"\ntask = "multiclass"\n')

    result = invoke("run", "--project", str(tmp_path), "--contrib", f"data/more.csv:{ALICE}")

    assert result.exit_code == 2
    distinct = data.iloc[:40]["target"].nunique()
    assert flat(result.stderr) == (
        f"Error: data/base.csv: the target 'target' holds {distinct} different numbers in 40 rows, a quantity "
        'rather than classes, but [model] task = "multiclass"; set task = "regression" (or "auto"), or set [model] '
        "target to a column of classes.")
    assert_no_run(project=tmp_path)


def test_an_estimator_or_metric_that_does_not_suit_the_task_is_named(tmp_path: Path) -> None:
    from pipeline.config import Settings
    from pipeline.errors import ConfigError
    from pipeline.modelling.task import resolve_settings

    with pytest.raises(ConfigError) as caught:
        resolve_settings(Settings.model_validate({"model": {"estimator": "logistic_regression"}}), "regression")
    assert caught.value.message == ("[model] estimator logistic_regression does not suit a regression task; use one of "
                                    'ridge, random_forest, hist_gradient_boosting (or "auto").')
    with pytest.raises(ConfigError) as caught:
        resolve_settings(Settings.model_validate({"model": {"primary_metric": "accuracy"}}), "regression")
    assert caught.value.message == ("[model] primary_metric accuracy is a metric of classification, but the task is "
                                    "regression; use one of r2, explained_variance, rmse, mae, mape (or a custom metric).")
    resolved = resolve_settings(Settings(), "regression")
    assert (resolved.model.estimator, resolved.model.primary_metric, resolved.attestation.metric_family) == (
        "ridge", "r2", "continuous")
    resolved = resolve_settings(Settings(), "binary")
    assert (resolved.model.estimator, resolved.model.primary_metric, resolved.attestation.metric_family) == (
        "logistic_regression", "accuracy", "proportion")


@pytest.mark.timeout(120)
def test_the_precheck_imports_no_model_library(tmp_path: Path) -> None:
    """The demo dry-run's pre-check (a baseline model file, so no [model] params to check)
    reads base and benchmark but leaves the model file to the flow: the command imports no
    scikit-learn, skops or mlflow (they cost 1.5 s there)."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from pipeline.validation import check_run; "
            "check_run(Path('.'), [], True); "
            "print(sorted(m for m in ('sklearn', 'skops', 'mlflow', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"

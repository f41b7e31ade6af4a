"""A baseline's passed checks remembered by content (`pipeline.modelling.model_checks`): a
later run takes the estimator and classes from the record without importing scikit-learn or
skops, and `train_new_model` still loads and checks the model and catches a lying record."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
import sys
from pathlib import Path

import pytest

from pipeline.config import STATE_DIR, Settings
from pipeline.errors import ModelError
from pipeline.modelling import model_checks
from pipeline.modelling.baseline import ModelInfo, baseline_for_training, prepare_baseline
from tests.conftest import FIXTURES

SETTINGS = Settings.model_validate({})
BASE = ("base.csv", (FIXTURES / "base.csv").read_bytes())
MODEL = ("baseline.skops", (FIXTURES / "baseline.skops").read_bytes())


def project(tmp_path: Path) -> Path:
    (tmp_path / STATE_DIR).mkdir()
    return tmp_path


def records(folder: Path) -> list[Path]:
    return sorted((folder / STATE_DIR / model_checks.FOLDER).glob("*.json"))


def test_a_passed_check_is_recorded_and_recalled_with_the_same_info(tmp_path: Path) -> None:
    folder = project(tmp_path)
    checked = prepare_baseline(SETTINGS, BASE, MODEL, folder)
    assert len(records(folder)) == 1
    recalled = prepare_baseline(SETTINGS, BASE, MODEL, folder)
    assert recalled.info == checked.info == ModelInfo(
        "file:baseline.skops", "logistic_regression", checked.info.sha256, [0, 1], None)
    assert recalled.classes == [0, 1] and recalled.model_bytes == MODEL[1]
    record = json.loads(records(folder)[0].read_text())
    assert record["estimator"] == "logistic_regression" and record["classes"] == [0, 1]
    assert record["key"]["model_sha256"] == checked.info.sha256


@pytest.mark.timeout(120)
def test_a_recalled_baseline_imports_neither_scikit_learn_nor_skops(tmp_path: Path) -> None:
    folder = project(tmp_path)
    prepare_baseline(SETTINGS, BASE, MODEL, folder)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pipeline.config import Settings\n"
        "from pipeline.modelling.baseline import prepare_baseline\n"
        f"fixtures = Path({str(FIXTURES)!r})\n"
        "b = prepare_baseline(Settings.model_validate({}), ('base.csv', (fixtures / 'base.csv').read_bytes()),\n"
        "                     ('baseline.skops', (fixtures / 'baseline.skops').read_bytes()), Path(sys.argv[1]))\n"
        "print(b.info.estimator, b.classes, sorted(m for m in ('sklearn', 'skops', 'scipy') if m in sys.modules))\n"
    )
    hit = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=100)
    assert hit.stdout.split("\n")[0] == "logistic_regression [0, 1] []", hit.stderr
    miss = subprocess.run([sys.executable, "-c", code, str(tmp_path / "elsewhere")], capture_output=True, text=True,
                          timeout=100)
    assert miss.stdout.split("\n")[0] == "logistic_regression [0, 1] ['scipy', 'sklearn', 'skops']", miss.stderr


def test_another_model_or_another_checked_row_is_checked_again(tmp_path: Path) -> None:
    """The key holds the model's bytes and the base row it predicted: either changed, the
    baseline is loaded and checked again and gets a record of its own."""
    import pandas as pd

    from pipeline.modelling.models import dump_model, fit

    folder = project(tmp_path)
    first = prepare_baseline(SETTINGS, BASE, MODEL, folder)
    rows = pd.read_csv(FIXTURES / "base.csv")
    swapped = ("base.csv", rows.iloc[[1, 0, *range(2, len(rows))]].to_csv(index=False).encode())
    prepare_baseline(SETTINGS, swapped, MODEL, folder)
    assert len(records(folder)) == 2
    features = list(first.schema.features)
    refit = dump_model(fit("logistic_regression", {}, 1, rows[features], rows["target"], {}, False, "binary"))
    other = prepare_baseline(SETTINGS, BASE, ("other.skops", refit), folder)
    assert len(records(folder)) == 3 and other.info.sha256 != first.info.sha256
    narrower = replace(first.schema, features=first.schema.features[:-1])
    assert model_checks.key_of("0x1", narrower, "0x2") != model_checks.key_of("0x1", first.schema, "0x2")


def test_a_killed_writers_old_temporary_file_is_swept(tmp_path: Path) -> None:
    import os

    folder = project(tmp_path)
    (folder / STATE_DIR / model_checks.FOLDER).mkdir()
    old = folder / STATE_DIR / model_checks.FOLDER / ".abc.json.1.tmp"
    young = old.with_name(".abc.json.2.tmp")
    old.write_text("{")
    young.write_text("{")
    os.utime(old, (1_000_000, 1_000_000))
    prepare_baseline(SETTINGS, BASE, MODEL, folder)
    assert not old.exists() and young.exists() and len(records(folder)) == 1


def test_no_record_is_written_outside_a_project_and_a_damaged_one_is_a_miss(tmp_path: Path) -> None:
    prepare_baseline(SETTINGS, BASE, MODEL, tmp_path)  # no .hokusai here (a step on Kubernetes)
    assert not (tmp_path / STATE_DIR).exists()
    folder = project(tmp_path)
    prepare_baseline(SETTINGS, BASE, MODEL, folder)
    (path,) = records(folder)
    path.write_text("{not json")
    assert prepare_baseline(SETTINGS, BASE, MODEL, folder).info.estimator == "logistic_regression"
    assert json.loads(path.read_text())["classes"] == [0, 1]  # checked again and written again


def test_classes_json_would_change_are_not_recorded(tmp_path: Path) -> None:
    folder = project(tmp_path)
    key = model_checks.key_of("0x" + "1" * 64, prepare_baseline(SETTINGS, BASE, None).schema, "0x1")
    model_checks.remember(folder, key, model_checks.Checked("x", [(1, 2), "a"]))  # a tuple comes back a list
    assert model_checks.recall(folder, key) is None


def test_a_record_that_lies_is_refused_when_the_model_is_loaded(tmp_path: Path) -> None:
    folder = project(tmp_path)
    prepare_baseline(SETTINGS, BASE, MODEL, folder)
    (path,) = records(folder)
    record = json.loads(path.read_text())
    record["classes"] = [0, 2]
    path.write_text(json.dumps(record))
    baseline = prepare_baseline(SETTINGS, BASE, MODEL, folder)
    assert baseline.classes == [0, 2]  # taken from the record ...
    with pytest.raises(ModelError) as refused:  # ... and caught where the model is loaded
        baseline_for_training(baseline.model_bytes, baseline.info, baseline.base_data, baseline.schema,
                              SETTINGS.model, 0)
    assert refused.value.message == (
        "baseline.skops: the model is a logistic_regression of classes [0, 1], but the run used logistic_regression "
        "of classes [0, 2] from a damaged record of its checks; delete .hokusai/model-checks and run again.")


def test_the_oldest_records_beyond_the_cap_are_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    folder = project(tmp_path)
    monkeypatch.setattr(model_checks, "MAX_ENTRIES", 3)
    keys = [{"n": i} for i in range(5)]
    for age, key in enumerate(keys):
        model_checks.remember(folder, key, model_checks.Checked("e", [age]))
        os.utime(model_checks._path(folder, key), (1_000_000 + age,) * 2)  # written in this order
    assert [model_checks.recall(folder, k) is not None for k in keys] == [False, False, True, True, True]

"""`hokusai init`: the files it writes, their content, refusal to overwrite, and a real run
of the multiclass (wine) example right after it."""

from __future__ import annotations

import json
import re
import tomllib

import pandas as pd
import pytest

from pipeline.config import Settings, load_settings
from pipeline.scaffold import DATA_FILES, EXAMPLES, GITIGNORE_LINES, WINE_SPLIT, config_text, init_project
from tests.conftest import ALICE, BOB, FIXTURES, invoke

KEY_LINE = re.compile(r"^(?:# )?(?P<key>\w+) = .*\S\s+# \S")


def test_example_choices_match_the_library():
    from hokusai_cli.init import ExampleName

    assert [e.value for e in ExampleName] == list(EXAMPLES)


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_config_lists_every_key_with_a_comment(example):
    text = config_text(EXAMPLES[example])
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
        elif current and (match := KEY_LINE.match(line)):
            sections[current].append(match["key"])
    expected = {name: list(holder.annotation.model_fields) for name, holder in Settings.model_fields.items()}
    assert sections == expected
    parsed = tomllib.loads(text)
    assert parsed["attestation"]["benchmark_spec_id"] == EXAMPLES[example].benchmark_spec_id
    assert {k: parsed["data"][k] for k in ("base", "benchmark", "baseline_model")} == {
        "base": "data/base.csv", "benchmark": "data/benchmark.csv", "baseline_model": ""}
    Settings.model_validate(parsed)  # the file as written is valid
    assert "# max_rows = 5000" in text  # unset keys are shown commented out


def test_breast_cancer_project_holds_the_bundled_demo(tmp_path):
    scaffold = init_project(tmp_path / "demo")
    root = tmp_path / "demo"
    assert scaffold.written == ["hokusai.toml", *DATA_FILES, ".gitignore"]
    for name in DATA_FILES:
        assert (root / name).read_bytes() == (FIXTURES / name.split("/")[1]).read_bytes()
    settings = load_settings(root)
    assert settings.model.target == "target" and settings.model.estimator == "auto"  # resolved per run: logistic_regression
    assert settings.attestation.benchmark_spec_id == "hokusai-demo-breast-cancer-v1"
    assert scaffold.contributions == [("data/contrib_alice.csv", ALICE), ("data/contrib_bob.parquet", BOB)]
    assert (root / ".gitignore").read_text().splitlines()[1:] == list(GITIGNORE_LINES)


def test_wine_split_is_stratified_disjoint_and_deterministic(tmp_path):
    init_project(tmp_path / "a", "wine")
    init_project(tmp_path / "b", "wine")
    for name in ("hokusai.toml", *DATA_FILES):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    root = tmp_path / "a"
    parts = {name: pd.read_csv(root / "data" / f"{name}.csv") for name in WINE_SPLIT}
    parts["contrib_bob"] = pd.read_parquet(root / "data" / "contrib_bob.parquet")
    assert {k: len(v) for k, v in parts.items()} == {"benchmark": 70, "base": 12, "contrib_alice": 50, "contrib_bob": 46}
    for name, frame in parts.items():
        assert sorted(frame["target"].unique()) == [0, 1, 2], name
        assert "od280_od315_of_diluted_wines" in frame.columns and len(frame.columns) == 14
    everything = pd.concat(parts.values())
    assert len(everything.drop_duplicates()) == 178  # every wine row once: no leak into the benchmark
    assert parts["base"]["target"].value_counts().to_dict() == {1: 5, 0: 4, 2: 3}


def test_init_refuses_to_overwrite_then_force(tmp_path):
    root = tmp_path / "demo"
    assert invoke("init", str(root)).exit_code == 0
    (root / "hokusai.toml").write_text("# mine\n")
    result = invoke("init", str(root), "--example", "wine")
    assert result.exit_code == 2
    assert result.stderr.replace("\n", " ").startswith(
        f"Error: {root} already holds hokusai.toml, data/base.csv, data/benchmark.csv, data/contrib_alice.csv, "
        "data/contrib_bob.parquet; pass --force to overwrite them, or choose another folder."
    )
    assert (root / "hokusai.toml").read_text() == "# mine\n"  # nothing written
    assert (root / "data" / "base.csv").read_bytes() == (FIXTURES / "base.csv").read_bytes()
    result = invoke("init", str(root), "--example", "wine", "--force")
    assert result.exit_code == 0, result.stderr
    assert "hokusai-example-wine-v1" in (root / "hokusai.toml").read_text()
    assert len(pd.read_csv(root / "data" / "benchmark.csv")) == 70


def test_existing_gitignore_is_extended_not_replaced(tmp_path):
    (tmp_path / ".gitignore").write_text("node_modules/\n.hokusai/")
    scaffold = init_project(tmp_path)
    assert scaffold.gitignore == "updated"
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules/", ".hokusai/"]
    assert lines[2] == "# hokusai" and ".hokusai/" not in lines[3:]
    assert set(GITIGNORE_LINES) <= set(lines)
    assert init_project(tmp_path, force=True).gitignore == "unchanged"


def test_init_into_a_file_and_unknown_example(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    result = invoke("init", str(target))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    result = invoke("init", str(tmp_path / "p"), "--example", "mnist")
    assert result.exit_code == 2 and "mnist" in result.stderr
    assert not (tmp_path / "p").exists()


def test_init_prints_next_steps(tmp_path):
    result = invoke("init", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"Created a project in {tmp_path / 'demo'} from the breast-cancer example" in result.stderr.replace("\n", " ")
    assert f"  cd {tmp_path / 'demo'}\n" in result.stderr
    assert f"    --contrib data/contrib_alice.csv:{ALICE} \\\n" in result.stderr
    assert f"    --contrib data/contrib_bob.parquet:{BOB}\n" in result.stderr


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("wine") / "wine"
    assert invoke("init", str(root), "--example", "wine").exit_code == 0
    result = invoke("run", "--project", str(root), "--json",
                    "--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"data/contrib_bob.parquet:{BOB}")
    assert result.exit_code == 0, result.stderr[-3000:]
    return root, json.loads(result.stdout), result.stderr


@pytest.mark.timeout(600)
def test_wine_project_runs_right_after_init(wine_run):
    from pipeline.modelling.models import fit

    root, summary, stderr = wine_run
    metrics = {m["metric"]: m for m in summary["metrics"]}
    base = pd.read_csv(root / "data" / "base.csv")
    bench = pd.read_csv(root / "data" / "benchmark.csv")
    train = pd.concat([base, pd.read_csv(root / "data" / "contrib_alice.csv"),
                       pd.read_parquet(root / "data" / "contrib_bob.parquet")])
    X = lambda frame: frame.drop(columns="target")  # noqa: E731
    for which, frame in (("baseline", base), ("candidate", train)):
        model = fit("logistic_regression", {}, 42, X(frame), frame["target"])
        assert metrics["accuracy"][which] == (model.predict(X(bench)) == bench["target"]).mean()
    assert (metrics["accuracy"]["baseline_bps"], metrics["accuracy"]["candidate_bps"]) == (8857, 9714)
    assert summary["deltaone_bps"] == 857 and summary["gate_passed"] is True
    assert [(c["wallet"], c["rows"]) for c in summary["contributors"]] == [(ALICE, 50), (BOB, 46)]
    assert sum(c["weight_bps"] for c in summary["contributors"]) == 10000
    assert "│ accuracy *" in stderr

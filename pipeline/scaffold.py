"""`hokusai init`: write a working project — `hokusai.toml` with every key commented, a
`data/` folder split from a real dataset bundled in scikit-learn (base, benchmark and two
sample contributions), and a `.gitignore` — so that `hokusai run` works right after.

Nothing is written until every file is ready and no existing file would be overwritten
(unless `force`). The examples are deterministic: the same command gives the same bytes."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InputError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CONFIG_FILE = "hokusai.toml"


@dataclass(frozen=True)
class Example:
    name: str
    task: str  # "binary" | "multiclass"
    dataset: str
    benchmark_spec_id: str
    description: str


EXAMPLES: dict[str, Example] = {
    "breast-cancer": Example(
        "breast-cancer", "binary", "scikit-learn's breast cancer data (569 rows, 30 features, 2 classes)",
        "hokusai-demo-breast-cancer-v1", "malignant vs benign tumours",
    ),
    "wine": Example(
        "wine", "multiclass", "scikit-learn's wine data (178 rows, 13 features, 3 classes)",
        "hokusai-example-wine-v1", "which of three cultivars a wine comes from",
    ),
}
DEFAULT_EXAMPLE = "breast-cancer"
#: Wine split (rows, stratified by class); what is left after these goes to bob.
WINE_SPLIT = {"benchmark": 70, "base": 12, "contrib_alice": 50}
DATA_FILES = ("data/base.csv", "data/benchmark.csv", "data/contrib_alice.csv", "data/contrib_bob.parquet")
GITIGNORE_LINES = (".metaflow/", ".hokusai/", "mlruns/", "mlflow.db", "__pycache__/", "*.attestation.json")

#: One comment per key of hokusai.toml; keys added to the settings later fall back to the
#: field's own description, so the written file always lists every key.
SECTION_COMMENTS = {
    "model": "What is trained and how it is scored.",
    "data": "Where the data live (paths are relative to this folder).",
    "evaluation": "Determinism and the DeltaOne gate.",
    "attestation": "What `hokusai attest` puts in the EIP-712 MintRequest for the DeltaVerifier.",
    "tracking": "MLflow: where every evaluation is recorded.",
    "metaflow": "Where Metaflow keeps runs and artifacts.",
}
KEY_COMMENTS = {
    "model": {
        "id": "model id on chain (uint256)",
        "target": "label column",
        "features": "feature columns; empty = every column but the target",
        "task": "auto (decided from the target, and said), binary, multiclass or regression",
        "estimator": "auto = logistic_regression (classes) or ridge (regression); random_forest, hist_gradient_boosting",
        "categorical": "features that are categories although written as numbers (codes)",
        "params": "hyper-parameters for the estimator, e.g. {C = 0.5}",
        "primary_metric": "the DeltaOne metric; auto = accuracy (classes) or r2 (regression)",
    },
    "data": {
        "base": "base training data (CSV, TSV, JSON, JSONL or Parquet)",
        "benchmark": "held-out benchmark rows; never trained on",
        "baseline_model": "a .skops file; empty = train the baseline from the base data",
        "max_rows": "cap on rows read per file (dry-run sets 5000)",
        "benchmark_sha256": "the benchmark's pin, sha256:<hex> (`hokusai benchmark pin` writes it)",
        "id_column": "a column naming who each row is about: contamination and duplicates by id",
        "missing": "empty feature values: impute (the estimator fills them) or refuse",
    },
    "evaluation": {
        "seed": "seed of every estimator and sample: same inputs + seed = same results",
        "min_improvement_bps": "gate: DeltaOne in bps must reach this (100 bps = 1 pp)",
        "min_benchmark_rows": "gate: the benchmark must have at least this many rows",
        "guardrails": "add [[evaluation.guardrails]] tables: metric, threshold, direction, blocking",
        "max_drop_bps": "gate: no secondary metric or class recall may fall more than this (bps)",
    },
    "attestation": {
        "network": "DeltaVerifier targeted: local (31337), sepolia (11155111) or mainnet (1)",
        "chain_id": "override of the network's EIP-712 chainId",
        "verifying_contract": "override of the network's DeltaVerifier address",
        "benchmark_spec_id": "names the benchmark; its keccak256 is benchmarkSpecHash",
        "metric_family": "metricFamily in the attestation anchors; auto = the primary metric's family",
        "deadline_days": "a signed attestation expires this many days after `hokusai attest`",
        "max_cost_usd_micro": "maxCostUsdMicro: the budget of one evaluation in micro-USD (0 = none)",
        "actual_cost_usd_micro": "override: a cost measured elsewhere; 0 = CPU-seconds x usd_per_cpu_hour",
        "baseline_commitment": "override: must equal the model's on-chain head (0x + 64 hex)",
        "commitment": "skops-sha256, or mlflow-merkle-v1 to commit as Hokusai's pipeline does (MLflow model folder)",
    },
    "tracking": {
        "mlflow_uri": "empty = sqlite:///<project>/.hokusai/mlflow.db (no server)",
        "experiment": "MLflow experiment (dry-runs use <experiment>-dry-run)",
    },
    "metaflow": {
        "datastore": "local or s3",
        "root": "S3 root (s3://bucket/prefix) when datastore = s3",
    },
}
#: Values shown (commented out) for keys whose default is "not set".
UNSET_EXAMPLES: dict[str, Any] = {"max_rows": 5000, "chain_id": 31337, "max_drop_bps": 100,
                                  "verifying_contract": "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"}


@dataclass(frozen=True)
class Scaffold:
    """What `init_project` wrote."""

    root: Path
    example: str
    written: list[str]  # paths relative to root, in writing order
    contributions: list[tuple[str, str]]  # (file, wallet) of each sample contribution
    gitignore: str  # "created" | "updated" | "unchanged"


# --- hokusai.toml ------------------------------------------------------------------------

def toml_value(value: Any) -> str:
    """A TOML literal for the value types settings hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}" if value else "{}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def config_text(example: Example) -> str:
    """hokusai.toml for an example: every key of every section, each with a comment."""
    from pipeline.config import Settings

    values = Settings().model_dump(mode="python")
    values["attestation"]["benchmark_spec_id"] = example.benchmark_spec_id
    lines = [
        f"# hokusai project, {example.name} example ({example.task}): {example.description}.",
        f"# Data: {example.dataset}, split into base, benchmark and two sample contributions.",
        "# Every key is listed with its value; delete a line to use the default.",
        "# Override any key with HOKUSAI_<SECTION>__<KEY> (e.g. HOKUSAI_EVALUATION__SEED=7),",
        "# and those with command-line options.",
    ]
    for section, holder in Settings.model_fields.items():
        lines += ["", f"# {SECTION_COMMENTS.get(section, (holder.description or '').strip())}".rstrip(), f"[{section}]"]
        fields = holder.annotation.model_fields  # type: ignore[union-attr]
        for key, field in fields.items():
            described = (field.description or "").rstrip(".")
            comment = KEY_COMMENTS.get(section, {}).get(key) or (described[:1].lower() + described[1:]) \
                or "see the Configuration section of the README"
            value = values[section].get(key, field.default)  # a key left out of the dump at its default
            if value == {} or (key == "guardrails" and not value):
                # an empty table (or array of tables) written out would clash with the
                # [section.key.NAME] / [[section.key]] tables a user adds later
                text = f"# {key} = {toml_value(value)}"
            elif value is None:
                shown = UNSET_EXAMPLES.get(key)
                text = f"# {key} = {toml_value(shown) if shown is not None else ''}".rstrip()
            else:
                text = f"{key} = {toml_value(value)}"
            lines.append(f"{text:<35} # {comment}")
    return "\n".join(lines) + "\n"


# --- data --------------------------------------------------------------------------------

def _breast_cancer() -> dict[str, bytes]:
    """The bundled demo split (pipeline/fixtures, made by examples/make_fixtures/make_fixtures.py)."""
    return {path: (FIXTURES / Path(path).name).read_bytes() for path in DATA_FILES}


def stratified_split(frame: Any, sizes: dict[str, int], target: str, seed: int = 0) -> dict[str, Any]:
    """Shuffle `frame` (seeded) and cut it into parts of about `sizes` rows, each class
    spread in proportion, so every part holds every class; the last part takes the rest."""
    import numpy as np
    import pandas as pd

    shuffled = frame.iloc[np.random.RandomState(seed).permutation(len(frame))]
    total = len(frame)
    parts: dict[str, list[Any]] = {name: [] for name in sizes}
    names = list(sizes)
    for _, group in shuffled.groupby(target, sort=True):
        start = 0
        for i, name in enumerate(names):
            take = round(len(group) * sizes[name] / total) if i < len(names) - 1 else len(group) - start
            parts[name].append(group.iloc[start:start + take])
            start += take
    return {name: pd.concat(chunks).sort_index().reset_index(drop=True) for name, chunks in parts.items()}


def _wine() -> dict[str, bytes]:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame = frame.rename(columns=lambda c: c.replace("/", "_").replace(" ", "_")).round(6)
    rest = len(frame) - sum(WINE_SPLIT.values())
    parts = stratified_split(frame, {**WINE_SPLIT, "contrib_bob": rest}, "target")
    out = {f"data/{name}.csv": parts[name].to_csv(index=False).encode() for name in WINE_SPLIT}
    buffer = io.BytesIO()
    parts["contrib_bob"].to_parquet(buffer, index=False)
    out["data/contrib_bob.parquet"] = buffer.getvalue()
    return out


_DATA = {"breast-cancer": _breast_cancer, "wine": _wine}


# --- writing -----------------------------------------------------------------------------

def _gitignore(existing: str | None) -> tuple[str, str]:
    """The .gitignore to write and whether it was created, updated or left as is."""
    if existing is None:
        return "# hokusai: local runs, MLflow store, caches\n" + "\n".join(GITIGNORE_LINES) + "\n", "created"
    have = {line.strip() for line in existing.splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in have]
    if not missing:
        return existing, "unchanged"
    sep = "" if existing.endswith("\n") or not existing else "\n"
    return existing + sep + "# hokusai\n" + "\n".join(missing) + "\n", "updated"


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file, so a file is either old or complete, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def init_project(root: Path, example: str = DEFAULT_EXAMPLE, force: bool = False) -> Scaffold:
    """Write a project into `root` (created when missing). Refuses, before writing anything,
    when one of its files exists already, unless `force` (then only those files are replaced;
    an existing .gitignore is extended, never replaced)."""
    from pipeline.data.inputs import DEMO_WALLETS

    if example not in EXAMPLES:
        raise InputError(f"Unknown example {example!r}; use one of {', '.join(EXAMPLES)}.")
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} is a file, not a folder; give a new or existing folder for the project.")
    data = _DATA[example]()
    files = {CONFIG_FILE: config_text(EXAMPLES[example]).encode(), **{name: data[name] for name in DATA_FILES}}
    existing = [name for name in files if (root / name).exists()]
    if existing and not force:
        raise InputError(
            f"{root} already holds {', '.join(existing)}; pass --force to overwrite them, or choose another folder."
        )
    for name in existing:
        if (root / name).is_dir():
            raise InputError(f"{root / name} is a folder; move it away to write the project there.")
    ignore_path = root / ".gitignore"
    ignore_text, ignore_state = _gitignore(ignore_path.read_text(encoding="utf-8") if ignore_path.is_file() else None)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            _write(root / name, data)
        if ignore_state != "unchanged":
            _write(ignore_path, ignore_text.encode())
    except OSError as exc:
        raise InputError(f"Cannot write the project into {root} ({exc.strerror}); pick a writable folder.") from None
    written = list(files) + ([".gitignore"] if ignore_state != "unchanged" else [])
    contributions = [("data/contrib_alice.csv", DEMO_WALLETS[0]), ("data/contrib_bob.parquet", DEMO_WALLETS[1])]
    return Scaffold(root, example, written, contributions, ignore_state)


def run_command(scaffold: Scaffold) -> str:
    """The `hokusai run` that evaluates the sample contributions of a fresh project."""
    return "hokusai run " + " ".join(f"--contrib {path}:{wallet}" for path, wallet in scaffold.contributions)

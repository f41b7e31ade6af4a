"""The plain form of every artifact a step writes, and how a step or a reader rebuilds the
typed object from it.

Steps pass plain data between them (dicts, lists, tuples, numbers, strings, bytes, tables,
model files as bytes), never pickled instances of `pipeline` classes: a run stays readable by
`inspect`, `attest` and `resume` after a refactor or an upgrade, and on a cluster whose image
holds another version of this package."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.errors import DamagedArtifact
    from pipeline.data.contributions import Contribution, Inputs
    from pipeline.data.tables import Schema
    from pipeline.modelling.baseline import ModelInfo
    from pipeline.scoring.attribution import Attribution, Plan
    from pipeline.scoring.delta import Delta
    from pipeline.scoring.evaluation import BenchmarkInfo


#: Which step writes each artifact the report reads (read only once that step succeeded);
#: with two, the later one's value wins when it is there (a baseline trained from the base
#: data is known from `train_new_model` on; one from a file already at `load_baseline_model`).
PRODUCER: dict[str, str | tuple[str, ...]] = {
    "settings": ("load_baseline_model", "start"), "task": "load_baseline_model", "dry_run": "start", "contrib_files": "start", "project_dir": "start",
    "code_version": "start",
    "baseline_info": ("train_new_model", "load_baseline_model"),
    "contributions": "integrate_contributed_data",
    "candidate_info": "train_new_model", "environment": "train_new_model",
    "benchmark_info": "evaluate_on_benchmark",
    "delta": "compare_and_output_delta",
    "attestation": "generate_attestation_output",
    "tracking": "monitor_and_log", "mlflow_run_id": "monitor_and_log",
    # tables (Arrow files the artifacts reference: pipeline.runs.table_files)
    "inputs": "start", "base_data": "load_baseline_model", "training_data": "integrate_contributed_data",
    "benchmark_data": "integrate_contributed_data", "predictions": "train_new_model",
}


def stored(node: Any) -> Stored:
    """`node.data` (a Client `Run`'s is its end task's; a `Task`'s its own) where reading an
    artifact whose blob is damaged raises `DamagedArtifact` naming the run, the step and the
    artifact, instead of Metaflow's traceback."""
    return Stored(node)


class Stored:
    """The artifacts of a Client `Run` or `Task`, read on attribute access (see `stored`)."""

    def __init__(self, node: Any) -> None:
        self._node, self._data = node, node.data

    def __getattr__(self, name: str) -> Any:
        import pickle

        from metaflow.datastore.exceptions import DataException

        from pipeline.errors import DamagedTable
        from pipeline.runs.table_files import from_files, holds_refs

        try:
            value = getattr(self._data, name)
            return from_files(value) if holds_refs(value) else value  # its tables are Arrow files
        except (DataException, DamagedTable, pickle.UnpicklingError, EOFError, FileNotFoundError) as exc:
            raise damaged(self._node, name, exc) from None


def damaged(node: Any, name: str, exc: BaseException) -> DamagedArtifact:
    """The error for artifact `name` of `node` (a Run or Task) failing to load: the step named is
    the one that writes it (`PRODUCER`), else the one it was read from."""
    from pipeline.errors import DamagedArtifact

    parts = node.pathspec.split("/")  # Flow/run[/step/task]
    producer = PRODUCER.get(name)
    step = producer if isinstance(producer, str) else (parts[2] if len(parts) > 2 else "end")
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return DamagedArtifact("/".join(parts[:2]), step, name, reason)


def plain(obj: Any) -> Any:
    """`obj` as plain data: pydantic models and dataclasses become dicts, recursively, field
    by field (tables and arrays inside are kept as they are, not copied)."""
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, list):
        return [plain(x) for x in obj]
    if isinstance(obj, tuple):
        return tuple(plain(x) for x in obj)
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, frozenset):  # a coalition of group indexes
        return sorted(obj)
    if isinstance(obj, Fraction):  # exact, as text: "275/2"
        return str(obj)
    return obj


def settings(data: dict[str, Any]) -> Settings:
    from pipeline.config import Settings

    return Settings.model_validate(data)


def inputs(data: dict[str, Any]) -> Inputs:
    from pipeline.data.contributions import Inputs, LoadedContribution
    from pipeline.data.pii import Finding
    from pipeline.data.tables import TableInfo

    loaded = tuple(
        LoadedContribution(**{**c, "table": TableInfo(**c["table"]),
                              "pii": tuple(Finding(**f) for f in c["pii"])})
        for c in data["contributions"]
    )
    return Inputs(base=data["base"], benchmark=data["benchmark"], baseline_model=data["baseline_model"],
                  contributions=loaded)


def schema(data: dict[str, Any]) -> Schema:
    from pipeline.data.tables import Schema

    return Schema(**data)


def model_info(data: dict[str, Any]) -> ModelInfo:
    from pipeline.modelling.baseline import ModelInfo

    return ModelInfo(**data)


def contributions(data: list[dict[str, Any]]) -> list[Contribution]:
    from pipeline.data.contributions import Contribution

    return [Contribution(**c) for c in data]


def benchmark_info(data: dict[str, Any]) -> BenchmarkInfo:
    from pipeline.scoring.evaluation import BenchmarkInfo

    return BenchmarkInfo(**data)


def delta(data: dict[str, Any]) -> Delta:
    from pipeline.scoring.bootstrap import BootstrapCI
    from pipeline.scoring.delta import Contributor, Delta, GateCondition, MetricDelta

    return Delta(**{
        **data,
        "metrics": [MetricDelta(**m) for m in data["metrics"]],
        "gate": [GateCondition(**g) for g in data["gate"]],
        "contributors": [Contributor(**c) for c in data["contributors"]],
        "ci": BootstrapCI(**data["ci"]) if data.get("ci") is not None else None,
    })


def attribution(data: dict[str, Any] | None) -> Attribution | None:
    from fractions import Fraction

    from pipeline.scoring.attribution import Attribution

    if data is None:
        return None
    return Attribution(**{**data, "values": {w: Fraction(v) for w, v in data["values"].items()},
                          "leave_one_out": {w: Fraction(v) for w, v in data.get("leave_one_out", {}).items()}})


def excluded(data: list[dict[str, Any]]) -> list[Any]:
    from pipeline.data.exclusion import Excluded

    return [Excluded(**e) for e in data]


def plan(data: dict[str, Any] | None) -> Plan | None:
    from pipeline.scoring.attribution import Plan

    if data is None:
        return None
    return Plan(**{**data, "coalitions": tuple(frozenset(c) for c in data["coalitions"])})


#: Artifact name -> how to rebuild its typed object (the others are used as they are).
REBUILD = {
    "settings": settings,
    "inputs": inputs,
    "schema": schema,
    "baseline_info": model_info,
    "candidate_info": model_info,
    "contributions": contributions,
    "benchmark_info": benchmark_info,
    "delta": delta,
    "attribution_values": attribution,
    "attribution_plan": plan,
}


def rebuild(name: str, value: Any) -> Any:
    """The typed object of artifact `name` (None stays None)."""
    return value if value is None or name not in REBUILD else REBUILD[name](value)

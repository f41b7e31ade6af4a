"""One typed configuration: `hokusai.toml`, overridden by `HOKUSAI_*` variables, overridden
by command-line options. Every field has a default, so a run works with no file at all."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer, model_validator

from pipeline.errors import ConfigError

#: Built-in metric names of a classification, the same in artifacts, MLflow, evidence and the CLI.
METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auroc", "log_loss")
#: Built-in metric names of a regression.
REGRESSION_METRICS = ("r2", "explained_variance", "rmse", "mae", "mape")
#: Each built-in metric's family, as Hokusai's pipeline names them (the on-chain metricFamily).
METRIC_FAMILIES = {**{m: "proportion" for m in ("accuracy", "balanced_accuracy", "precision", "recall", "f1")},
                   "auroc": "rank_or_ordinal", "log_loss": "continuous",
                   **{m: "continuous" for m in REGRESSION_METRICS}}
#: Metrics where lower is better; every delta is reported so that positive means better.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})
#: Metrics with no upper bound (errors in the target's units): their deltas are relative, in bps.
UNBOUNDED = frozenset({"rmse", "mae", "mape"})
#: Metrics bounded in [0, 1], higher = better: only these (and such custom metrics) can be
#: the primary metric, whose scores go on chain in bps. r2 is at most 1 and clipped at 0.
PRIMARY_METRICS = (*(m for m in METRICS if m not in LOWER_IS_BETTER), "r2")

CONFIG_FILE = "hokusai.toml"
ENV_PREFIX = "HOKUSAI_"
#: Local state of a project (MLflow SQLite store); Metaflow keeps its own `.metaflow/`.
STATE_DIR = ".hokusai"

Estimator = Literal["auto", "logistic_regression", "ridge", "random_forest", "hist_gradient_boosting"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Section):
    id: int = Field(1, ge=0, lt=2**256, description="Model id on chain (uint256).")
    target: str = Field("target", min_length=1, description="Label column.")
    features: list[str] = Field(
        default_factory=list, description="Feature columns; empty = every column but the target."
    )
    task: Literal["auto", "binary", "multiclass", "regression"] = Field(
        "auto", description="What the target is: auto decides from the base data (a quantity with many different "
        "numbers is regression; two labels binary; more multiclass) and the run says what it decided.",
    )
    estimator: Estimator = Field(
        "auto", description="The scikit-learn estimator of baseline and candidate: logistic_regression (classification), "
        "ridge (regression), random_forest or hist_gradient_boosting (either); auto = logistic_regression or ridge.",
    )
    categorical: list[str] = Field(
        default_factory=list,
        description="Features to treat as categories even when written as numbers (codes); other kinds are "
        "inferred from the base data: numbers, true/false, ISO dates, text = categorical.",
    )
    params: dict[str, int | float | str | bool | None] = Field(
        default_factory=dict, description="Hyper-parameters passed to the estimator."
    )
    primary_metric: str = Field(
        "auto",
        description="DeltaOne metric: accuracy, balanced_accuracy, precision, recall, f1, auroc (classification), "
        "r2 (regression, clipped at 0), or a bounded higher-is-better custom metric; auto = accuracy or r2.",
    )


class DataSection(_Section):
    base: str = Field("data/base.csv", description="Base training data (relative to the project).")
    benchmark: str = Field("data/benchmark.csv", description="Held-out benchmark rows.")
    baseline_model: str = Field(
        "", description="Baseline .skops file; empty = train it from the base data."
    )
    baseline: str = Field(
        "", pattern=r"^$|^models:/[^@/\s]+(@[\w\-]+|/\d+)$",
        description="Baseline from the MLflow Model Registry instead of a file: models:/NAME@ALIAS (e.g. "
        "models:/hokusai-1@production, the model `hokusai promote` last moved there) or models:/NAME/VERSION; "
        "the run pins the version it read. Empty = baseline_model.",
    )
    benchmark_sha256: str = Field(
        "", pattern=r"^$|^sha256:[0-9a-f]{64}$",
        description="The benchmark file's pinned hash, sha256:<64 hex> (`hokusai benchmark pin` writes it): a run "
        "whose benchmark bytes differ is refused before it starts. Empty = not pinned.",
    )
    max_rows: int | None = Field(
        None, gt=0, description="Cap on rows read per file (dry-run sets 5000)."
    )
    wallet_column: str = Field(
        "wallet", min_length=1,
        description="Column of a contributed file naming the wallet credited for each row "
        "(many contributors in one file); a file with it takes no FILE:WALLET tag.",
    )
    id_column: str = Field(
        "", description="Column naming who or what each row is about (a passenger id), in base, benchmark and "
        "contributed files: a contributed row is benchmark contamination or a duplicate when its id is, not when "
        "its values are. Not a feature. Empty = judge by values.",
    )
    invalid_rows: Literal["reject", "drop"] = Field(
        "reject", description="Contributed rows with an empty or infinite feature or no label: "
        "reject the file, or drop those rows (counted per column in the manifest).",
    )
    missing: Literal["impute", "refuse"] = Field(
        "impute", description="Empty feature values in base, benchmark or contributed data: let the estimator "
        "impute them (median, or a category of their own), or refuse the file.",
    )
    min_rows: int = Field(
        1, ge=1, description="Fewest usable rows (after invalid rows) a contributed file must hold.",
    )
    pii: Literal["reject", "redact", "drop-column"] = Field(
        "reject", description="Personal data (e-mail, phone, SSN, card, IP) in a contributed file: "
        "reject the file, redact each value, or drop the columns holding it.",
    )


class CustomMetricSection(_Section):
    function: str = Field(..., min_length=3, description="module:function taking (y_true, y_pred, y_proba).")
    direction: Literal["higher", "lower"] = "higher"
    bounded: bool = Field(True, description="Values lie in [0, 1] (required to be the primary metric).")


class GuardrailSection(_Section):
    metric: str = Field(..., min_length=1, description="A built-in or custom metric the candidate must hold.")
    direction: Literal["higher", "lower"] | None = Field(
        None, description="higher: the candidate's score must be >= threshold; lower: <=; empty = the metric's own.")
    threshold: float = Field(..., allow_inf_nan=False, description="Absolute bound on the candidate's score (equality passes).")
    blocking: bool = Field(True, description="A breach fails the gate (reject_mint); false = reported only.")


class EvaluationSection(_Section):
    seed: int = Field(42, ge=0, lt=2**32, description="Seed of training, the bootstrap and attribution.")
    min_improvement_bps: int = Field(
        100, ge=-10000, le=10000,
        description="Gate: DeltaOne in bps must reach this; the deployed DeltaVerifier pays nothing below 100.",
    )
    min_benchmark_rows: int = Field(50, ge=1, description="Gate: fewest benchmark rows the evaluation needs.")
    bootstrap_samples: int = Field(1000, ge=0, le=100000, description="Paired-bootstrap resamples; 0 = no CI.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Confidence of the bootstrap interval.")
    average: Literal["macro", "weighted"] = Field("macro", description="Multiclass precision/recall/F1 averaging.")
    attribution: Literal["auto", "exact_shapley", "monte_carlo_shapley", "leave_one_out", "row_share"] = Field(
        "auto", description="How contributor weights are computed; auto = exact Shapley up to attribution_exact_max contributors, else Monte-Carlo sampling.")
    attribution_budget: int = Field(
        64, ge=1, le=100000, description="Most retrainings Monte-Carlo attribution may use (exact Shapley uses 2^k - 2).")
    attribution_exact_max: int = Field(
        6, ge=1, le=16, description="auto: exact Shapley up to this many contributors, Monte-Carlo sampling beyond.")
    attribution_target_se_bps: float = Field(
        10.0, gt=0, le=10000, allow_inf_nan=False,
        description="Monte-Carlo stops once every contributor's standard error is at most this (bps), or at the budget.")
    attribution_fan_out: Literal["auto", "always", "never"] = Field(
        "auto", description="Run attribution retrainings as Metaflow foreach branches: auto = from 1024 planned "
        "retrainings when there are workers to spread them over (run --max-workers N, or --with kubernetes/batch).")
    guardrails: list[GuardrailSection] = Field(
        default_factory=list,
        description="[[evaluation.guardrails]] metric, direction, threshold, blocking: absolute bounds on the "
        "candidate's secondary metrics (Hokusai's semantics); a blocking breach fails the gate.",
    )
    max_drop_bps: int | None = Field(
        None, ge=0, le=10000,
        description="No secondary metric, nor any class's recall, may fall more than this many bps below the "
        "baseline's; a fall fails the gate. Empty = no limit.",
    )
    custom_metrics: dict[str, CustomMetricSection] = Field(
        default_factory=dict, description="Metrics of your own: [evaluation.custom_metrics.NAME] with function, direction, bounded.")

    @field_validator("custom_metrics")
    @classmethod
    def _no_built_in_name(cls, metrics: dict[str, CustomMetricSection]) -> dict[str, CustomMetricSection]:
        taken = [name for name in metrics if name in METRICS or name in REGRESSION_METRICS or name == "auto"]
        if taken:  # it would silently replace the built-in one in every table and in the evidence
            raise ValueError(f"{', '.join(map(repr, taken))} is the name of a built-in metric; give the custom metric "
                             "another name")
        return metrics


class AttestationSection(_Section):
    network: Literal["local", "sepolia", "mainnet"] = Field(
        "local", description="Which DeltaVerifier deployment to target: local (31337), sepolia (11155111) or "
        "mainnet (1); sets chain_id and verifying_contract.",
    )
    chain_id: int | None = Field(None, ge=1, description="Override of the network's EIP-712 chainId.")
    verifying_contract: str | None = Field(
        None, pattern=r"^0x[0-9a-fA-F]{40}$", description="Override of the network's DeltaVerifier address."
    )
    benchmark_spec_id: str = Field("hokusai-demo-breast-cancer-v1", min_length=1,
                                   description="The benchmark spec's id; benchmarkSpecHash = keccak256 of it.")
    metric_family: str = Field(
        "auto", min_length=1, description="BenchmarkAnchors.metricFamily; auto = the primary metric's family "
        "(proportion: accuracy-like rates; rank_or_ordinal: auroc; continuous: r2 and errors; custom metrics: proportion).",
    )
    model_name: str = Field(
        "", description="The relayer's model_id string (e.g. 'sales-lead-scoring'); empty = the numeric [model] id."
    )
    deadline_days: int = Field(5, ge=1, le=3650, description="Signature deadline: now + this many days at attest time (5: Hokusai's MINT_SIGNATURE_DEADLINE_DAYS).")
    usd_per_cpu_hour: float = Field(
        0.0, ge=0, le=1000, allow_inf_nan=False,
        description="Price of one CPU-hour in USD: actualCostUsdMicro = the run's measured CPU-seconds x this; "
        "0 = no cost configured (signing then needs --allow-zero-cost).",
    )
    max_cost_usd_micro: int = Field(
        0, ge=0, lt=2**256, description="maxCostUsdMicro: the budget of one evaluation in micro-USD; 0 = no budget."
    )
    actual_cost_usd_micro: int = Field(
        0, ge=0, lt=2**256,
        description="Override: a cost measured elsewhere, in micro-USD; 0 = measure it (CPU-seconds x usd_per_cpu_hour).",
    )
    baseline_commitment: str = Field("", pattern=r"^$|^0x[0-9a-f]{64}$",
                                     description="bytes32 baselineCommitment override (the on-chain head); empty = the baseline's commitment in the evidence (see commitment).")
    commitment: Literal["skops-sha256", "mlflow-merkle-v1"] = Field(
        "skops-sha256",
        description="How a model is committed (evidence baseline/candidate.commitment, the signed baselineCommitment "
        "and candidateCommitment): skops-sha256 = sha256 of its stored skops bytes; mlflow-merkle-v1 = Hokusai's "
        "sha256-merkle-v1 root of its MLflow model folder as hokusai logs it (MLmodel left out; a [data] baseline "
        "from the Model Registry: its registered folder), to extend a lineage Hokusai's own pipeline started.",
    )
    rpc_url: str = Field(
        "", pattern=r"^$|^https?://\S+$",
        description="JSON-RPC URL of a node of the target chain: `verify` and `publish` then read the live DeltaVerifier "
        "and simulate submitMintRequest (eth_call only, no transaction, no key sent); empty = no preflight. "
        "`--rpc` and HOKUSAI_RPC_URL beat it.",
    )
    relayer: str = Field(
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", pattern=r"^0x[0-9a-fA-F]{40}$",
        description="Address the preflight simulates submitMintRequest from (eth_call `from`): the relayer, which "
        "holds SUBMITTER_ROLE; the default is Hardhat account #0, the deployer of a local chain. `--relayer` beats it.",
    )

    @model_serializer(mode="wrap")
    def _later_keys_only_when_set(self, handler: Any) -> dict[str, Any]:
        """A LATER_DEFAULTS key is dumped only when set to something else: the config hash (and
        so the evidence hash) of a project that leaves it alone stays what it was before the key
        existed. Reading the dump back fills the default in, so nothing is lost."""
        data = handler(self)
        for key, default in LATER_DEFAULTS.items():
            if key in data and data[key] == default:
                del data[key]
        return data


#: [attestation] keys added after evidence hashes were published, with their defaults.
LATER_DEFAULTS = {"commitment": "skops-sha256"}


class TrackingSection(_Section):
    mlflow_uri: str = Field("", description="Empty = sqlite:///<project>/.hokusai/mlflow.db")
    experiment: str = Field("hokusai", min_length=1, description="MLflow experiment (dry-runs log to <experiment>-dry-run).")
    registered_model: str = Field(
        "", pattern=r"^$|^[A-Za-z0-9_.\- ]+$",
        description="Model Registry name each real run registers its candidate under (`hokusai promote` moves its "
        "aliases); empty = hokusai-<[model] id>.",
    )


class MetaflowSection(_Section):
    """Where Metaflow keeps run artifacts. Metadata (the run index) always stays in the
    project's `.metaflow/`; with datastore = "s3" the artifacts, logs and code packages go to
    `root` on S3 or an S3-compatible store (then `s3_endpoint_url`), never to `.metaflow/`."""

    datastore: Literal["local", "s3"] = Field(
        "local", description="local = artifacts in <project>/.metaflow; s3 = artifacts under `root`."
    )
    root: str = Field(
        "", validate_default=True, description="S3 root (s3://bucket/prefix) when datastore = s3."
    )
    s3_endpoint_url: str = Field(
        "", description="Endpoint of an S3-compatible store (MinIO, Ceph, R2, moto: http://host:port); "
        "empty = AWS S3. Sets METAFLOW_S3_ENDPOINT_URL.",
    )

    @field_validator("root")
    @classmethod
    def _s3_needs_a_root(cls, root: str, info: Any) -> str:  # info: pydantic's ValidationInfo
        import re

        if info.data.get("datastore") == "s3" and not re.fullmatch(r"s3://[^/\s]{3,}(/\S*)?", root):
            raise ValueError(
                'an s3://bucket/prefix URL is needed when datastore = "s3"; '
                "set [metaflow] root or HOKUSAI_METAFLOW__ROOT"
            )
        return root

    @field_validator("s3_endpoint_url")
    @classmethod
    def _endpoint_is_a_url(cls, url: str) -> str:
        import re

        if url and not re.fullmatch(r"https?://[^/\s]+/?", url):
            raise ValueError(
                "must be an http:// or https:// URL of the store (e.g. http://127.0.0.1:9000), or empty for AWS S3"
            )
        return url


class Settings(_Section):
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    attestation: AttestationSection = Field(default_factory=AttestationSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    metaflow: MetaflowSection = Field(default_factory=MetaflowSection)

    @field_validator("data")
    @classmethod
    def _one_baseline(cls, data: DataSection) -> DataSection:
        if data.baseline and data.baseline_model:
            raise ValueError("baseline (a registry URI) and baseline_model (a file) are both set; keep one")
        return data

    @field_validator("model")
    @classmethod
    def _target_not_a_feature(cls, model: ModelSection) -> ModelSection:
        if model.target in model.features:
            raise ValueError(f"the target {model.target!r} is also listed as a feature")
        return model

    @model_validator(mode="after")
    def _guardrails_name_metrics(self) -> Settings:
        known = [*METRICS, *REGRESSION_METRICS, *self.evaluation.custom_metrics]
        for i, guard in enumerate(self.evaluation.guardrails):
            if guard.metric not in known:
                raise ValueError(f"evaluation.guardrails[{i}].metric {guard.metric!r} is not a metric; use one of "
                                 f"{', '.join(known)}")
        return self

    @model_validator(mode="after")
    def _primary_metric_fits_on_chain(self) -> Settings:
        name = self.model.primary_metric
        custom = self.evaluation.custom_metrics.get(name)
        if name in ("auto", *PRIMARY_METRICS) or (custom is not None and custom.bounded and custom.direction == "higher"):
            return self
        eligible = [n for n, m in self.evaluation.custom_metrics.items() if m.bounded and m.direction == "higher"]
        allowed = ", ".join([*PRIMARY_METRICS, *eligible])
        raise ValueError(
            f"model.primary_metric {name!r} must be bounded in [0, 1] with higher = better "
            f"(scores go on chain in bps); use one of {allowed}"
        )


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`HOKUSAI_EVALUATION__SEED=7` -> {"evaluation": {"seed": 7}}; values parse as JSON when
    they can (numbers, booleans, lists), else stay strings."""
    out: dict[str, dict[str, Any]] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        section, _, field = key[len(ENV_PREFIX) :].lower().partition("__")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        if not isinstance(value, str) and _is_text_field(section, field):
            value = raw  # HOKUSAI_TRACKING__EXPERIMENT=2024 names experiment "2024", not int 2024
        out.setdefault(section, {})[field] = value
    return out


def _is_text_field(section: str, field: str) -> bool:
    """Whether `[section] field` is a plain string setting (env values stay text there)."""
    holder = Settings.model_fields.get(section)
    fields = getattr(holder.annotation, "model_fields", {}) if holder else {}
    return field in fields and fields[field].annotation is str


def _merge(*layers: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        for section, values in layer.items():
            if isinstance(values, dict) and isinstance(merged.get(section), dict):
                merged[section] = {**merged[section], **values}
            else:
                merged[section] = values
    return merged


def _describe(error: ValidationError, source: str) -> str:
    parts = []
    for item in error.errors():
        msg = item["msg"].removeprefix("Value error, ")  # pydantic's prefix for validator errors
        if not item["loc"]:  # a check across sections: its message names the field itself
            parts.append(msg)
            continue
        where = ".".join(str(p) for p in item["loc"])
        got = f" (got {item['input']!r})" if item["type"] != "missing" and "input" in item else ""
        parts.append(f"{where}: {msg[0].lower() + msg[1:]}{got}")
    return f"Invalid configuration in {source}: " + "; ".join(parts) + "."


def load_settings(
    project_dir: Path,
    overrides: dict[str, dict[str, Any]] | None = None,
    environ: dict[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve the settings of a project: file, then environment, then `overrides`."""
    path = config_file or project_dir / CONFIG_FILE
    from_file: dict[str, Any] = {}
    if path.is_file():
        if path.suffix == ".json":  # the recorded settings of a run, as `hokusai reproduce` writes them
            try:
                from_file = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path} is not valid JSON ({exc}); fix the syntax.") from None
        else:
            try:
                from_file = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path} is not valid TOML ({exc}); fix the syntax.") from None
    elif config_file is not None:
        raise ConfigError(f"Config file {path} does not exist; pass an existing file.")
    env = _env_overrides(dict(os.environ if environ is None else environ))
    source = path.name if path.is_file() else "the defaults"
    if env:
        source += " + HOKUSAI_* variables"
    try:
        return Settings.model_validate(_merge(from_file, env, overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def mlflow_uri(settings: Settings, project_dir: Path) -> str:
    """The tracking URI: configured, or a SQLite file inside the project (no server)."""
    if settings.tracking.mlflow_uri:
        return settings.tracking.mlflow_uri
    return f"sqlite:///{(project_dir / STATE_DIR / 'mlflow.db').resolve()}"


#: Settings of how a run executes, not of what it finds: left out of the config hash (a fanned-out
#: attribution gives exactly the in-process result, so the same evaluation keeps one evidence hash; where
#: the preflight reads the chain changes nothing the run found).
EXECUTION_ONLY = {"evaluation": {"attribution_fan_out"}, "attestation": {"rpc_url", "relayer"}}


def evaluation_settings(settings: Settings) -> dict[str, Any]:
    """The settings that shape the evaluation ([model], [evaluation], [attestation]) as JSON data."""
    return settings.model_dump(mode="json", include={"model", "evaluation", "attestation"}, exclude=EXECUTION_ONLY)


def config_hash(settings: Settings) -> str:
    """sha256 of the settings that shape the evaluation (tracking, storage and execution excluded)."""
    import hashlib

    import rfc8785

    relevant = evaluation_settings(settings)
    return "0x" + hashlib.sha256(rfc8785.dumps(relevant)).hexdigest()

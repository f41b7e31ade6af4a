"""`hokusai validate`: the contributor-side check on the pipeline's own code path (data
rooms for reading and integrating, the baseline's classes from `modelling`), with no run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import CONFIG_FILE, Settings, load_settings
from pipeline.data.contributions import ContributionFile, Integration, load_contribution
from pipeline.data.wallets import normalise_wallet
from pipeline.data.inputs import contribution_name, demo_overrides, find_contribution, read_project_file
from pipeline.errors import DataError, ModelError
from pipeline.modelling.models import make_estimator


@dataclass(frozen=True)
class Validation:
    """`hokusai validate`: what the pipeline would make of some contributed files."""

    settings: Settings
    integration: Integration
    redacted: tuple[tuple[str, Any], ...]  # (file name, table with every column, PII redacted)

    def manifest(self) -> dict[str, Any]:
        return self.integration.manifest()


def check_params(settings: Settings) -> None:
    """The configured estimator accepts `[model] params`: built by `make_estimator`, as the
    flow builds the baseline, then checked by scikit-learn's own parameter validation (what
    `fit` runs first), without training. Raises the ModelError `fit` raises. Nothing to check
    with a baseline model file: the flow then trains nothing from `[model]`."""
    if settings.data.baseline_model:
        return
    spec = settings.model
    try:
        estimator = make_estimator(spec.estimator, dict(spec.params), settings.evaluation.seed,
                                   task=spec.task if spec.task != "auto" else "binary")
        for part in [estimator, *(step for _, step in getattr(estimator, "steps", []))]:
            part._validate_params()  # noqa: SLF001 - scikit-learn's check at the start of every fit
    except (TypeError, ValueError) as exc:  # as `fit` words them
        if "parameter" in str(exc) or "unexpected keyword" in str(exc):
            raise ModelError(
                f"model.params does not suit {spec.estimator}: {str(exc).rstrip('.')}; "
                "fix the [model] params in hokusai.toml."
            ) from None
        raise


def check_run(project_dir: Path, contrib: list[str], dry_run: bool, config_file: Path | None = None,
              exclude: list[str] = (), handover: bool = True) -> list[str]:
    """The CLI's check before launching a run, so bad input fails before any run exists: what
    the flow's `start` checks (`prepare_run`: settings, wallets, the base header against the
    features and target, every contributed file), then the estimator's params (`check_params`,
    else checked only when the flow trains the baseline) and the custom metrics' imports.
    Returns the `--contrib` specs to pass
    to the flow (`flow_contribs`).

    `handover`: each contributed file's cleaned table is stored in the project's parse cache
    (`pipeline.data.parse_cache`), where `start` finds it instead of parsing the file again;
    False when `start` runs elsewhere (`--with kubernetes`), where the cache is out of reach."""
    from pipeline.data.inputs import flow_contribs, prepare_run

    from pipeline.scoring.evaluation import custom_metrics

    from pipeline.data.exclusion import check_refs

    settings, inputs = prepare_run(project_dir, contrib, dry_run, config_file,
                                   parse_cache="fill" if handover else "off")
    check_refs(list(inputs.contributions), list(exclude))
    custom_metrics(settings.evaluation, str(project_dir.resolve()))  # each importable, as the flow will import it
    settings = check_project_files(settings, inputs.base, inputs.benchmark)
    check_params(settings)
    return flow_contribs(project_dir, contrib)


def check_project_files(settings: Settings, base_file: tuple[str, bytes], benchmark_file: tuple[str, bytes]) -> Settings:
    """What `load_baseline_model` and `integrate_contributed_data` would find wrong with the
    project's own files, found before a run exists: the base data (columns, kinds, values,
    labels, two classes, the task) and the benchmark (columns, values, labels the base data
    knows, every class). The baseline model file is checked as the flow loads it.
    Returns the settings with the task, estimator and primary metric resolved."""
    from pipeline.data.conform import conform
    from pipeline.data.tables import read_table
    from pipeline.modelling.baseline import prepare_baseline
    from pipeline.scoring.evaluation import check_classes

    # the model file itself is checked in the flow: loading it here would import scikit-learn and
    # skops into the CLI (+1.5 s on the demo); its classes are those of a fit on the base data
    baseline = prepare_baseline(settings, base_file, None)
    benchmark = conform(read_table(*benchmark_file, settings.data.max_rows), baseline.schema, benchmark_file[0],
                        baseline.classes, allow_missing=settings.data.missing == "impute")
    if baseline.classes:
        check_classes(benchmark[baseline.schema.target].to_numpy(), baseline.classes)
    return baseline.settings


def validate_contributions(
    project_dir: Path,
    files: list[str],
    wallet: str | None = None,
    config_file: Path | None = None,
    redact: bool = False,
) -> Validation:
    """The contributor-side check, on the pipeline's own code path: settings as for a run
    (the bundled demo when the folder has no hokusai.toml and no config is given), every file
    loaded as `start` does and integrated as `integrate_contributed_data` does (base data for
    duplicates, benchmark for contamination). `redact` applies `[data] pii = "redact"` and
    keeps each redacted table with all its columns (for `--redact-pii OUT`). Files are found
    as in a run (`find_contribution`: the current folder, then the project folder) and named
    as in a run (`contribution_name`); nothing is written."""
    from pipeline.data.conform import conform
    from pipeline.data.contributions import integrate_contributions, select_columns
    from pipeline.data.tables import read_table
    from pipeline.modelling.baseline import prepare_baseline

    demo = config_file is None and not (project_dir / CONFIG_FILE).is_file()
    settings = load_settings(project_dir, overrides=demo_overrides() if demo else {}, config_file=config_file)
    if redact:
        settings = settings.model_copy(update={"data": settings.data.model_copy(update={"pii": "redact"})})
    if not files:
        raise DataError("No file to validate was given; pass at least one FILE.")
    tag = normalise_wallet(wallet, "--wallet") if wallet else None
    data = settings.data
    base_file = read_project_file(project_dir, data.base, "data.base")
    benchmark_file = read_project_file(project_dir, data.benchmark, "data.benchmark")
    model_file = read_project_file(project_dir, data.baseline_model, "data.baseline_model") if data.baseline_model else None
    baseline = prepare_baseline(settings, base_file, model_file)  # as `load_baseline_model`: no training
    schema, base, classes = baseline.schema, baseline.base_data, baseline.classes
    benchmark = conform(read_table(*benchmark_file, data.max_rows), schema, benchmark_file[0], classes,
                        allow_missing=data.missing == "impute")
    loaded, redacted = [], []
    for path in files:
        full = find_contribution(project_dir, path, "File")
        name, raw = contribution_name(project_dir, full), full.read_bytes()
        whole = load_contribution(ContributionFile(name, raw, tag), data)
        del raw
        if redact:
            redacted.append((name, whole.frame))
        loaded.append(select_columns(whole, schema.columns))
    integration = integrate_contributions(base, benchmark, loaded, schema, classes, rules=data)
    return Validation(settings, integration, tuple(redacted))

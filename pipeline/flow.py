"""HokusaiEvaluationFlow: did the contributed data make the model better?

Each step reads artifacts, calls one function of its `pipeline` module and assigns
artifacts. Run it with `hokusai run`, or plainly:

    python -m pipeline.flow run --contrib-files data/new.csv:0xWALLET
"""

from __future__ import annotations

import os

# Metaflow refuses to run without a user name and reads it on import; CI often has none.
if not any(os.environ.get(v) for v in ("METAFLOW_USER", "USER", "USERNAME")):
    os.environ["METAFLOW_USER"] = "hokusai"

from metaflow import FlowSpec, Parameter, card, current, resources, step  # noqa: E402

#: Artifacts this task loaded from its parent, by name (one flow object per task process).
_LOADED: dict[str, object] = {}


class HokusaiEvaluationFlow(FlowSpec):
    """Evaluate contributed data: baseline vs candidate on one benchmark, DeltaOne, evidence."""

    contrib_files = Parameter(
        "contrib-files", default="", help="Contributed files, comma-separated, each FILE[:WALLET]."
    )
    dry_run = Parameter(
        "dry-run", type=bool, default=False,
        help="Demo data when no hokusai.toml, capped rows, separate MLflow experiment.",
    )
    project_dir = Parameter("project-dir", default=".", help="Project folder (holds hokusai.toml).")
    config_file = Parameter("config-file", default="", help="Config file instead of <project>/hokusai.toml.")
    branches = Parameter(
        "branches", type=int, default=1,
        help="Most attribution fan-out branches (1: attribution stays in train_new_model unless attribution_fan_out = "
        "'always'); `hokusai run` sets it to --max-workers, or 16 with --with kubernetes/batch.",
    )
    exclude = Parameter(
        "exclude", default="", help="Contributors to leave out, comma-separated WALLET or FILE (named in the evidence).",
    )

    def __getattr__(self, name):
        from pipeline.runs.table_files import from_files, holds_refs

        value = super().__getattr__(name)  # an artifact of the parent task, loaded on first use
        if holds_refs(value):  # its tables are Arrow files in the datastore
            value = from_files(value, self._datastore._storage_impl)
            self.__dict__[name] = value
        _LOADED[name] = value
        return value

    def next(self, *steps, **kwargs):
        """Every step but `end` ends here: pass down what the step only read, write the tables
        it made as files, record the task's CPU time (`hokusai attest` prices it)."""
        self._pass_down_unchanged()
        self._tables_to_files()
        self._record_cpu()
        super().next(*steps, **kwargs)

    def _pass_down_unchanged(self):
        """Metaflow pickles again every artifact a step has read, and stores it again when the
        new pickle's bytes differ. An artifact still holding the very object that was loaded is
        dropped from the task, so Metaflow passes the parent's stored copy (a small reference,
        for a table) down by reference. (Steps assign new objects; none changes a loaded one
        in place.)"""
        for name, value in _LOADED.items():
            if self.__dict__.get(name) is value:
                delattr(self, name)

    def _tables_to_files(self):
        """Each table (and large array) the step assigned is written once as an Arrow file and
        the artifact holds its reference: no table goes through pickle and gzip."""
        from pipeline.runs.table_files import holds_tables, to_files

        for name, value in list(self.__dict__.items()):
            if not name.startswith("_") and holds_tables(value):
                self.__dict__[name] = to_files(value, self._datastore._storage_impl, current.flow_name)

    def _record_cpu(self):
        from pipeline.attest.cost import record_task_cpu

        self.task_cpu_seconds = record_task_cpu(getattr(self, "task_cpu_seconds", None), current.step_name)

    @step
    def start(self):
        """Resolve settings; read project files; hash, parse and PII-check contributions (only
        their cleaned tables travel as artifacts, never their raw bytes)."""
        from pathlib import Path

        from pipeline import __version__
        from pipeline.data.inputs import prepare_run, split_contribs
        from pipeline.runs.artifacts import plain

        self.code_version = __version__
        settings, inputs = prepare_run(
            Path(self.project_dir).resolve(),
            split_contribs(self.contrib_files),
            self.dry_run,
            Path(self.config_file) if self.config_file else None,
        )
        self.settings, self.inputs = plain(settings), plain(inputs)
        # the project's files on their own too: steps that need only one of them do not
        # unpickle every contributed table to get it
        self.project_files = {"base": inputs.base, "benchmark": inputs.benchmark, "baseline_model": inputs.baseline_model}
        self.next(self.load_baseline_model)

    @step
    def load_baseline_model(self):
        """Load and check the baseline's skops file (or the registry version `[data] baseline`
        names); with none, the base data it will be trained on (the fit happens in
        train_new_model, with every other fit)."""
        from pathlib import Path

        from pipeline.modelling.baseline import prepare_baseline
        from pipeline.runs import artifacts as a
        from pipeline.runs.registry import registered_baseline

        files, settings, project = self.project_files, a.settings(self.settings), Path(self.project_dir).resolve()
        model_file = files["baseline_model"] or registered_baseline(settings, project)
        baseline = prepare_baseline(settings, files["base"], model_file, project)
        # the task, estimator and primary metric made explicit: what every later step (and the evidence) uses
        self.settings, self.task = a.plain(baseline.settings), {"task": baseline.schema.task, "why": baseline.task_reason}
        self.baseline_model_bytes, self.baseline_info = baseline.model_bytes, a.plain(baseline.info)
        self.schema, self.base_data, self.classes = a.plain(baseline.schema), baseline.base_data, baseline.classes
        self.next(self.integrate_contributed_data)

    @step
    def integrate_contributed_data(self):
        """Validate contributed tables; drop invalid, duplicate and benchmark rows; hash; join."""
        from pipeline.data.contributions import integrate_contributed_data
        from pipeline.data.exclusion import exclude
        from pipeline.data.inputs import split_contribs
        from pipeline.runs import artifacts as a

        settings = a.settings(self.settings)
        integration, self.benchmark_data = integrate_contributed_data(
            a.inputs(self.inputs), a.schema(self.schema), self.classes, self.base_data, settings.data
        )
        self.data_manifest = integration.manifest()  # every file, the excluded ones too
        integration, excluded = exclude(integration, split_contribs(self.exclude))
        self.training_data = integration.training_data
        self.contributions, self.excluded = a.plain(integration.contributions), a.plain(excluded)
        self.next(self.train_new_model)

    @resources(cpu=2, memory=8192)  # requests on Kubernetes/Batch (--with); no effect on a laptop
    @step
    def train_new_model(self):
        """Every fit of the run, where scikit-learn is loaded once: the baseline when it is
        trained from the base data; the candidate (same estimator, hyper-parameters and seed,
        on base + contributed rows); both models' benchmark predictions; the attribution's
        retrainings. No later step loads a model."""
        from pathlib import Path

        from pipeline.data.columns import has_gaps
        from pipeline.modelling.baseline import baseline_for_training
        from pipeline.modelling.models import stored_types
        from pipeline.modelling.training import predict, train_candidate
        from pipeline.runs import artifacts as a
        from pipeline.runs.provenance import environment
        from pipeline.scoring.fanout import batches, fan_out
        from pipeline.scoring.delta import attribute_by_retraining, attribution_plan
        from pipeline.scoring.harm import predictions_without

        schema, settings = a.schema(self.schema), a.settings(self.settings)
        baseline, self.baseline_model_bytes, baseline_info = baseline_for_training(
            self.baseline_model_bytes, a.model_info(self.baseline_info) if self.baseline_info else None,
            self.base_data, schema, settings.model, settings.evaluation.seed,
            has_gaps(schema.features, self.training_data, self.benchmark_data),
        )
        self.baseline_info = a.plain(baseline_info)
        candidate, self.candidate_model_bytes, candidate_info = train_candidate(
            baseline, baseline_info, self.training_data, schema,
        )
        self.candidate_info = a.plain(candidate_info)
        self.predictions = {
            "y_true": self.benchmark_data[schema.target].to_numpy(), "classes": self.classes,
            "baseline": predict(baseline, self.benchmark_data, schema),
            "candidate": predict(candidate, self.benchmark_data, schema),
        }
        # what monitor_and_log needs to log both models without loading them
        self.model_types = {"baseline.skops": stored_types(self.baseline_model_bytes),
                            "candidate.skops": stored_types(self.candidate_model_bytes)}
        contributions = a.contributions(self.contributions)
        plan = attribution_plan(settings, contributions)
        self.attribution_plan = a.plain(plan)
        self.attribution_values = self.predictions_without_harmful = None
        if plan is not None and not fan_out(settings.evaluation.attribution_fan_out, plan, self.branches):
            attribution = attribute_by_retraining(settings, baseline, self.predictions, self.training_data,
                                                  self.benchmark_data, schema, contributions, str(Path(self.project_dir).resolve()))
            self.attribution_values = a.plain(attribution)
            self.predictions_without_harmful = predictions_without(
                attribution, contributions, baseline, self.training_data, self.benchmark_data, schema)
        self.environment = environment()  # beside the evidence: what these fits ran on (BLAS loaded now)
        # one branch that does nothing when attribution ran here; else batches of coalitions
        self.coalition_batches = (batches(plan, self.branches) if self.attribution_values is None and plan is not None
                                  else [None])
        self.next(self.retrain_coalitions, foreach="coalition_batches")

    @resources(cpu=2, memory=8192)
    @step
    def retrain_coalitions(self):
        """Fan-out of a large attribution: this branch's coalitions retrained and scored
        (`--max-workers` branches at once here, a cluster with `--with kubernetes`)."""
        self.coalition_values = []
        if self.input is not None:
            from pathlib import Path

            from pipeline.runs import artifacts as a
            from pipeline.scoring.attribution import run_batch
            from pipeline.scoring.delta import attribution_game
            from pipeline.modelling.models import load_model

            settings = a.settings(self.settings)
            plan = a.plan(self.attribution_plan)
            _, value = attribution_game(
                settings, load_model(self.baseline_model_bytes, "baseline.skops"), self.predictions, self.training_data,
                self.benchmark_data, a.schema(self.schema), a.contributions(self.contributions),
                str(Path(self.project_dir).resolve()))
            self.coalition_values = [(sorted(c), v) for c, v in run_batch(plan, self.input, value).items()]
        self.next(self.join_attribution)

    @step
    def join_attribution(self, inputs):
        """Replay the attribution's plan over the values the branches computed (identical to
        the in-process result), then the harm advice's retraining."""
        from pipeline.attest.cost import join_task_cpu

        self.merge_artifacts(inputs, exclude=["coalition_values", "task_cpu_seconds"])
        self.task_cpu_seconds = join_task_cpu([i.task_cpu_seconds for i in inputs], "retrain_coalitions")
        if self.attribution_values is None and self.attribution_plan is not None:
            from pathlib import Path

            from pipeline.runs import artifacts as a
            from pipeline.scoring.fanout import from_branches

            attribution, self.predictions_without_harmful = from_branches(
                a.settings(self.settings), a.plan(self.attribution_plan), [i.coalition_values for i in inputs],
                self.predictions, a.contributions(self.contributions), self.baseline_model_bytes, self.training_data,
                self.benchmark_data, a.schema(self.schema), str(Path(self.project_dir).resolve()))
            self.attribution_values = a.plain(attribution)
        self.next(self.evaluate_on_benchmark)

    @step
    def evaluate_on_benchmark(self):
        """Score both models' predictions on the same benchmark rows."""
        from pathlib import Path

        from pipeline.runs import artifacts as a
        from pipeline.scoring.evaluation import evaluate_on_benchmark

        benchmark_info, self.baseline_metrics, self.candidate_metrics = evaluate_on_benchmark(
            self.predictions, self.project_files["benchmark"], self.predictions["classes"], a.settings(self.settings).evaluation,
            str(Path(self.project_dir).resolve()),
        )
        self.benchmark_info = a.plain(benchmark_info)
        self.next(self.compare_and_output_delta)

    @card(type="blank", id="report")
    @step
    def compare_and_output_delta(self):
        """Per-metric deltas, DeltaOne in bps with its bootstrap CI, the gate, the contributor
        weights; the report card (`hokusai inspect --card FILE`)."""
        from pathlib import Path

        from pipeline.runs import artifacts as a
        from pipeline.runs.card import fill_card
        from pipeline.data.inputs import split_contribs
        from pipeline.scoring.delta import compare_and_output_delta
        from pipeline.runs.report import exclude_command
        from pipeline.scoring.harm import advise, with_advice

        settings, project = a.settings(self.settings), Path(self.project_dir).resolve()
        contributions, attribution = a.contributions(self.contributions), a.attribution(self.attribution_values)
        delta = compare_and_output_delta(
            settings, self.baseline_metrics, self.candidate_metrics, self.predictions, self.benchmark_info["rows"],
            contributions, attribution, str(project),
        )
        advice = advise(
            settings, self.baseline_metrics, self.predictions, self.predictions_without_harmful,
            self.benchmark_info["rows"], contributions, attribution, delta.passed,
            lambda refs: exclude_command(refs, contrib_files=self.contrib_files, project_dir=project,
                                         config_file=self.config_file, dry_run=self.dry_run,
                                         excluded=split_contribs(self.exclude)),
            str(project),
        )
        delta = with_advice(delta, advice, a.excluded(self.excluded))
        self.delta = a.plain(delta)
        self.attribution = {"method": delta.weight_method, "retrainings": delta.retrainings,
                            "values_bps": {c.wallet: c.value_bps for c in delta.contributors}}
        fill_card(current.card["report"], self.delta)
        self.next(self.generate_attestation_output)

    @step
    def generate_attestation_output(self):
        """Deterministic evidence and its hash (typed data is built at `hokusai attest`); under
        `[attestation] commitment = "mlflow-merkle-v1"` the models are committed as their MLflow
        folders (the default reads no model bytes here)."""
        from pathlib import Path

        from pipeline.attest.commitment import MERKLE_V1, run_commitments
        from pipeline.attest.evidence import evidence_for_run
        from pipeline.runs import artifacts as a

        settings, baseline = a.settings(self.settings), a.model_info(self.baseline_info)
        commitments = None if settings.attestation.commitment != MERKLE_V1 else run_commitments(
            settings, Path(self.project_dir).resolve(), baseline.source, self.baseline_model_bytes,
            self.candidate_model_bytes, self.model_types)
        self.attestation = evidence_for_run(
            settings, self.dry_run, baseline,
            a.model_info(self.candidate_info), a.benchmark_info(self.benchmark_info),
            a.contributions(self.contributions), a.delta(self.delta), commitments,
        )
        self.next(self.monitor_and_log)

    @step
    def monitor_and_log(self):
        """Record params, metrics, models and evidence in MLflow; log a summary."""
        from pathlib import Path

        from pipeline.runs import artifacts as a
        from pipeline.runs.tracking import log_run, tracked_models

        self.tracking = log_run(
            settings=a.settings(self.settings), project_dir=Path(self.project_dir).resolve(), dry_run=self.dry_run,
            pathspec=current.pathspec.rsplit("/", 2)[0], delta=a.delta(self.delta), attestation=self.attestation,
            manifest=self.data_manifest, baseline_info=a.model_info(self.baseline_info),
            models=tracked_models({"baseline": self.baseline_model_bytes, "candidate": self.candidate_model_bytes},
                                  self.predictions, self.model_types),
            training_data=self.training_data,
        )
        self.mlflow_run_id = self.tracking["run_id"]
        self.next(self.end)

    @step
    def end(self):
        """Nothing left to compute: the evaluation is complete."""
        from pipeline.logs import get_logger

        get_logger().info(
            "evaluation.finished", deltaone_bps=self.delta["deltaone_bps"], gate_passed=self.delta["passed"],
            attestation_hash=self.attestation["attestationHash"], mlflow_run_id=self.mlflow_run_id,
        )
        self._record_cpu()


def _main() -> None:
    """Run Metaflow's command line. A task process (`flow.py ... step NAME`) that succeeded then
    ends at once, with its output flushed, instead of tearing down every module it loaded
    (pandas, scikit-learn, MLflow: ~0.2-0.5 s a task, paid between steps): by then Metaflow has
    stored its artifacts and marked it done, and none of our steps leaves work in a thread. Any
    other exit (a failure, the runtime's own process) ends as usual."""
    import sys

    try:
        HokusaiEvaluationFlow()
    except SystemExit as done:
        if done.code in (0, None) and "step" in sys.argv[1:-1]:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        raise


if __name__ == "__main__":
    _main()

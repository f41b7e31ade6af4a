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

    def next(self, *steps, **kwargs):
        """Every step but `end` ends here: record the task's CPU time (`hokusai attest` prices it)."""
        self._record_cpu()
        super().next(*steps, **kwargs)

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
        self.next(self.load_baseline_model)

    @step
    def load_baseline_model(self):
        """Load the baseline from its skops file, or train it from the base data."""
        from pipeline.modelling.baseline import prepare_baseline
        from pipeline.runs import artifacts as a

        baseline = prepare_baseline(a.settings(self.settings), a.inputs(self.inputs))
        self.baseline_model_bytes, self.baseline_info = baseline.model_bytes, a.plain(baseline.info)
        self.schema, self.base_data = a.plain(baseline.schema), baseline.base_data
        self.next(self.integrate_contributed_data)

    @step
    def integrate_contributed_data(self):
        """Validate contributed tables; drop invalid, duplicate and benchmark rows; hash; join."""
        from pipeline.data.contributions import integrate_contributed_data
        from pipeline.runs import artifacts as a

        settings = a.settings(self.settings)
        integration, self.benchmark_data = integrate_contributed_data(
            a.inputs(self.inputs), a.schema(self.schema), self.baseline_info["classes"], self.base_data, settings.data
        )
        self.training_data = integration.training_data
        self.contributions = a.plain(integration.contributions)
        self.data_manifest = integration.manifest()
        self.next(self.train_new_model)

    @resources(cpu=2, memory=8192)  # requests on Kubernetes/Batch (--with); no effect on a laptop
    @step
    def train_new_model(self):
        """Same estimator, hyper-parameters and seed as the baseline, on base + contributed rows."""
        from pipeline.modelling.training import train_candidate
        from pipeline.runs import artifacts as a

        _, self.candidate_model_bytes, candidate_info = train_candidate(
            a.model(self.baseline_model_bytes, "baseline"), a.model_info(self.baseline_info),
            self.training_data, a.schema(self.schema),
        )
        self.candidate_info = a.plain(candidate_info)
        self.next(self.evaluate_on_benchmark)

    @step
    def evaluate_on_benchmark(self):
        """Score both models on the same benchmark rows."""
        from pathlib import Path

        from pipeline.runs import artifacts as a
        from pipeline.scoring.evaluation import evaluate_on_benchmark

        benchmark_info, self.baseline_metrics, self.candidate_metrics, self.predictions = evaluate_on_benchmark(
            a.model(self.baseline_model_bytes, "baseline"), a.model(self.candidate_model_bytes, "candidate"),
            self.benchmark_data, self.inputs["benchmark"], a.schema(self.schema),
            self.baseline_info["classes"], a.settings(self.settings).evaluation, str(Path(self.project_dir).resolve()),
        )
        self.benchmark_info = a.plain(benchmark_info)
        self.next(self.compare_and_output_delta)

    @resources(cpu=2, memory=8192)  # attribution retrains the candidate up to attribution_budget times
    @card(type="blank", id="report")
    @step
    def compare_and_output_delta(self):
        """Per-metric deltas, DeltaOne in bps with its bootstrap CI, the gate, attribution;
        the report card (`hokusai inspect --card FILE`)."""
        from pathlib import Path

        from pipeline.runs import artifacts as a
        from pipeline.runs.card import fill_card
        from pipeline.scoring.delta import compare_and_attribute

        delta = compare_and_attribute(
            a.settings(self.settings), self.baseline_metrics, self.candidate_metrics, self.predictions,
            self.benchmark_info["rows"], a.contributions(self.contributions),
            a.model(self.baseline_model_bytes, "baseline"), self.training_data, self.benchmark_data,
            a.schema(self.schema), self.baseline_info["classes"], str(Path(self.project_dir).resolve()),
        )
        self.delta = a.plain(delta)
        self.attribution = {"method": delta.weight_method, "retrainings": delta.retrainings,
                            "values_bps": {c.wallet: c.value_bps for c in delta.contributors}}
        fill_card(current.card["report"], self.delta)
        self.next(self.generate_attestation_output)

    @step
    def generate_attestation_output(self):
        """Deterministic evidence and its hash (typed data is built at `hokusai attest`)."""
        from pipeline.attest.evidence import evidence_for_run
        from pipeline.runs import artifacts as a

        self.attestation = evidence_for_run(
            a.settings(self.settings), self.dry_run, a.model_info(self.baseline_info),
            a.model_info(self.candidate_info), a.benchmark_info(self.benchmark_info),
            a.contributions(self.contributions), a.delta(self.delta),
        )
        self.next(self.monitor_and_log)

    @step
    def monitor_and_log(self):
        """Record params, metrics, models and evidence in MLflow; log a summary."""
        from pathlib import Path

        from pipeline.runs import artifacts as a
        from pipeline.runs.tracking import log_run

        self.tracking = log_run(
            settings=a.settings(self.settings), project_dir=Path(self.project_dir).resolve(), dry_run=self.dry_run,
            pathspec=current.pathspec.rsplit("/", 2)[0], delta=a.delta(self.delta), attestation=self.attestation,
            manifest=self.data_manifest, baseline_info=a.model_info(self.baseline_info),
            models={"baseline.skops": self.baseline_model_bytes, "candidate.skops": self.candidate_model_bytes},
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

if __name__ == "__main__":
    HokusaiEvaluationFlow()

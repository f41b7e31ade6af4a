"""Fixtures of the contract tests: the real DeltaVerifier stack deployed once per session on an
in-process EVM and served over JSON-RPC, and the real runs whose `hokusai attest` output is
submitted to it (`project_run` of tests/conftest.py, plus the runs below)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ALICE, BOB, invoke, make_project

# Public keys with no value on any network: Hardhat test key #2 (address BOB) and a throwaway one.
KEY_1 = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
KEY_2 = "0x" + "11" * 32
SIGNER_1 = BOB
SIGNER_2 = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"
UNKNOWN_KEY = "0x" + "22" * 32  # never registered as an attester
MODEL_ID = 7  # [model] id of tests/conftest.py's PROJECT_TOML


def _new_project(root: Path, *, base_extra: Any = None, baseline_model: bytes | None = None,
                 evaluation: str = "") -> Path:
    project = make_project(root)
    toml = (project / "hokusai.toml").read_text()
    if baseline_model is not None:
        (project / "data" / "baseline.skops").write_bytes(baseline_model)
        toml = toml.replace('benchmark = "data/benchmark.csv"\n',
                            'benchmark = "data/benchmark.csv"\nbaseline_model = "data/baseline.skops"\n')
    if evaluation:
        toml = toml.replace("min_improvement_bps = 100\n", f"min_improvement_bps = 100\n{evaluation}\n")
    (project / "hokusai.toml").write_text(toml)
    if base_extra is not None:
        import pandas as pd

        base = pd.concat([pd.read_csv(project / "data" / "base.csv"), base_extra])
        base.to_csv(project / "data" / "base.csv", index=False)
    return project


def _run(project: Path, *contrib: str) -> str:
    result = invoke("run", "--project", str(project), "--json", *(a for c in contrib for a in ("--contrib", c)))
    assert result.exit_code == 0, result.stderr[-3000:]
    return json.loads(result.stdout)["run_id"]


@pytest.fixture(scope="session")
def alice_run(tmp_path_factory):
    """A real run crediting one contributor: two rows of Alice's file (project, run id)."""
    import pandas as pd

    root = tmp_path_factory.mktemp("alice")
    project = _new_project(root / "project")
    alice = pd.read_csv(project / "data" / "contrib_alice.csv").head(2)
    alice.to_csv(project / "data" / "alice_two.csv", index=False)
    return project, _run(project, f"data/alice_two.csv:{ALICE}")


@pytest.fixture(scope="session")
def lineage_run(alice_run, tmp_path_factory):
    """Run 2 of a lineage: its baseline model is `alice_run`'s candidate (the same bytes, so its
    baselineCommitment is run 1's candidateCommitment), its base data run 1's training data, and
    Bob's file is its contribution (project, run id)."""
    import pandas as pd

    from pipeline.runs.runner import finished_run

    first_project, first_id = alice_run
    candidate = finished_run(first_project, first_id).data.candidate_model_bytes
    alice = pd.read_csv(first_project / "data" / "alice_two.csv")
    project = _new_project(tmp_path_factory.mktemp("lineage") / "project", base_extra=alice,
                           baseline_model=candidate, evaluation="confidence = 0.8")
    return project, _run(project, f"data/contrib_bob.parquet:{BOB}")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A real run whose gain is below minImprovementBps (50 bps, so its gate fails): ten base rows,
    each feature scaled by 1.001, contributed by Alice (project, run id)."""
    import pandas as pd

    project = _new_project(tmp_path_factory.mktemp("small") / "project")
    rows = pd.read_csv(project / "data" / "base.csv").head(10)
    features = [c for c in rows.columns if c != "target"]
    rows[features] = rows[features] * 1.001
    rows.to_csv(project / "data" / "near_copies.csv", index=False)
    return project, _run(project, f"data/near_copies.csv:{ALICE}")


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    out = {}
    for name, key in (("one", KEY_1), ("two", KEY_2), ("unknown", UNKNOWN_KEY)):
        out[name] = folder / f"{name}.key"
        out[name].write_text(key + "\n")
    return out


def attest(project: Path, run_id: str, key: Path, *extra: str, deadline: int) -> dict[str, Any]:
    """`hokusai attest RUN --sign-key-file KEY` as a user types it; the JSON it prints."""
    result = invoke("attest", run_id, "--project", str(project), "--sign-key-file", str(key),
                    "--deadline", str(deadline), "--allow-zero-cost", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def cosign(doc: dict[str, Any], key: Path, folder: Path) -> dict[str, Any]:
    """A second attester adds a signature: `hokusai attest --from FILE --sign-key-file KEY`."""
    path = folder / "to-cosign.json"
    path.write_text(json.dumps(doc))
    result = invoke("attest", "--from", str(path), "--sign-key-file", str(key), "--allow-zero-cost")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def stack(project_run):
    """The DeltaVerifier stack, deployed once: attesters SIGNER_1 and SIGNER_2, threshold 1, the
    relayer granted SUBMITTER_ROLE, model 7 seeded with the trained baseline's commitment (the
    baselineCommitment every run of tests/conftest.py's project signs) and a 1e12-token budget."""
    from pipeline.runs.runner import finished_run
    from tests.attest.evm import Chain

    project, run = project_run
    genesis = finished_run(project, run.id).data.attestation["evidence"]["baseline"]["commitment"]
    chain = Chain()
    chain.deploy_stack([SIGNER_1, SIGNER_2], threshold=1)
    chain.token = chain.register_model(MODEL_ID, genesis)
    chain.genesis = genesis
    return chain


@pytest.fixture
def chain(stack):
    """The session's stack, with whatever a test does to it undone afterwards."""
    mark = stack.snapshot()
    yield stack
    stack.restore(mark)


@pytest.fixture(scope="session")
def node(stack):
    """The stack served over JSON-RPC on 127.0.0.1: its URL."""
    url, server = stack.serve()
    yield url
    server.shutdown()

"""A complete, valid `hokusai.attestation/v1` document built without running a flow.

The evidence has the shape `build_evidence` writes (see pipeline/schemas/evidence.schema.json),
so every check of `hokusai verify` holds on it, `evidence_message` included.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.conftest import ALICE, BOB

# Public Hardhat test key #2 (no value on any network); its address is BOB.
TEST_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
# Public throwaway key (never funded), for a second signer.
KEY_B = "0x" + "11" * 32
VERIFYING_CONTRACT = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"
# A measured cost within budget (the figures of the DeltaVerifier known-answer vector): signing
# a zero cost needs --allow-zero-cost.
MAX_COST, ACTUAL_COST = 5_000_000, 2_340_000

EVIDENCE: dict[str, Any] = {
    "schema": "hokusai.evidence/v1",
    "tool": {"name": "hokusai-pipeline", "version": "0.0.0"},
    "modelId": "7",
    "configHash": "0x" + "c0" * 32,
    "seed": 42,
    "dryRun": False,
    "baseline": {"source": "trained:base.csv", "estimator": "logistic_regression",
                 "sha256": "0x" + "aa" * 32, "commitment": "0x" + "aa" * 32},
    "candidate": {"estimator": "logistic_regression", "sha256": "0x" + "bb" * 32,
                  "commitment": "0x" + "bb" * 32, "trainingRows": 569},
    "benchmark": {"specId": "hokusai-demo-breast-cancer-v1", "sha256": "0x" + "0d" * 32, "rows": 200},
    "contributions": [
        {"wallet": ALICE, "contentSha256": "0x" + "a1" * 32, "fileSha256": "0x" + "a2" * 32, "rowsIn": 120,
         "rowsKept": 110, "duplicatesDropped": 5, "benchmarkRowsDropped": 3, "invalidRowsDropped": 2},
        {"wallet": BOB, "contentSha256": "0x" + "b1" * 32, "fileSha256": "0x" + "b2" * 32, "rowsIn": 170,
         "rowsKept": 169, "duplicatesDropped": 1, "benchmarkRowsDropped": 0, "invalidRowsDropped": 0},
    ],
    "contributors": [
        {"wallet": ALICE, "rows": 110, "valueBps": "275.00", "weightBps": 3929},
        {"wallet": BOB, "rows": 169, "valueBps": "425.00", "weightBps": 6071},
    ],
    "metrics": {"primary": "accuracy", "family": "proportion",
                "baselineBps": {"accuracy": 9100, "f1": 9200}, "candidateBps": {"accuracy": 9800, "f1": 9850}},
    "delta": {"deltaOneBps": 700, "deltaOnePp": "7.00", "perMetricBps": {"accuracy": 700, "f1": 650},
              "ci": {"lowBps": 300, "highBps": 1100, "resamples": 1000, "confidenceBps": 9500,
                     "method": "paired-percentile", "seed": 42},
              "weightMethod": "shapley", "retrainings": 4},
    "gate": {"passed": True, "conditions": [{"name": "min_improvement", "value": 700, "threshold": 100,
                                             "passed": True}]},
}


def unsigned_attestation() -> dict[str, Any]:
    """The document `hokusai attest` prints for a passing, non-dry run, before signing."""
    from pipeline.attest.eip712 import attestation_hash
    from pipeline.attest.evidence import build_attestation

    evidence = copy.deepcopy(EVIDENCE)
    return build_attestation(evidence, attestation_hash(evidence), pipeline_run_id="HokusaiEvaluationFlow/1",
                             chain_id=31337, verifying_contract=VERIFYING_CONTRACT, deadline=4102444800,
                             max_cost_usd_micro=MAX_COST, actual_cost_usd_micro=ACTUAL_COST)


def signed_attestation(*keys: str) -> dict[str, Any]:
    """`unsigned_attestation()` signed by `keys` (default: TEST_KEY and KEY_B)."""
    from pipeline.attest.eip712 import add_signature, sign

    doc = unsigned_attestation()
    for key in keys or (TEST_KEY, KEY_B):
        doc = add_signature(doc, sign(doc["typedData"], key))
    return doc


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path

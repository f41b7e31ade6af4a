"""Where an attestation is meant to land: the DeltaVerifier deployments hokusai knows, and the
rules of the contract that decide whether a mint pays anything.

The presets come from the hokusai-token deployment records. The contract accepts a request
whose gain is below its `minImprovementBps`, or whose cost is over its budget, but then pays
nothing and still burns the idempotency key: the evaluation is lost. These functions let
`attest`, `publish` and `verify` say so before that happens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from pipeline.errors import AttestationError

if TYPE_CHECKING:
    from pipeline.config import AttestationSection

#: `minImprovementBps` of every DeltaVerifier deployed so far (hokusai-token deployment records).
DEPLOYED_MIN_IMPROVEMENT_BPS = 100


@dataclass(frozen=True)
class Network:
    """A DeltaVerifier deployment: the EIP-712 domain's chainId and verifyingContract."""

    name: str
    chain_id: int
    verifying_contract: str
    min_improvement_bps: int = DEPLOYED_MIN_IMPROVEMENT_BPS


NETWORKS: dict[str, Network] = {
    "local": Network("local", 31337, "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"),
    "sepolia": Network("sepolia", 11155111, "0x7C597B97d00F490a4A4731E027288F4cB680cFF3"),
    "mainnet": Network("mainnet", 1, "0xE9D40B96703391464bc6b0ea0b4F0404399AaCE7"),
}


@dataclass(frozen=True)
class Target:
    """The resolved domain of an attestation. `network` is a preset's name, or None when the
    chainId/contract pair matches no preset (a custom deployment)."""

    network: str | None
    chain_id: int
    verifying_contract: str
    min_improvement_bps: int = DEPLOYED_MIN_IMPROVEMENT_BPS

    def describe(self) -> str:
        """'sepolia (chain 11155111, DeltaVerifier 0x7C59…)' for sentences and tables."""
        where = self.network if self.network else "a custom network"
        return f"{where} (chain {self.chain_id}, DeltaVerifier {self.verifying_contract})"


def target_of(chain_id: int, verifying_contract: str) -> Target:
    """The target a domain names: a preset when both chainId and address match one, else a
    custom deployment, assumed to use the deployed threshold (100 bps)."""
    for net in NETWORKS.values():
        if net.chain_id == chain_id and net.verifying_contract.lower() == str(verifying_contract).lower():
            return Target(net.name, chain_id, net.verifying_contract, net.min_improvement_bps)
    return Target(None, chain_id, verifying_contract, DEPLOYED_MIN_IMPROVEMENT_BPS)


def network(name: str, source: str = "--network") -> Network:
    """A preset by name, or one sentence naming `source` and the known names."""
    try:
        return NETWORKS[name]
    except KeyError:
        raise AttestationError(
            f"{source} {name!r} is not a known network; use {', '.join(NETWORKS)}, or give "
            "--chain-id and --verifying-contract."
        ) from None


def resolve_target(
    config: AttestationSection, *, network_name: str | None = None, chain_id: int | None = None,
    verifying_contract: str | None = None,
) -> Target:
    """The domain `attest` signs for. Command line beats file; within each, an explicit chain
    id or contract beats the network's: `--chain-id`/`--verifying-contract`, then
    `--network`, then `[attestation] chain_id`/`verifying_contract`, then `[attestation] network`."""
    if network_name is not None:
        base = network(network_name)
        chain, contract = base.chain_id, base.verifying_contract
    else:
        base = network(config.network, "[attestation] network")
        chain = config.chain_id if config.chain_id is not None else base.chain_id
        contract = config.verifying_contract or base.verifying_contract
    if chain_id is not None:
        chain = chain_id
    if verifying_contract is not None:
        contract = verifying_contract
    return target_of(chain, contract)


# --- what the contract does with a request (DeltaVerifier.submitMintRequest) ---------------


def contract_gain_bps(payload: Mapping[str, Any]) -> int:
    """The gain the contract computes: candidateScoreBps - baselineScoreBps, or 0 when the
    candidate is not better (`_calculateSingleMetricDelta`)."""
    baseline, candidate = int(payload["baselineScoreBps"]), int(payload["candidateScoreBps"])
    return max(candidate - baseline, 0)


def budget_violated(payload: Mapping[str, Any]) -> bool:
    """`_isBudgetConstraintViolated`: both costs non-zero and the actual one above the maximum."""
    max_cost, actual = int(payload["maxCostUsdMicro"]), int(payload["actualCostUsdMicro"])
    return max_cost > 0 and actual > 0 and actual > max_cost


def threshold_check(typed_data: Mapping[str, Any]) -> tuple[bool, str]:
    """Does the signed gain reach the target's minImprovementBps? (ok, detail)."""
    domain, payload = typed_data["domain"], typed_data["message"]["payload"]
    target = target_of(int(domain["chainId"]), domain["verifyingContract"])
    gain = contract_gain_bps(payload)
    if gain >= target.min_improvement_bps:
        return True, f"gain {gain} bps >= minImprovementBps {target.min_improvement_bps} on {target.describe()}"
    return False, (f"gain {gain} bps < minImprovementBps {target.min_improvement_bps} on {target.describe()}: "
                   "accepted with reward 0, idempotency key burned")


def budget_check(typed_data: Mapping[str, Any]) -> tuple[bool, str]:
    """Is the signed cost within the signed budget? (ok, detail)."""
    payload = typed_data["message"]["payload"]
    max_cost, actual = int(payload["maxCostUsdMicro"]), int(payload["actualCostUsdMicro"])
    if budget_violated(payload):
        return False, (f"actualCostUsdMicro {actual} > maxCostUsdMicro {max_cost}: accepted with reward 0, "
                       "idempotency key burned")
    if actual == 0:
        return True, "actualCostUsdMicro is 0: the contract's budget check is off"
    if max_cost == 0:
        return True, f"actualCostUsdMicro {actual}, no budget (maxCostUsdMicro 0)"
    return True, f"actualCostUsdMicro {actual} <= maxCostUsdMicro {max_cost}"


def deadline_check(typed_data: Mapping[str, Any], now: int) -> tuple[bool, str]:
    """Is the deadline still ahead at `now`? The contract reverts SignatureExpired after it."""
    deadline = int(typed_data["message"]["payload"]["deadline"])
    if deadline > now:
        return True, f"deadline {deadline} ({utc(deadline)}) is after {now} ({utc(now)})"
    return False, f"deadline {deadline} ({utc(deadline)}) has passed at {now} ({utc(now)}): the contract reverts SignatureExpired"


def utc(unix: int) -> str:
    """A unix time as '2023-11-14T22:13:20Z' (or the number itself when out of range)."""
    from datetime import datetime, timezone

    try:
        return datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(unix)


def refuse_unpayable(typed_data: Mapping[str, Any], force: bool) -> None:
    """Signing a request the contract would accept with reward 0 (gain below the threshold,
    cost over budget) burns its idempotency key for nothing: refused unless --force."""
    if force:
        return
    domain, payload = typed_data["domain"], typed_data["message"]["payload"]
    target = target_of(int(domain["chainId"]), domain["verifyingContract"])
    gain = contract_gain_bps(payload)
    if gain < target.min_improvement_bps:
        raise AttestationError(
            f"The gain is {gain} bps, below the minImprovementBps of {target.min_improvement_bps} on "
            f"{target.describe()}, which would accept it with reward 0 and burn its idempotency key; "
            "pass --force to sign it anyway."
        )
    if budget_violated(payload):
        raise AttestationError(
            f"actualCostUsdMicro {payload['actualCostUsdMicro']} is over maxCostUsdMicro "
            f"{payload['maxCostUsdMicro']}, so the contract would pay nothing and burn the idempotency key; "
            "raise [attestation] max_cost_usd_micro and run again, or pass --force to sign it anyway."
        )


def refuse_expired(typed_data: Mapping[str, Any], now: int) -> None:
    """A deadline at or before now reverts on chain (SignatureExpired): never sign one."""
    deadline = int(typed_data["message"]["payload"]["deadline"])
    if deadline <= now:
        raise AttestationError(
            f"The deadline {deadline} ({utc(deadline)}) is not in the future, so DeltaVerifier would revert "
            "SignatureExpired; attest the run again with a later --deadline or with --deadline-days."
        )

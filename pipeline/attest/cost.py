"""What a run cost: CPU-seconds of its tasks, priced at `[attestation] usd_per_cpu_hour`.

The DeltaVerifier turns its budget check off when `actualCostUsdMicro` is 0, so the cost is
measured, never defaulted. Each task records its own CPU time (user + system, its own process
and the children it waited for) when it ends (`record_task_cpu`, called by the flow); `hokusai
attest` adds them up and prices them.

CPU time is not deterministic (the same run twice takes a little more or less), so it stays
out of the evidence: the evidence hash must be the same for the same inputs. What *is*
deterministic, the price per CPU-hour and the budget, is in the settings the evidence hashes
(`configHash`). The measured seconds and the resulting cost go into the signed message
(`actualCostUsdMicro`) and, with how they were computed, into the attestation's `cost` field."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, Mapping

from pipeline.errors import AttestationError

if TYPE_CHECKING:
    from pipeline.config import AttestationSection

SECONDS_PER_HOUR = 3600
MICRO = 10**6
#: How `actualCostUsdMicro` was obtained, as written in the attestation's `cost.method`.
MEASURED = "cpu_seconds_x_usd_per_cpu_hour"
CONFIGURED = "configured_actual_cost_usd_micro"
NONE = "not_configured"


def task_cpu_seconds() -> float:
    """User + system CPU seconds of this process and of the children it has waited for."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def record_task_cpu(recorded: Mapping[str, float] | None, step: str) -> dict[str, float]:
    """The per-step record with this task's CPU seconds added (a linear flow carries the
    record forward from step to step; a resumed run keeps its cloned steps' values)."""
    return {**(recorded or {}), step: round(task_cpu_seconds(), 3)}


def join_task_cpu(branches: list[Mapping[str, float]], foreach_step: str) -> dict[str, float]:
    """A join's record: the steps before the foreach as any branch has them, and the
    foreach step's CPU summed over its branches (every branch is paid for)."""
    return {**branches[0], foreach_step: round(sum(b.get(foreach_step, 0.0) for b in branches), 3)}


def seconds_text(seconds: float) -> str:
    """CPU seconds as an exact 3-decimal string: the number the cost is computed from."""
    return str(Decimal(repr(float(seconds))).quantize(Decimal("0.001"), ROUND_HALF_EVEN))


def rate_text(usd_per_cpu_hour: float) -> str:
    """The configured price as its shortest exact decimal ('0.05', not 0.05000000000000000277)."""
    return format(Decimal(repr(float(usd_per_cpu_hour))).normalize(), "f")


def price_usd_micro(cpu_seconds: str, usd_per_cpu_hour: str) -> int:
    """ceil(cpu_seconds x usd_per_cpu_hour x 10^6 / 3600), exact: a measured, priced run never
    rounds down to 0 (which would switch the contract's budget check off)."""
    cost = Decimal(cpu_seconds) * Decimal(usd_per_cpu_hour) * MICRO / SECONDS_PER_HOUR
    return int(cost.to_integral_value(ROUND_CEILING))


@dataclass(frozen=True)
class Cost:
    """`actualCostUsdMicro` and `maxCostUsdMicro` of a run, and how the former was obtained."""

    actual_usd_micro: int
    max_usd_micro: int
    method: str  # MEASURED, CONFIGURED or NONE
    cpu_seconds: str | None = None
    usd_per_cpu_hour: str | None = None
    tasks: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The attestation's `cost` field (camelCase; uint256 above 2**53 as strings)."""
        from pipeline.attest.eip712 import uint_json

        out: dict[str, Any] = {"method": self.method, "actualCostUsdMicro": uint_json(self.actual_usd_micro),
                               "maxCostUsdMicro": uint_json(self.max_usd_micro)}
        if self.method == MEASURED:
            out |= {"cpuSeconds": self.cpu_seconds, "usdPerCpuHour": self.usd_per_cpu_hour,
                    "taskCpuSeconds": dict(self.tasks),
                    "formula": "ceil(cpuSeconds x usdPerCpuHour x 1000000 / 3600)"}
        return out


def run_cost(config: AttestationSection, task_cpu: Mapping[str, float] | None, run: str = "this run") -> Cost:
    """The cost of a run from its settings and its recorded CPU time.

    `actual_cost_usd_micro` > 0 is taken as given (a cost measured elsewhere); otherwise the
    CPU time is priced at `usd_per_cpu_hour`; with neither, the cost is 0 (`NONE`), which
    signing refuses unless --allow-zero-cost."""
    max_cost = config.max_cost_usd_micro
    if config.actual_cost_usd_micro > 0:
        return Cost(config.actual_cost_usd_micro, max_cost, CONFIGURED)
    if config.usd_per_cpu_hour == 0:
        return Cost(0, max_cost, NONE)
    if not task_cpu:
        raise AttestationError(
            f"{run} recorded no CPU time (it predates cost measurement), so its cost cannot be priced at "
            "usd_per_cpu_hour; run it again, or set [attestation] actual_cost_usd_micro."
        )
    tasks = {step: seconds_text(seconds) for step, seconds in task_cpu.items()}
    total = str(sum((Decimal(t) for t in tasks.values()), Decimal("0.000")))
    rate = rate_text(config.usd_per_cpu_hour)
    return Cost(price_usd_micro(total, rate), max_cost, MEASURED, total, rate, tasks)


def refuse_zero_cost(typed_data: Mapping[str, Any], allow_zero_cost: bool) -> None:
    """A zero `actualCostUsdMicro` switches the contract's budget check off: signing one needs
    an explicit --allow-zero-cost."""
    if allow_zero_cost:
        return
    if int(typed_data["message"]["payload"]["actualCostUsdMicro"]) == 0:
        raise AttestationError(
            "actualCostUsdMicro is 0 because no cost is configured, and a zero cost turns the contract's "
            "budget check off; set [attestation] usd_per_cpu_hour (or actual_cost_usd_micro) and run again, "
            "or pass --allow-zero-cost."
        )


def cost_check(doc: Mapping[str, Any]) -> tuple[bool, str]:
    """Does the attestation's `cost` explain the signed `actualCostUsdMicro`? (ok, detail).
    A document without `cost` (written elsewhere, or before cost measurement) passes."""
    payload = doc["typedData"]["message"]["payload"]
    signed = int(payload["actualCostUsdMicro"])
    cost = doc.get("cost")
    if cost is None:
        return True, f"actualCostUsdMicro {signed} (no cost record to recompute)"
    if not isinstance(cost, Mapping):
        return False, "cost is not an object; use the file exactly as `hokusai attest` wrote it"
    recorded = int(cost["actualCostUsdMicro"])
    if cost.get("method") == MEASURED:
        computed = price_usd_micro(str(cost["cpuSeconds"]), str(cost["usdPerCpuHour"]))
        if computed != recorded or recorded != signed:
            return False, (f"ceil({cost['cpuSeconds']} s x {cost['usdPerCpuHour']} USD/h) = {computed} µUSD, "
                           f"recorded {recorded}, signed {signed}")
        return True, f"{cost['cpuSeconds']} CPU-s x {cost['usdPerCpuHour']} USD/h = {signed} µUSD"
    if recorded != signed:
        return False, f"cost.actualCostUsdMicro {recorded} != signed {signed}"
    return True, f"actualCostUsdMicro {signed} ({cost.get('method')})"

"""What a live DeltaVerifier will do with an attestation, learnt before anything is submitted:
the `--rpc` preflight of `hokusai verify` and `hokusai publish`.

Plain JSON-RPC over urllib plus `eth-abi` (which eth-account brings): reads and `eth_call`
only, so hokusai never sends a transaction and no key ever goes to the node. A revert is
decoded into the contract's own error name (the error entries of the compiled hokusai-token
stack, 693b423), so each row says what the contract would say and what to do about it."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from pipeline.errors import InputError

#: eth_call `from` when neither --relayer nor [attestation] relayer is given: Hardhat account #0,
#: which deploys a local chain and so holds SUBMITTER_ROLE there.
DEFAULT_RELAYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
TOKEN_DECIMALS = 18  # HokusaiToken is an OpenZeppelin ERC20
_ZERO32 = b"\x00" * 32


@dataclass(frozen=True)
class ContractError:
    """A revert of the Hokusai contracts: its ABI signature, why it happens, what to do."""

    signature: str
    params: tuple[str, ...]
    cause: str
    fix: str  # may name the decoded arguments as {param}

    @property
    def name(self) -> str:
        return self.signature.partition("(")[0]


_ADMIN = "an administrator's call, never raised by submitMintRequest"
_AS_WRITTEN = "submit the file exactly as `hokusai attest` wrote it (hokusai's contract_rules check refuses this)"

#: Every custom error in the ABIs of DeltaVerifier, TokenManager, ModelRegistry,
#: DataContributionRegistry and HokusaiToken (tests/vectors/deltaverifier-contracts/artifacts.json).
CONTRACT_ERRORS = (
    ContractError("LineageParentMismatch(uint256,bytes32,bytes32)", ("modelId", "expectedHead", "providedBaseline"),
                  "the signed baselineCommitment is not the model's current head (another mint advanced it, or the "
                  "run's baseline model is not the head's model)",
                  "attest again with --baseline-commitment {expectedHead} (or [attestation] baseline_commitment) from a "
                  "run whose baseline model is that head; the idempotency key is not burned"),
    ContractError("LineageNotSeeded(uint256)", ("modelId",),
                  "the model has no weight genesis on chain, so no mint can define its history",
                  "ask the registry owner to seed it: ModelRegistry.setWeightGenesis({modelId}, <the baselineCommitment "
                  "you sign>)"),
    ContractError("MintBudgetExceeded(uint256,uint256,uint256)", ("modelId", "required", "remaining"),
                  "the reward is more than the model's remaining mint budget",
                  "ask the DeltaVerifier admin to top up model {modelId}'s budget (topUpMintBudget) by at least "
                  "{shortfall}; the idempotency key is not burned, so this same attestation is accepted afterwards"),
    ContractError("SignerNotAttester(address)", ("signer",),
                  "a signature recovers to an address that is not a registered attester: the signer is not registered, "
                  "or the signed data was changed after signing (it then recovers to an unrelated address)",
                  "ask the registry owner to add attester {signer} (DeltaVerifier.addAttester) if it is yours; "
                  "otherwise attest the run again and submit the file unchanged"),
    ContractError("InsufficientAttesterSignatures(uint256,uint256)", ("provided", "required"),
                  "fewer attester signatures than attesterThreshold",
                  "add signatures of {missing} more attester(s): hokusai attest --from FILE --sign-key-env VAR "
                  "(or --attach SIG)"),
    ContractError("AttestationThresholdNotConfigured()", (),
                  "attesterThreshold is 0: the contract refuses every mint until attesters are configured",
                  "ask the DeltaVerifier admin to addAttester and setAttesterThreshold"),
    ContractError("UnorderedOrDuplicateAttesters(address)", ("signer",),
                  "the signatures are not in strictly ascending signer order, or one signer signed twice",
                  "submit signatures in the order of the file's signers (hokusai sorts them so)"),
    ContractError("SignatureExpired(uint256,uint256)", ("deadline", "currentTimestamp"),
                  "the signed deadline is before the block's time",
                  "attest again with a later deadline (--deadline-days or [attestation] deadline_days)"),
    ContractError("InvalidCandidateCommitment()", (),
                  "candidateCommitment is zero or equal to the baseline, so the head would not move",
                  "attest a run whose candidate model differs from its baseline"),
    ContractError("ModelTokenMismatch(uint256,address,address)", ("modelId", "registryToken", "tokenManagerToken"),
                  "ModelRegistry and TokenManager name different tokens for the model",
                  "ask the registry owner to register the model with TokenManager's token"),
    ContractError("ArrayEmpty()", (), "no contributors", _AS_WRITTEN),
    ContractError("ArrayTooLarge(uint256,uint256)", ("length", "maxLength"), "more than 100 contributors", _AS_WRITTEN),
    ContractError("ArrayLengthMismatch(uint256,uint256)", ("expected", "actual"),
                  "TokenManager got recipients and amounts of different lengths",
                  _AS_WRITTEN),
    ContractError("ZeroAddress(string)", ("context",), "a zero address where one is needed ({context})", _AS_WRITTEN),
    ContractError("InvalidAmount(string)", ("context",), "an amount the contract refuses ({context})", _AS_WRITTEN),
    ContractError("EmptyString(string)", ("context",), "an empty string where text is needed ({context})", _AS_WRITTEN),
    ContractError("LegacyMintEntrypointDisabled()", (), "a legacy submitEvaluation* entry point was called",
                  "submit through submitMintRequest (what the relayer does with hokusai's mint_request)"),
    ContractError("AttesterAlreadyRegistered(address)", ("attester",), _ADMIN, "none on hokusai's side"),
    ContractError("AttesterNotRegistered(address)", ("attester",), _ADMIN, "none on hokusai's side"),
    ContractError("InvalidAttesterThreshold(uint256,uint256)", ("threshold", "attesterCount"), _ADMIN,
                  "none on hokusai's side"),
    ContractError("AttesterThresholdWouldBeUnmet(uint256,uint256)", ("newAttesterCount", "threshold"), _ADMIN,
                  "none on hokusai's side"),
    ContractError("ZeroAttester()", (), _ADMIN, "none on hokusai's side"),
    ContractError("InvalidHeadReset()", (), _ADMIN, "none on hokusai's side"),
    ContractError("InvalidShortString()", (), "a constructor argument (deployment only)", "none on hokusai's side"),
    ContractError("StringTooLong(string)", ("str",), "a constructor argument (deployment only)",
                  "none on hokusai's side"),
)

#: Error(string) reasons of submitMintRequest: (start of the reason, cause, fix).
REASONS = (
    ("Idempotency key already processed",
     "this evidence (model id + attestationHash) was already submitted: minted, or accepted with reward 0",
     "nothing to resubmit: the same evidence never mints twice; a new evaluation (new data or a new baseline) has a "
     "new key"),
    ("AccessControl: account", "the eth_call's from address (the relayer) lacks SUBMITTER_ROLE",
     "give the relayer's address with --relayer or [attestation] relayer"),
    ("Pausable: paused", "the DeltaVerifier is paused", "wait until its admin unpauses it"),
    ("ECDSA:", "a signature is malformed", _AS_WRITTEN),
)


def _selector(signature: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=signature)[:4]


def _types(signature: str) -> list[str]:
    """The top-level argument types of `name(t1,(t2,t3)[],…)`."""
    out, depth, start = [], 0, signature.index("(") + 1
    for i in range(start, len(signature) - 1):
        char = signature[i]
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            out.append(signature[start:i])
            start = i + 1
    last = signature[start:-1]
    return [*out, last] if last else out


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def tokens(wei: int) -> str:
    """18-decimal token units as a plain decimal: 2750300000000000000000 -> '2750.3'."""
    text = f"{Decimal(wei).scaleb(-TOKEN_DECIMALS):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class Revert:
    """A decoded revert: `name` is the contract's error name, `text` the call with its arguments."""

    name: str
    args: dict[str, Any]
    cause: str
    fix: str

    @property
    def text(self) -> str:
        if self.name == "Error":
            return f'Error("{self.args["reason"]}")'
        return f"{self.name}({', '.join(f'{k} {_show(v)}' for k, v in self.args.items())})"

    def sentence(self) -> str:
        return f"reverts {self.text}: {self.cause}; {self.fix}"


def decode_revert(data: bytes) -> Revert:
    """The contract's own error name and arguments from revert data (custom error, Error(string), Panic)."""
    from eth_abi import decode
    from eth_utils import to_checksum_address

    if len(data) < 4:
        return Revert("(no reason)", {}, "the call reverted without revert data", "check the contract's configuration")
    head, body = data[:4], data[4:]
    try:
        if head == _selector("Error(string)"):
            reason = decode(["string"], body)[0]
            for start, cause, fix in REASONS:
                if reason.startswith(start):
                    return Revert("Error", {"reason": reason}, cause, fix)
            return Revert("Error", {"reason": reason}, "the contract refused the request", _AS_WRITTEN)
        if head == _selector("Panic(uint256)"):
            return Revert("Panic", {"code": hex(decode(["uint256"], body)[0])}, "the contract hit an internal check",
                          "report it to the contract's maintainers")
        for error in CONTRACT_ERRORS:
            if head == _selector(error.signature):
                values = decode(_types(error.signature), body)
                args = {n: to_checksum_address(v) if t == "address" else v
                        for n, t, v in zip(error.params, _types(error.signature), values)}
                extra = {"shortfall": (f"{tokens(args['required'] - args['remaining'])} tokens"
                                       if error.name == "MintBudgetExceeded" else ""),
                         "missing": args["required"] - args["provided"] if "provided" in args else 0}
                shown = {k: _show(v) for k, v in {**args, **extra}.items()}
                return Revert(error.name, args, error.cause.format(**shown), error.fix.format(**shown))
    except Exception:  # eth-abi raises several types for data that does not fit the signature
        pass
    return Revert("0x" + head.hex(), {}, f"an error this hokusai does not know (data 0x{data.hex()})",
                  "check the contract's ABI")


# --- JSON-RPC ------------------------------------------------------------------------------


class Reverted(Exception):
    """An eth_call that reverted, with its revert data."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data.hex())
        self.data = data


_IDS = itertools.count(1)


def public_url(url: str) -> str:
    """scheme://host[:port] of a node URL: its path and user info may hold an API key."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


class Node:
    """A JSON-RPC endpoint, read-only: eth_chainId, eth_getCode, eth_getBlockByNumber, eth_call."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
        except ValueError:  # e.g. a port that is not a number
            ok = False
        if not ok:
            raise InputError(f"--rpc {url!r} is not an http:// or https:// URL; give the JSON-RPC URL of a node "
                             "(e.g. http://127.0.0.1:8545).")
        self.url, self.where, self.timeout = url, public_url(url), timeout

    def _post(self, method: str, params: list[Any]) -> dict[str, Any]:
        import urllib.error
        import urllib.request

        body = json.dumps({"jsonrpc": "2.0", "id": next(_IDS), "method": method, "params": params}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:  # some nodes answer a JSON-RPC error with HTTP 4xx/5xx
            raw = exc.read() or b""
            if not raw.lstrip().startswith(b"{"):
                raise InputError(f"The node at {self.where} answered HTTP {exc.code} to {method}; check the URL "
                                 "given with --rpc, HOKUSAI_RPC_URL or [attestation] rpc_url.") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InputError(f"Cannot reach the node at {self.where} ({reason}); check the URL given with --rpc, "
                             "HOKUSAI_RPC_URL or [attestation] rpc_url, and that the node is running.") from None
        try:
            reply = json.loads(raw)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or ("result" not in reply and not isinstance(reply.get("error"), dict)):
            raise InputError(f"The node at {self.where} did not answer {method} in JSON-RPC; give the JSON-RPC URL of "
                             "an Ethereum node.")
        return reply

    def request(self, method: str, params: list[Any]) -> Any:
        reply = self._post(method, params)
        if "error" in reply:
            raise InputError(f"The node at {self.where} refused {method} ({reply['error'].get('message')}); give "
                             "the URL of a node that serves it.")
        return reply["result"]

    def call(self, to: str, data: bytes, sender: str | None = None) -> bytes:
        """eth_call at the latest block; a revert raises `Reverted` with its data."""
        tx = {"to": to, "data": "0x" + data.hex(), **({"from": sender} if sender else {})}
        reply = self._post("eth_call", [tx, "latest"])
        if "error" in reply:
            error = reply["error"]
            found = error.get("data")
            found = found.get("data") if isinstance(found, dict) else found  # Hardhat nests it
            if isinstance(found, str) and found.startswith("0x"):
                try:
                    raise Reverted(bytes.fromhex(found[2:]))
                except ValueError:
                    pass
            if "revert" in str(error.get("message", "")).lower():
                raise Reverted(b"")
            raise InputError(f"The node at {self.where} refused eth_call ({error.get('message')}); give the URL of "
                             "a node that serves eth_call.")
        return bytes.fromhex(str(reply["result"]).removeprefix("0x"))

    def read(self, to: str, signature: str, out: str, *args: Any) -> Any:
        """One view function: `read(dv, "isAttester(address)", "bool", addr)`."""
        from eth_abi import decode, encode

        raw = self.call(to, _selector(signature) + encode(_types(signature), list(args)))
        return decode([out], raw)[0]


# --- the request as DeltaVerifier.submitMintRequest takes it ------------------------------


def _abi_type(kind: str) -> str:
    from pipeline.attest.eip712 import MINT_REQUEST_TYPES

    if kind.endswith("[]"):
        return _abi_type(kind[:-2]) + "[]"
    if kind in MINT_REQUEST_TYPES:
        return "(" + ",".join(_abi_type(f["type"]) for f in MINT_REQUEST_TYPES[kind]) + ")"
    return kind


def _abi_value(kind: str, value: Any) -> Any:
    from pipeline.attest.eip712 import MINT_REQUEST_TYPES

    if kind.endswith("[]"):
        return [_abi_value(kind[:-2], v) for v in value]
    if kind in MINT_REQUEST_TYPES:
        return tuple(_abi_value(f["type"], value[f["name"]]) for f in MINT_REQUEST_TYPES[kind])
    if kind == "uint256":
        return int(value)
    if kind == "bytes32":
        return bytes.fromhex(value[2:])
    return value


def submit_signature() -> str:
    """`submitMintRequest(uint256,(…),(address,uint256)[],bytes[])`, derived from the EIP-712 types."""
    from pipeline.attest.eip712 import MINT_REQUEST_TYPES

    fields = [_abi_type(f["type"]) for f in MINT_REQUEST_TYPES["MintRequest"]]
    return f"submitMintRequest({','.join(fields)},bytes[])"


def submit_calldata(doc: dict[str, Any]) -> bytes:
    """The relayer's call: the signed message, field for field, and the signatures in the file's order."""
    from eth_abi import encode

    from pipeline.attest.eip712 import MINT_REQUEST_TYPES

    message = doc["typedData"]["message"]
    values = [_abi_value(f["type"], message[f["name"]]) for f in MINT_REQUEST_TYPES["MintRequest"]]
    signatures = [bytes.fromhex(s[2:]) for s in doc["signatures"]]
    return _selector(submit_signature()) + encode(_types(submit_signature()), [*values, signatures])


# --- the preflight -------------------------------------------------------------------------

#: Rows a `publish --force` may fail: the contract accepts such a request (and pays nothing).
FORCIBLE = frozenset({"chain_min_improvement", "chain_reward"})


@dataclass(frozen=True)
class Preflight:
    """The rows of `verify --rpc`, and the reward the simulated submitMintRequest returned (wei;
    None when it reverts or was not simulated)."""

    checks: list[Any]
    reward_wei: int | None


def _explain(name: str, **args: Any) -> str:
    """'the contract reverts NAME; <fix>' with the fix of `CONTRACT_ERRORS` filled in."""
    error = next(e for e in CONTRACT_ERRORS if e.name == name)
    return f"the contract reverts {name}; {error.fix.format(**{k: _show(v) for k, v in args.items()})}"


def split(reward: int, weights: list[int]) -> list[int]:
    """Each contributor's share as DeltaVerifier mints it: reward x weight / 10000, the rounding
    dust to the first contributor."""
    parts = [reward * w // 10000 for w in weights]
    if parts:
        parts[0] += reward - sum(parts)
    return parts


def preflight(doc: dict[str, Any], url: str, relayer: str, *, timeout: float = 10.0) -> Preflight:
    """Read the live DeltaVerifier named by the attestation's domain and simulate its
    submitMintRequest from `relayer`. A node that cannot be reached, serves another chain, or
    has no code at the address is an InputError (one sentence); everything else is a row."""
    from eth_utils import to_checksum_address

    from pipeline.attest.eip712 import Check
    from pipeline.attest.networks import budget_violated, contract_gain_bps, target_of, utc

    try:
        domain, message = doc["typedData"]["domain"], doc["typedData"]["message"]
        payload, contributors = message["payload"], message["contributors"]
        chain_id, contract = int(domain["chainId"]), to_checksum_address(domain["verifyingContract"])
        model, key = int(message["modelId"]), payload["anchors"]["idempotencyKey"]
        gain, weights = contract_gain_bps(payload), [int(c["weight"]) for c in contributors]
        calldata = submit_calldata(doc)
    except Exception as exc:  # a malformed file: the verifier fails closed, it does not crash
        return Preflight([Check("chain", False, f"cannot check on chain: the typedData is unreadable ({exc}); "
                                                "use the file exactly as `hokusai attest` wrote it")], None)
    node = Node(url, timeout)
    served = int(node.request("eth_chainId", []), 16)
    target = target_of(chain_id, contract)
    if served != chain_id:
        raise InputError(f"The node at {node.where} serves chain {served}, but the attestation is for "
                         f"{target.describe()}; give the RPC URL of a chain-{chain_id} node.")
    code = node.request("eth_getCode", [contract, "latest"])
    if not isinstance(code, str) or not code.removeprefix("0x").strip("0"):
        raise InputError(f"There is no contract at {contract} on chain {chain_id} (node {node.where}), the "
                         "attestation's verifyingContract; attest for the network DeltaVerifier is deployed on "
                         "(--network, --verifying-contract), or give that network's node.")
    block = node.request("eth_getBlockByNumber", ["latest", False])
    number, now = int(block["number"], 16), int(block["timestamp"], 16)
    rows = [Check("chain", True, f"chain {chain_id} at {node.where}, block {number} ({utc(now)}); DeltaVerifier "
                                 f"{contract} has code")]

    def row(name: str, fn: Callable[[], tuple[bool, str]]) -> None:
        try:
            ok, detail = fn()
        except Reverted as exc:
            ok, detail = False, (f"cannot read it: {decode_revert(exc.data).text}; is {contract} a DeltaVerifier "
                                 "of hokusai-token 693b423 or later?")
        rows.append(Check(name, ok, detail))

    def read(signature: str, out: str, *args: Any) -> Any:
        return node.read(contract, signature, out, *args)

    def deadline() -> tuple[bool, str]:
        value = int(payload["deadline"])
        if value >= now:
            return True, f"deadline {value} ({utc(value)}) is after the latest block's time {now}"
        return False, (f"deadline {value} ({utc(value)}) is before the latest block's time {now} ({utc(now)}): "
                       f"{_explain('SignatureExpired')}")

    def head() -> tuple[bool, str]:
        current = "0x" + read("currentModelHead(uint256)", "bytes32", model).hex()
        signed = payload["baselineCommitment"]
        if current == "0x" + _ZERO32.hex():
            return False, f"model {model} has no head on chain: {_explain('LineageNotSeeded', modelId=model)}"
        if current != signed:
            return False, (f"model {model}'s head is {current}, not the signed baselineCommitment {signed}: "
                           f"{_explain('LineageParentMismatch', expectedHead=current)}")
        return True, f"baselineCommitment {signed} is model {model}'s head"

    signers = list(doc.get("signers") or [])
    attesters: list[str] = []

    def attester(signer: str) -> Callable[[], tuple[bool, str]]:
        def check() -> tuple[bool, str]:
            if read("isAttester(address)", "bool", signer):
                attesters.append(signer)
                return True, f"signer {signer} is an attester"
            return False, f"signer {signer} is not an attester: {_explain('SignerNotAttester', signer=signer)}"
        return check

    def threshold() -> tuple[bool, str]:
        need, have = read("attesterThreshold()", "uint256"), len(doc.get("signatures") or [])
        if need == 0:
            return False, f"attesterThreshold is 0: {_explain('AttestationThresholdNotConfigured')}"
        if have < need:
            return False, (f"{have} signature(s), attesterThreshold {need}: "
                           f"{_explain('InsufficientAttesterSignatures', missing=need - have)}")
        return True, f"{have} signature(s), attesterThreshold {need}"

    def idempotency() -> tuple[bool, str]:
        if read("processedIdempotencyKeys(bytes32)", "bool", bytes.fromhex(key[2:])):
            cause, fix = REASONS[0][1:]
            return False, (f"idempotency key {key} was already processed ({cause}): the contract reverts "
                           f'Error("Idempotency key already processed"); {fix}')
        return True, f"idempotency key {key} not processed yet"

    minimum: list[int] = []

    def improvement() -> tuple[bool, str]:
        minimum.append(read("minImprovementBps()", "uint256"))
        if gain >= minimum[0]:
            return True, f"gain {gain} bps >= the contract's minImprovementBps {minimum[0]}"
        return False, (f"gain {gain} bps < the contract's minImprovementBps {minimum[0]}: accepted with reward 0, "
                       "burns the idempotency key; do not submit it")

    def budget() -> tuple[bool, str]:
        remaining = read("mintBudgetRemaining(uint256)", "uint256", model)
        if (minimum and gain < minimum[0]) or budget_violated(payload):
            return True, f"reward 0 needs no budget (model {model} has {tokens(remaining)} tokens left)"
        reward = read("calculateRewardDynamic(string,uint256,uint256,uint256)", "uint256", str(model), gain, 10000, 0)
        if reward > remaining:
            return False, (f"expected reward {tokens(reward)} tokens > model {model}'s mint budget remaining "
                           f"{tokens(remaining)} tokens: "
                           f"{_explain('MintBudgetExceeded', modelId=model, shortfall=f'{tokens(reward - remaining)} tokens')}")
        return True, (f"expected reward {tokens(reward)} tokens <= model {model}'s mint budget remaining "
                      f"{tokens(remaining)} tokens")

    def submitter() -> tuple[bool, str]:
        role = read("SUBMITTER_ROLE()", "bytes32")
        if read("hasRole(bytes32,address)", "bool", role, relayer):
            return True, f"relayer {relayer} holds SUBMITTER_ROLE"
        return False, (f"relayer {relayer} lacks SUBMITTER_ROLE, so the contract refuses its submission; give the "
                       "relayer's address with --relayer or [attestation] relayer")

    row("chain_deadline", deadline)
    row("chain_head", head)
    if not signers:
        rows.append(Check("chain_attester", False, "the attestation is unsigned: "
                                                   f"{_explain('InsufficientAttesterSignatures', missing='the threshold of')}"))
    for i, signer in enumerate(signers):
        row(f"chain_attester[{i}]", attester(str(signer)))
    row("chain_threshold", threshold)
    row("chain_idempotency", idempotency)
    row("chain_min_improvement", improvement)
    row("chain_budget", budget)
    row("chain_relayer", submitter)
    try:
        reward = int.from_bytes(node.call(contract, calldata, relayer)[:32], "big")
    except Reverted as exc:
        rows.append(Check("chain_submit", False, f"eth_call submitMintRequest from {relayer} "
                                                 f"{decode_revert(exc.data).sentence()}"))
        return Preflight(rows, None)
    rows.append(Check("chain_submit", True, f"eth_call submitMintRequest from {relayer}: accepted"))
    if reward:
        shares = ", ".join(f"{c['walletAddress']} {tokens(p)}" for c, p in zip(contributors, split(reward, weights)))
        rows.append(Check("chain_reward", True, f"{tokens(reward)} tokens ({reward} wei): {shares}"))
    else:
        why = (f"gain {gain} bps < minImprovementBps {minimum[0]}" if minimum and gain < minimum[0]
               else "actualCostUsdMicro > maxCostUsdMicro" if budget_violated(payload) else "the contract's rules")
        rows.append(Check("chain_reward", False, f"accepted with reward 0 ({why}): burns the idempotency key {key}, "
                                                 "so this evidence can never be paid; do not submit it"))
    return Preflight(rows, reward)

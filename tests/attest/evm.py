"""The real DeltaVerifier stack (hokusai-token 693b423, compiled: tests/vectors/deltaverifier-contracts)
on an in-process EVM (pyrevm), deployed as that folder's README says, and served over JSON-RPC on
127.0.0.1 so `hokusai verify --rpc` reads it as it would read a node.

Calls are encoded from the artifacts' ABI, never from hokusai's own EIP-712 types: a change on
hokusai's side (type string, field order, contributor or signature order) then shows up as the
contract's refusal, not as two copies of one mistake agreeing."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[1] / "vectors" / "deltaverifier-contracts" / "artifacts.json"
CHAIN_ID = 31337
DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # Hardhat account #0
RELAYER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # Hardhat account #3, granted SUBMITTER_ROLE
E18 = 10**18
MIN_IMPROVEMENT_BPS = 100
TOKENS_PER_DELTA_ONE = 1000 * E18
_REVERT = re.compile(r"output: 0x([0-9a-fA-F]*)")


def contracts() -> dict[str, Any]:
    return json.loads(ARTIFACTS.read_text())["contracts"]


def abi_type(spec: dict[str, Any]) -> str:
    kind = spec["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in spec["components"]) + ")" + kind[5:]
    return kind


def abi_value(spec: dict[str, Any], value: Any) -> Any:
    """A JSON value (as hokusai writes it) in the Python form eth-abi encodes, by the ABI's own
    component names and order."""
    kind = spec["type"]
    if kind.endswith("[]"):
        return [abi_value({**spec, "type": kind[:-2]}, v) for v in value]
    if kind == "tuple":
        return tuple(abi_value(c, value[c["name"]]) for c in spec["components"])
    if kind.startswith("uint"):
        return int(value)
    if kind.startswith("bytes"):
        return bytes.fromhex(value[2:])
    return value


class Reverted(Exception):
    def __init__(self, data: bytes, gas: int | None) -> None:
        super().__init__(data.hex())
        self.data, self.gas = data, gas

    @property
    def name(self) -> str:
        from pipeline.attest.chain import decode_revert

        return decode_revert(self.data).text


class Chain:
    """The deployed stack. Every state change goes through `transact` (one journal, so
    `snapshot`/`restore` isolate tests); `lock` serialises the test thread and the server."""

    def __init__(self, now: int | None = None) -> None:
        from pyrevm import EVM, BlockEnv, CfgEnv, Env

        self.lock = threading.RLock()
        self.abis = contracts()
        self.now = now or int(time.time())
        self.number = 1
        self.evm = EVM(env=Env(cfg=CfgEnv(chain_id=CHAIN_ID, limit_contract_code_size=2**20),
                               block=BlockEnv(number=self.number, timestamp=self.now)))
        self.evm.set_balance(DEPLOYER, 10**24)
        self.address: dict[str, str] = {}
        self.gas: dict[str, int] = {}

    # --- raw access ---------------------------------------------------------------------------

    def deploy(self, name: str, types: list[str] = (), args: list[Any] = ()) -> str:
        from eth_abi import encode
        from eth_utils import to_checksum_address

        code = bytes.fromhex(self.abis[name]["bytecode"].removeprefix("0x")) + encode(list(types), list(args))
        address = to_checksum_address(self.evm.deploy(DEPLOYER, code, gas=30_000_000))
        self.address[name] = address
        return address

    def _function(self, contract: str, name: str, nargs: int) -> dict[str, Any]:
        return next(e for e in self.abis[contract]["abi"]
                    if e["type"] == "function" and e["name"] == name and len(e["inputs"]) == nargs)

    def calldata(self, contract: str, name: str, *args: Any) -> bytes:
        from eth_abi import encode
        from eth_utils import keccak

        spec = self._function(contract, name, len(args))
        types = [abi_type(i) for i in spec["inputs"]]
        return keccak(text=f"{name}({','.join(types)})")[:4] + encode(types, list(args))

    def raw_call(self, sender: str, to: str, data: bytes) -> bytes:
        with self.lock:
            try:
                return bytes(self.evm.message_call(sender, to, data, gas=30_000_000))
            except RuntimeError as exc:
                found = _REVERT.search(str(exc))
                gas = self.evm.result.gas_used if self.evm.result else None
                if found:
                    raise Reverted(bytes.fromhex(found.group(1)), gas) from None
                raise

    def transact(self, contract: str, name: str, *args: Any, sender: str = DEPLOYER) -> Any:
        """Call `name` on `contract` and keep its effects; returns the decoded outputs."""
        from eth_abi import decode

        spec = self._function(contract, name, len(args))
        out = self.raw_call(sender, self.address[contract], self.calldata(contract, name, *args))
        values = decode([abi_type(o) for o in spec["outputs"]], out)
        return values[0] if len(values) == 1 else values

    def view(self, contract: str, name: str, *args: Any, at: str | None = None) -> Any:
        """A read that leaves no trace (snapshot + revert around it)."""
        from eth_abi import decode

        spec = self._function(contract, name, len(args))
        with self.lock:
            checkpoint = self.evm.snapshot()
            try:
                out = self.raw_call(DEPLOYER, at or self.address[contract], self.calldata(contract, name, *args))
            finally:
                self.evm.revert(checkpoint)
        values = decode([abi_type(o) for o in spec["outputs"]], out)
        return values[0] if len(values) == 1 else values

    def snapshot(self) -> Any:
        with self.lock:
            return self.evm.snapshot(), self.now

    def restore(self, mark: Any) -> None:
        checkpoint, now = mark
        with self.lock:
            self.evm.revert(checkpoint)
            self.set_time(now)

    def set_time(self, timestamp: int) -> None:
        from pyrevm import BlockEnv

        with self.lock:
            self.now, self.number = timestamp, self.number + 1
            self.evm.set_block_env(BlockEnv(number=self.number, timestamp=timestamp))

    # --- the Hokusai stack -------------------------------------------------------------------

    def deploy_stack(self, attesters: list[str], threshold: int) -> None:
        """Deployment steps 1-2 of the README (the order and wiring of the upstream tests)."""
        from eth_utils import keccak

        registry = self.deploy("ModelRegistry")
        manager = self.deploy("TokenManager", ["address"], [registry])
        contributions = self.deploy("DataContributionRegistry")
        verifier = self.deploy("DeltaVerifier", ["address"] * 3 + ["uint256"] * 3,
                               [registry, manager, contributions, 1000 * E18, MIN_IMPROVEMENT_BPS, 10**27])
        self.transact("TokenManager", "grantRole", keccak(text="MINTER_ROLE"), verifier)
        self.transact("TokenManager", "setDeltaVerifier", verifier)
        self.transact("DataContributionRegistry", "grantRole", keccak(text="RECORDER_ROLE"), verifier)
        self.transact("DeltaVerifier", "grantRole", keccak(text="SUBMITTER_ROLE"), RELAYER)
        for attester in attesters:
            self.transact("DeltaVerifier", "addAttester", attester)
        self.transact("DeltaVerifier", "setAttesterThreshold", threshold)

    def register_model(self, model_id: int, genesis: str, budget: int = 10**30) -> str:
        """Step 3: the model's token, its registration, its lineage genesis and its mint budget."""
        params = (TOKENS_PER_DELTA_ONE, 8000, 0, b"\x11" * 32, "https://example.org/license", DEPLOYER,
                  (False, 10000, 0, 0))
        self.transact("TokenManager", "deployTokenWithParams", str(model_id), f"Model {model_id}", f"M{model_id}",
                      10000 * E18, params)
        token = self.transact("TokenManager", "getTokenAddress", str(model_id))
        self.transact("ModelRegistry", "registerModel", model_id, token, "accuracy")
        self.transact("ModelRegistry", "setWeightGenesis", model_id, bytes.fromhex(genesis[2:]))
        self.transact("DeltaVerifier", "setMintBudget", model_id, budget)
        return token

    def submit_args(self, doc: dict[str, Any]) -> list[Any]:
        """submitMintRequest's arguments from an attestation: the signed message by the ABI's field
        names, the signatures in the file's order."""
        spec = self._function("DeltaVerifier", "submitMintRequest", 4)["inputs"]
        message = doc["typedData"]["message"]
        return [abi_value(spec[0], message["modelId"]), abi_value(spec[1], message["payload"]),
                abi_value(spec[2], message["contributors"]), abi_value(spec[3], doc["signatures"])]

    def submit(self, doc: dict[str, Any], sender: str = RELAYER) -> tuple[int, int]:
        """The relayer's submitMintRequest of `doc`: (reward in wei, gas used)."""
        return self.submit_raw(self.submit_args(doc), sender)

    def submit_raw(self, args: list[Any], sender: str = RELAYER) -> tuple[int, int]:
        from eth_abi import decode

        data = self.calldata("DeltaVerifier", "submitMintRequest", *args)
        out = self.raw_call(sender, self.address["DeltaVerifier"], data)
        return decode(["uint256"], out)[0], self.evm.result.gas_used

    def balance(self, token: str, wallet: str) -> int:
        return self.view("HokusaiToken", "balanceOf", wallet, at=token)

    def head(self, model_id: int) -> str:
        return "0x" + self.view("DeltaVerifier", "currentModelHead", model_id).hex()

    # --- JSON-RPC ------------------------------------------------------------------------------

    def rpc(self, method: str, params: list[Any]) -> dict[str, Any]:
        """One JSON-RPC answer ({"result"} or {"error"}), as a node gives it; eth_call leaves no trace."""
        if method == "eth_chainId":
            return {"result": hex(CHAIN_ID)}
        if method == "eth_blockNumber":
            return {"result": hex(self.number)}
        if method == "eth_getBlockByNumber":
            return {"result": {"number": hex(self.number), "timestamp": hex(self.now)}}
        if method == "eth_getCode":
            with self.lock:
                code = self.evm.get_code(params[0]) or b""
            return {"result": "0x" + bytes(code).hex()}
        if method == "eth_call":
            tx = params[0]
            with self.lock:
                checkpoint = self.evm.snapshot()
                try:
                    out = self.raw_call(tx.get("from", DEPLOYER), tx["to"], bytes.fromhex(tx["data"][2:]))
                except Reverted as exc:
                    return {"error": {"code": 3, "message": "execution reverted", "data": "0x" + exc.data.hex()}}
                finally:
                    self.evm.revert(checkpoint)
            return {"result": "0x" + out.hex()}
        return {"error": {"code": -32601, "message": f"the method {method} does not exist/is not available"}}

    def serve(self) -> tuple[str, ThreadingHTTPServer]:
        """Serve `rpc` on 127.0.0.1 (a free port): (URL, server; shut it down when done)."""
        chain = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = {"jsonrpc": "2.0", "id": request.get("id"),
                         **chain.rpc(request["method"], request.get("params", []))}
                body = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}", server

"""Domain errors: each carries one sentence a user can act on.

Only the CLI edge (`hokusai_cli`) turns these into exit codes. `InputError` and its
subclasses are the user's to fix (exit 2); anything else raised inside the flow means the
flow itself failed (exit 3).
"""

from __future__ import annotations


class HokusaiError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(HokusaiError):
    """Bad input or usage: a file, a field, an option. The user fixes it."""

    exit_code = 2


class ConfigError(InputError):
    """`hokusai.toml`, a `HOKUSAI_*` variable or an option holds an invalid value."""


class DataError(InputError):
    """A data file (base, benchmark or contribution) cannot be used as it is."""


class ModelError(InputError):
    """A baseline model file or URI cannot be loaded safely."""


class AttestationError(InputError):
    """An attestation cannot be built, signed or verified as asked."""


class RunError(InputError):
    """A run id that does not name a usable run of this project."""


class StoreError(InputError):
    """A local store (the MLflow SQLite file) is damaged or cannot be locked; the user moves
    it aside or frees it."""


class TrackingError(HokusaiError):
    """MLflow could not be reached or refused the record (exit 3): the evaluation stands."""


class DeliveryError(HokusaiError):
    """An endpoint (a webhook) did not take what was sent after every retry (exit 3): what
    was published elsewhere stands; the sentence says how to send it again."""


class FlowFailed(HokusaiError):
    """The Metaflow run itself failed (exit 3)."""


#: Names of the error classes that mean "bad input" when seen in a failed Metaflow task.
INPUT_ERROR_TYPES = frozenset(
    f"{__name__}.{cls.__name__}"
    for cls in (InputError, ConfigError, DataError, ModelError, AttestationError, RunError, StoreError)
)


class DamagedTable(HokusaiError):
    """A table file an artifact references (`pipeline.runs.table_files`) is missing or does not
    hold the bytes its sha256 names (exit 3)."""

    def __init__(self, ref: dict, reason: str) -> None:
        super().__init__(f"the table file {ref['root'].rstrip('/')}/{ref['path']} {reason}")
        self.ref, self.reason = ref, reason


class DamagedArtifact(HokusaiError):
    """A stored artifact of a run cannot be read back (its blob in the datastore was truncated,
    deleted or overwritten): exit 3, naming the run, the step and the artifact."""

    def __init__(self, pathspec: str, step: str, artifact: str, reason: str) -> None:
        super().__init__(
            f"Run {pathspec}: the artifact '{artifact}' of step {step} is damaged in the datastore ({reason}); "
            "restore the datastore from a backup, or run the evaluation again."
        )
        self.pathspec, self.step, self.artifact, self.reason = pathspec, step, artifact, reason

"""The errors a run can end with.

Every error the engine raises on purpose is an `EtlError`: it carries the stage it belongs to (so a
failed run can be counted by stage) and whether trying again may help (network blips, 5xx, rate
limits) or not (configuration, credentials, validation). Its message is one sentence for the user:
what is wrong and what to fix. Secrets never go into a message.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    INIT = "init"
    VALIDATION = "validation"
    EXTRACTION = "extraction"
    LOAD = "load"
    UNKNOWN = "unknown"


class EtlError(Exception):
    """An expected failure with a user-facing message."""

    stage: Stage = Stage.UNKNOWN
    transient: bool = False

    def __init__(self, message: str, *, stage: Stage | None = None) -> None:
        super().__init__(message)
        if stage is not None:
            self.stage = stage

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigurationError(EtlError):
    """The job or connection is wrong: fix the configuration, retrying will not help."""

    stage = Stage.INIT


class ConnectionFailed(EtlError):
    """The source or destination could not be reached or refused us."""

    stage = Stage.INIT

    def __init__(self, message: str, *, transient: bool, stage: Stage | None = None) -> None:
        super().__init__(message, stage=stage)
        self.transient = transient


class ValidationError(EtlError):
    """The source or destination does not fit the job (missing table, incompatible types...)."""

    stage = Stage.VALIDATION


class ExtractionError(EtlError):
    stage = Stage.EXTRACTION


class TransientExtractionError(ExtractionError):
    transient = True


class LoadError(EtlError):
    stage = Stage.LOAD


class TransientLoadError(LoadError):
    transient = True


class StateUnavailable(EtlError):
    """The state a transactional run needs (the watermark) could not be read: fail closed.
    Retried only when the cause was (BigQuery unreachable), not when the table itself is wrong."""

    stage = Stage.VALIDATION

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same step may succeed."""
    return isinstance(error, EtlError) and error.transient

"""The event contract of claude-kafka, version 1.

Pydantic v2 models for every message the service reads or writes. The JSON Schema files in
``schemas/json/`` are generated from these models (``make schemas``) and are the API that downstream
teams in other languages code against; a test fails when they drift.

Versioning: additive, optional fields are a minor change and keep ``v1``; consumers must ignore unknown
fields. Renaming, removing or retyping a field is a new major version with a new CloudEvents type.
"""

from schemas.events import (
    CUSTOM_ID_PATTERN,
    Callback,
    CompletionEvent,
    DeltaEvent,
    ErrorDetail,
    ErrorEvent,
    Loop,
    Mode,
    PromptEvent,
    PromptParams,
    Session,
    SourceRecord,
    Timings,
)
from schemas.tools import ToolCallEvent, ToolResultEvent

__all__ = [
    "CUSTOM_ID_PATTERN",
    "Callback",
    "CompletionEvent",
    "DeltaEvent",
    "ErrorDetail",
    "ErrorEvent",
    "Loop",
    "Mode",
    "PromptEvent",
    "PromptParams",
    "Session",
    "SourceRecord",
    "Timings",
    "ToolCallEvent",
    "ToolResultEvent",
]

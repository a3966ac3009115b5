"""The journal's `end` record: one line per request as it ends (journal.jsonl), one row each in requests.parquet.

Times are seconds from the run's origin; `chunks_us` are microseconds from `sent_s`, one per streamed chunk. The
streaming client and the simulator both build their records with `end_record`; the Parquet schema is derived from
`FIELDS`, so a field added here reaches requests.parquet. Fields a writer does not measure are left out of its
journal lines and are null in the table (the real client has no engine-side times).

Only the standard library is imported here; pyarrow is loaded by `arrow_schema` alone.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Field(NamedTuple):
    name: str
    kind: str  # int64 | int32 | float64 | string | int64_list
    doc: str


FIELDS: tuple[Field, ...] = (
    Field("i", "int64", "the request's index in the plan"),
    Field("row", "int64", "its row in the workload"),
    Field("outcome", "string", "how it ended (burststudio.vocab outcomes)"),
    Field("status", "int32", "the HTTP status, null when no answer came"),
    Field("scheduled_s", "float64", "when the plan meant to send it"),
    Field("sent_s", "float64", "when it left (it had its connection)"),
    Field("headers_s", "float64", "when the response headers came: the server's application took it"),
    Field("first_s", "float64", "its first streamed chunk"),
    Field("end_s", "float64", "when it ended"),
    Field("prompt_tokens", "int64", "the planned prompt length"),
    Field("output_tokens", "int64", "the asked output length (max_tokens)"),
    Field("usage_prompt_tokens", "int64", "prompt tokens from the server's usage"),
    Field("usage_completion_tokens", "int64", "completion tokens from the server's usage"),
    Field("chunk_tokens", "int64", "tokens counted from the chunks"),
    Field("error", "string", "one line saying why it failed"),
    Field("timeout", "string", "which limit ran out: connect | headers | first_token | idle | total"),
    Field("retry_after", "string", "a 429's Retry-After header"),
    Field("chunks_us", "int64_list", "each chunk's time in microseconds from sent_s"),
    Field("shortfall", "int64", "a short answer's missing tokens: it ended cleanly ([DONE]) with this many fewer "
          "than asked; null for every other request"),
    Field("replica", "string", "the fleet replica that served it (null: one server, or a router that did not say)"),
    # Simulated runs only: what the engine did, which a client cannot see.
    Field("preemptions", "int64", "times the engine preempted it"),
    Field("cached_tokens", "int64", "prompt tokens served from the prefix cache at its first admission"),
    Field("engine_first_s", "float64", "when the engine made its first token"),
    Field("engine_end_s", "float64", "when the engine made its last token"),
    Field("engine_arrival_s", "float64", "when the API server handed it to the engine"),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
_KNOWN = frozenset(FIELD_NAMES)


def end_record(**values: Any) -> dict[str, Any]:
    """A journal `end` record of the given fields; a name that is not a field is a mistake, not a new column."""
    unknown = values.keys() - _KNOWN
    if unknown:
        raise KeyError(f"not journal fields: {', '.join(sorted(unknown))}")
    return values


def arrow_schema():
    """The requests.parquet schema: every field, nullable."""
    import pyarrow as pa

    types = {"int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64(), "string": pa.string(),
             "int64_list": pa.list_(pa.int64())}
    return pa.schema([pa.field(f.name, types[f.kind], nullable=True) for f in FIELDS])

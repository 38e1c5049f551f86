import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from openloop.feature.v1 import feature_value_pb2 as _feature_value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_PREPROCESS: _ClassVar[Stage]
    STAGE_GENERATE: _ClassVar[Stage]
    STAGE_POSTPROCESS: _ClassVar[Stage]
    STAGE_VALIDATE: _ClassVar[Stage]

class HookEvent(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOOK_EVENT_UNSPECIFIED: _ClassVar[HookEvent]
    HOOK_EVENT_PRE_EXECUTE: _ClassVar[HookEvent]
    HOOK_EVENT_POST_EXECUTE: _ClassVar[HookEvent]
    HOOK_EVENT_ERROR: _ClassVar[HookEvent]

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_SUCCEEDED: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]
    RUN_STATUS_CANCELLED: _ClassVar[RunStatus]
STAGE_UNSPECIFIED: Stage
STAGE_PREPROCESS: Stage
STAGE_GENERATE: Stage
STAGE_POSTPROCESS: Stage
STAGE_VALIDATE: Stage
HOOK_EVENT_UNSPECIFIED: HookEvent
HOOK_EVENT_PRE_EXECUTE: HookEvent
HOOK_EVENT_POST_EXECUTE: HookEvent
HOOK_EVENT_ERROR: HookEvent
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_SUCCEEDED: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_STATUS_CANCELLED: RunStatus

class Pipeline(_message.Message):
    __slots__ = ("name", "revision", "description", "spec", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    revision: int
    description: str
    spec: PipelineSpec
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., revision: _Optional[int] = ..., description: _Optional[str] = ..., spec: _Optional[_Union[PipelineSpec, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PipelineSpec(_message.Message):
    __slots__ = ("input_variables", "preprocess", "generate", "postprocess", "validate", "max_attempts", "hooks", "output_variable")
    INPUT_VARIABLES_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_FIELD_NUMBER: _ClassVar[int]
    GENERATE_FIELD_NUMBER: _ClassVar[int]
    POSTPROCESS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    HOOKS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_VARIABLE_FIELD_NUMBER: _ClassVar[int]
    input_variables: _containers.RepeatedScalarFieldContainer[str]
    preprocess: _containers.RepeatedCompositeFieldContainer[Step]
    generate: _containers.RepeatedCompositeFieldContainer[Step]
    postprocess: _containers.RepeatedCompositeFieldContainer[Step]
    validate: _containers.RepeatedCompositeFieldContainer[Step]
    max_attempts: int
    hooks: _containers.RepeatedCompositeFieldContainer[Hook]
    output_variable: str
    def __init__(self, input_variables: _Optional[_Iterable[str]] = ..., preprocess: _Optional[_Iterable[_Union[Step, _Mapping]]] = ..., generate: _Optional[_Iterable[_Union[Step, _Mapping]]] = ..., postprocess: _Optional[_Iterable[_Union[Step, _Mapping]]] = ..., validate: _Optional[_Iterable[_Union[Step, _Mapping]]] = ..., max_attempts: _Optional[int] = ..., hooks: _Optional[_Iterable[_Union[Hook, _Mapping]]] = ..., output_variable: _Optional[str] = ...) -> None: ...

class Step(_message.Message):
    __slots__ = ("name", "template", "feature_lookup", "redact", "truncate", "llm_generate", "predict", "trim", "extract_json", "regex_extract", "map_fields", "json_schema", "regex_match", "length", "allowed_values", "custom")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_LOOKUP_FIELD_NUMBER: _ClassVar[int]
    REDACT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATE_FIELD_NUMBER: _ClassVar[int]
    LLM_GENERATE_FIELD_NUMBER: _ClassVar[int]
    PREDICT_FIELD_NUMBER: _ClassVar[int]
    TRIM_FIELD_NUMBER: _ClassVar[int]
    EXTRACT_JSON_FIELD_NUMBER: _ClassVar[int]
    REGEX_EXTRACT_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELDS_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    REGEX_MATCH_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_VALUES_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    name: str
    template: TemplateStep
    feature_lookup: FeatureLookupStep
    redact: RedactStep
    truncate: TruncateStep
    llm_generate: LlmGenerateStep
    predict: PredictStep
    trim: TrimStep
    extract_json: ExtractJsonStep
    regex_extract: RegexExtractStep
    map_fields: MapFieldsStep
    json_schema: JsonSchemaStep
    regex_match: RegexMatchStep
    length: LengthStep
    allowed_values: AllowedValuesStep
    custom: CustomStep
    def __init__(self, name: _Optional[str] = ..., template: _Optional[_Union[TemplateStep, _Mapping]] = ..., feature_lookup: _Optional[_Union[FeatureLookupStep, _Mapping]] = ..., redact: _Optional[_Union[RedactStep, _Mapping]] = ..., truncate: _Optional[_Union[TruncateStep, _Mapping]] = ..., llm_generate: _Optional[_Union[LlmGenerateStep, _Mapping]] = ..., predict: _Optional[_Union[PredictStep, _Mapping]] = ..., trim: _Optional[_Union[TrimStep, _Mapping]] = ..., extract_json: _Optional[_Union[ExtractJsonStep, _Mapping]] = ..., regex_extract: _Optional[_Union[RegexExtractStep, _Mapping]] = ..., map_fields: _Optional[_Union[MapFieldsStep, _Mapping]] = ..., json_schema: _Optional[_Union[JsonSchemaStep, _Mapping]] = ..., regex_match: _Optional[_Union[RegexMatchStep, _Mapping]] = ..., length: _Optional[_Union[LengthStep, _Mapping]] = ..., allowed_values: _Optional[_Union[AllowedValuesStep, _Mapping]] = ..., custom: _Optional[_Union[CustomStep, _Mapping]] = ...) -> None: ...

class TemplateStep(_message.Message):
    __slots__ = ("template", "output")
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    template: str
    output: str
    def __init__(self, template: _Optional[str] = ..., output: _Optional[str] = ...) -> None: ...

class FeatureLookupStep(_message.Message):
    __slots__ = ("feature_set", "entity_key", "features", "output", "required")
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    feature_set: str
    entity_key: str
    features: _containers.RepeatedScalarFieldContainer[str]
    output: str
    required: bool
    def __init__(self, feature_set: _Optional[str] = ..., entity_key: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., output: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

class RedactStep(_message.Message):
    __slots__ = ("input", "emails", "phones", "replacement")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    EMAILS_FIELD_NUMBER: _ClassVar[int]
    PHONES_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    input: str
    emails: bool
    phones: bool
    replacement: str
    def __init__(self, input: _Optional[str] = ..., emails: _Optional[bool] = ..., phones: _Optional[bool] = ..., replacement: _Optional[str] = ...) -> None: ...

class TruncateStep(_message.Message):
    __slots__ = ("input", "max_chars", "max_tokens")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    MAX_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input: str
    max_chars: int
    max_tokens: int
    def __init__(self, input: _Optional[str] = ..., max_chars: _Optional[int] = ..., max_tokens: _Optional[int] = ...) -> None: ...

class LlmGenerateStep(_message.Message):
    __slots__ = ("model", "system_prompt", "input", "output", "max_tokens", "temperature", "top_p", "stop", "seed")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    model: str
    system_prompt: str
    input: str
    output: str
    max_tokens: int
    temperature: float
    top_p: float
    stop: _containers.RepeatedScalarFieldContainer[str]
    seed: int
    def __init__(self, model: _Optional[str] = ..., system_prompt: _Optional[str] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., stop: _Optional[_Iterable[str]] = ..., seed: _Optional[int] = ...) -> None: ...

class PredictStep(_message.Message):
    __slots__ = ("model", "input", "output", "version", "feature_types")
    class FeatureTypesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureType
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureType, str]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_TYPES_FIELD_NUMBER: _ClassVar[int]
    model: str
    input: str
    output: str
    version: str
    feature_types: _containers.ScalarMap[str, _feature_value_pb2.FeatureType]
    def __init__(self, model: _Optional[str] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., version: _Optional[str] = ..., feature_types: _Optional[_Mapping[str, _feature_value_pb2.FeatureType]] = ...) -> None: ...

class TrimStep(_message.Message):
    __slots__ = ("input",)
    INPUT_FIELD_NUMBER: _ClassVar[int]
    input: str
    def __init__(self, input: _Optional[str] = ...) -> None: ...

class ExtractJsonStep(_message.Message):
    __slots__ = ("input", "output")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    input: str
    output: str
    def __init__(self, input: _Optional[str] = ..., output: _Optional[str] = ...) -> None: ...

class RegexExtractStep(_message.Message):
    __slots__ = ("input", "pattern", "output", "flags")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    input: str
    pattern: str
    output: str
    flags: str
    def __init__(self, input: _Optional[str] = ..., pattern: _Optional[str] = ..., output: _Optional[str] = ..., flags: _Optional[str] = ...) -> None: ...

class MapFieldsStep(_message.Message):
    __slots__ = ("fields", "output")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.ScalarMap[str, str]
    output: str
    def __init__(self, fields: _Optional[_Mapping[str, str]] = ..., output: _Optional[str] = ...) -> None: ...

class JsonSchemaStep(_message.Message):
    __slots__ = ("input", "schema")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    input: str
    schema: _struct_pb2.Struct
    def __init__(self, input: _Optional[str] = ..., schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class RegexMatchStep(_message.Message):
    __slots__ = ("input", "pattern", "flags")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    input: str
    pattern: str
    flags: str
    def __init__(self, input: _Optional[str] = ..., pattern: _Optional[str] = ..., flags: _Optional[str] = ...) -> None: ...

class LengthStep(_message.Message):
    __slots__ = ("input", "min", "max")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    input: str
    min: int
    max: int
    def __init__(self, input: _Optional[str] = ..., min: _Optional[int] = ..., max: _Optional[int] = ...) -> None: ...

class AllowedValuesStep(_message.Message):
    __slots__ = ("input", "values", "ignore_case")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    IGNORE_CASE_FIELD_NUMBER: _ClassVar[int]
    input: str
    values: _containers.RepeatedScalarFieldContainer[str]
    ignore_case: bool
    def __init__(self, input: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., ignore_case: _Optional[bool] = ...) -> None: ...

class CustomStep(_message.Message):
    __slots__ = ("type", "config")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    type: str
    config: _struct_pb2.Struct
    def __init__(self, type: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Hook(_message.Message):
    __slots__ = ("events", "url", "required", "max_attempts", "headers")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedScalarFieldContainer[HookEvent]
    url: str
    required: bool
    max_attempts: int
    headers: _containers.ScalarMap[str, str]
    def __init__(self, events: _Optional[_Iterable[_Union[HookEvent, str]]] = ..., url: _Optional[str] = ..., required: _Optional[bool] = ..., max_attempts: _Optional[int] = ..., headers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CreatePipelineRequest(_message.Message):
    __slots__ = ("name", "description", "spec")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    spec: PipelineSpec
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., spec: _Optional[_Union[PipelineSpec, _Mapping]] = ...) -> None: ...

class CreatePipelineResponse(_message.Message):
    __slots__ = ("pipeline",)
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    pipeline: Pipeline
    def __init__(self, pipeline: _Optional[_Union[Pipeline, _Mapping]] = ...) -> None: ...

class GetPipelineRequest(_message.Message):
    __slots__ = ("name", "revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    revision: int
    def __init__(self, name: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class GetPipelineResponse(_message.Message):
    __slots__ = ("pipeline",)
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    pipeline: Pipeline
    def __init__(self, pipeline: _Optional[_Union[Pipeline, _Mapping]] = ...) -> None: ...

class ListPipelinesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPipelinesResponse(_message.Message):
    __slots__ = ("pipelines", "next_page_token")
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    pipelines: _containers.RepeatedCompositeFieldContainer[Pipeline]
    next_page_token: str
    def __init__(self, pipelines: _Optional[_Iterable[_Union[Pipeline, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdatePipelineRequest(_message.Message):
    __slots__ = ("name", "description", "spec", "expected_revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    spec: PipelineSpec
    expected_revision: int
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., spec: _Optional[_Union[PipelineSpec, _Mapping]] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class UpdatePipelineResponse(_message.Message):
    __slots__ = ("pipeline",)
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    pipeline: Pipeline
    def __init__(self, pipeline: _Optional[_Union[Pipeline, _Mapping]] = ...) -> None: ...

class DeletePipelineRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeletePipelineResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "attempt", "duration_ms")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    stage: Stage
    attempt: int
    duration_ms: float
    def __init__(self, stage: _Optional[_Union[Stage, str]] = ..., attempt: _Optional[int] = ..., duration_ms: _Optional[float] = ...) -> None: ...

class ExecutePipelineRequest(_message.Message):
    __slots__ = ("name", "revision", "inputs")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    revision: int
    inputs: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., revision: _Optional[int] = ..., inputs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ExecutePipelineResponse(_message.Message):
    __slots__ = ("run_id", "revision", "output", "timings", "attempts")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    revision: int
    output: _struct_pb2.Value
    timings: _containers.RepeatedCompositeFieldContainer[StageTiming]
    attempts: int
    def __init__(self, run_id: _Optional[str] = ..., revision: _Optional[int] = ..., output: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., timings: _Optional[_Iterable[_Union[StageTiming, _Mapping]]] = ..., attempts: _Optional[int] = ...) -> None: ...

class ExecutePipelineStreamRequest(_message.Message):
    __slots__ = ("name", "revision", "inputs")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    revision: int
    inputs: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., revision: _Optional[int] = ..., inputs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ExecutePipelineStreamResponse(_message.Message):
    __slots__ = ("run_started", "stage_started", "stage_finished", "text_delta", "run_finished")
    RUN_STARTED_FIELD_NUMBER: _ClassVar[int]
    STAGE_STARTED_FIELD_NUMBER: _ClassVar[int]
    STAGE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    TEXT_DELTA_FIELD_NUMBER: _ClassVar[int]
    RUN_FINISHED_FIELD_NUMBER: _ClassVar[int]
    run_started: RunStarted
    stage_started: StageStarted
    stage_finished: StageFinished
    text_delta: str
    run_finished: RunFinished
    def __init__(self, run_started: _Optional[_Union[RunStarted, _Mapping]] = ..., stage_started: _Optional[_Union[StageStarted, _Mapping]] = ..., stage_finished: _Optional[_Union[StageFinished, _Mapping]] = ..., text_delta: _Optional[str] = ..., run_finished: _Optional[_Union[RunFinished, _Mapping]] = ...) -> None: ...

class RunStarted(_message.Message):
    __slots__ = ("run_id", "revision")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    revision: int
    def __init__(self, run_id: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class StageStarted(_message.Message):
    __slots__ = ("stage", "attempt")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    stage: Stage
    attempt: int
    def __init__(self, stage: _Optional[_Union[Stage, str]] = ..., attempt: _Optional[int] = ...) -> None: ...

class StageFinished(_message.Message):
    __slots__ = ("stage", "attempt", "duration_ms", "validation_error")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    stage: Stage
    attempt: int
    duration_ms: float
    validation_error: str
    def __init__(self, stage: _Optional[_Union[Stage, str]] = ..., attempt: _Optional[int] = ..., duration_ms: _Optional[float] = ..., validation_error: _Optional[str] = ...) -> None: ...

class RunFinished(_message.Message):
    __slots__ = ("output", "attempts", "timings")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    output: _struct_pb2.Value
    attempts: int
    timings: _containers.RepeatedCompositeFieldContainer[StageTiming]
    def __init__(self, output: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., attempts: _Optional[int] = ..., timings: _Optional[_Iterable[_Union[StageTiming, _Mapping]]] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("run_id", "pipeline", "revision", "status", "inputs", "output", "timings", "attempts", "error", "start_time", "finish_time")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    pipeline: str
    revision: int
    status: RunStatus
    inputs: _struct_pb2.Struct
    output: _struct_pb2.Value
    timings: _containers.RepeatedCompositeFieldContainer[StageTiming]
    attempts: int
    error: str
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    def __init__(self, run_id: _Optional[str] = ..., pipeline: _Optional[str] = ..., revision: _Optional[int] = ..., status: _Optional[_Union[RunStatus, str]] = ..., inputs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., output: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., timings: _Optional[_Iterable[_Union[StageTiming, _Mapping]]] = ..., attempts: _Optional[int] = ..., error: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

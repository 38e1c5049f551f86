import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from openloop.feature.v1 import feature_value_pb2 as _feature_value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeatureSet(_message.Message):
    __slots__ = ("name", "description", "features", "default_ttl", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TTL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    features: _containers.RepeatedCompositeFieldContainer[FeatureDefinition]
    default_ttl: _duration_pb2.Duration
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., features: _Optional[_Iterable[_Union[FeatureDefinition, _Mapping]]] = ..., default_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FeatureDefinition(_message.Message):
    __slots__ = ("name", "type", "required", "default_value", "validators", "transformers", "allow_non_finite", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_FIELD_NUMBER: _ClassVar[int]
    TRANSFORMERS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_NON_FINITE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: _feature_value_pb2.FeatureType
    required: bool
    default_value: _feature_value_pb2.FeatureValue
    validators: _containers.RepeatedCompositeFieldContainer[Validator]
    transformers: _containers.RepeatedCompositeFieldContainer[Transformer]
    allow_non_finite: bool
    description: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[_feature_value_pb2.FeatureType, str]] = ..., required: _Optional[bool] = ..., default_value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ..., validators: _Optional[_Iterable[_Union[Validator, _Mapping]]] = ..., transformers: _Optional[_Iterable[_Union[Transformer, _Mapping]]] = ..., allow_non_finite: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class Validator(_message.Message):
    __slots__ = ("range", "allowed_values", "pattern", "list_length")
    RANGE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_VALUES_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    LIST_LENGTH_FIELD_NUMBER: _ClassVar[int]
    range: RangeValidator
    allowed_values: AllowedValuesValidator
    pattern: PatternValidator
    list_length: ListLengthValidator
    def __init__(self, range: _Optional[_Union[RangeValidator, _Mapping]] = ..., allowed_values: _Optional[_Union[AllowedValuesValidator, _Mapping]] = ..., pattern: _Optional[_Union[PatternValidator, _Mapping]] = ..., list_length: _Optional[_Union[ListLengthValidator, _Mapping]] = ...) -> None: ...

class RangeValidator(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class AllowedValuesValidator(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[_feature_value_pb2.FeatureValue]
    def __init__(self, values: _Optional[_Iterable[_Union[_feature_value_pb2.FeatureValue, _Mapping]]] = ...) -> None: ...

class PatternValidator(_message.Message):
    __slots__ = ("regex",)
    REGEX_FIELD_NUMBER: _ClassVar[int]
    regex: str
    def __init__(self, regex: _Optional[str] = ...) -> None: ...

class ListLengthValidator(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: int
    max: int
    def __init__(self, min: _Optional[int] = ..., max: _Optional[int] = ...) -> None: ...

class Transformer(_message.Message):
    __slots__ = ("standardize", "min_max_scale", "log1p", "clip", "bucketize", "one_hot", "hash_bucket", "fill_missing")
    STANDARDIZE_FIELD_NUMBER: _ClassVar[int]
    MIN_MAX_SCALE_FIELD_NUMBER: _ClassVar[int]
    LOG1P_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    BUCKETIZE_FIELD_NUMBER: _ClassVar[int]
    ONE_HOT_FIELD_NUMBER: _ClassVar[int]
    HASH_BUCKET_FIELD_NUMBER: _ClassVar[int]
    FILL_MISSING_FIELD_NUMBER: _ClassVar[int]
    standardize: Standardize
    min_max_scale: MinMaxScale
    log1p: Log1p
    clip: Clip
    bucketize: Bucketize
    one_hot: OneHot
    hash_bucket: HashBucket
    fill_missing: FillMissing
    def __init__(self, standardize: _Optional[_Union[Standardize, _Mapping]] = ..., min_max_scale: _Optional[_Union[MinMaxScale, _Mapping]] = ..., log1p: _Optional[_Union[Log1p, _Mapping]] = ..., clip: _Optional[_Union[Clip, _Mapping]] = ..., bucketize: _Optional[_Union[Bucketize, _Mapping]] = ..., one_hot: _Optional[_Union[OneHot, _Mapping]] = ..., hash_bucket: _Optional[_Union[HashBucket, _Mapping]] = ..., fill_missing: _Optional[_Union[FillMissing, _Mapping]] = ...) -> None: ...

class Standardize(_message.Message):
    __slots__ = ("mean", "std")
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    mean: float
    std: float
    def __init__(self, mean: _Optional[float] = ..., std: _Optional[float] = ...) -> None: ...

class MinMaxScale(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class Log1p(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Clip(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class Bucketize(_message.Message):
    __slots__ = ("boundaries",)
    BOUNDARIES_FIELD_NUMBER: _ClassVar[int]
    boundaries: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, boundaries: _Optional[_Iterable[float]] = ...) -> None: ...

class OneHot(_message.Message):
    __slots__ = ("vocabulary", "unknown_slot")
    VOCABULARY_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_SLOT_FIELD_NUMBER: _ClassVar[int]
    vocabulary: _containers.RepeatedScalarFieldContainer[str]
    unknown_slot: bool
    def __init__(self, vocabulary: _Optional[_Iterable[str]] = ..., unknown_slot: _Optional[bool] = ...) -> None: ...

class HashBucket(_message.Message):
    __slots__ = ("num_buckets",)
    NUM_BUCKETS_FIELD_NUMBER: _ClassVar[int]
    num_buckets: int
    def __init__(self, num_buckets: _Optional[int] = ...) -> None: ...

class FillMissing(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: _feature_value_pb2.FeatureValue
    def __init__(self, value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...

class CreateFeatureSetRequest(_message.Message):
    __slots__ = ("feature_set",)
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    feature_set: FeatureSet
    def __init__(self, feature_set: _Optional[_Union[FeatureSet, _Mapping]] = ...) -> None: ...

class CreateFeatureSetResponse(_message.Message):
    __slots__ = ("feature_set",)
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    feature_set: FeatureSet
    def __init__(self, feature_set: _Optional[_Union[FeatureSet, _Mapping]] = ...) -> None: ...

class GetFeatureSetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetFeatureSetResponse(_message.Message):
    __slots__ = ("feature_set",)
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    feature_set: FeatureSet
    def __init__(self, feature_set: _Optional[_Union[FeatureSet, _Mapping]] = ...) -> None: ...

class ListFeatureSetsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFeatureSetsResponse(_message.Message):
    __slots__ = ("feature_sets", "next_page_token")
    FEATURE_SETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    feature_sets: _containers.RepeatedCompositeFieldContainer[FeatureSet]
    next_page_token: str
    def __init__(self, feature_sets: _Optional[_Iterable[_Union[FeatureSet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteFeatureSetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteFeatureSetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProcessFeaturesRequest(_message.Message):
    __slots__ = ("feature_set", "features")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    feature_set: str
    features: _containers.MessageMap[str, _feature_value_pb2.FeatureValue]
    def __init__(self, feature_set: _Optional[str] = ..., features: _Optional[_Mapping[str, _feature_value_pb2.FeatureValue]] = ...) -> None: ...

class ProcessFeaturesResponse(_message.Message):
    __slots__ = ("features",)
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.MessageMap[str, _feature_value_pb2.FeatureValue]
    def __init__(self, features: _Optional[_Mapping[str, _feature_value_pb2.FeatureValue]] = ...) -> None: ...

class PutFeaturesRequest(_message.Message):
    __slots__ = ("feature_set", "entity_key", "features", "ttl", "process")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    feature_set: str
    entity_key: str
    features: _containers.MessageMap[str, _feature_value_pb2.FeatureValue]
    ttl: _duration_pb2.Duration
    process: bool
    def __init__(self, feature_set: _Optional[str] = ..., entity_key: _Optional[str] = ..., features: _Optional[_Mapping[str, _feature_value_pb2.FeatureValue]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., process: _Optional[bool] = ...) -> None: ...

class PutFeaturesResponse(_message.Message):
    __slots__ = ("expire_time", "features")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    expire_time: _timestamp_pb2.Timestamp
    features: _containers.MessageMap[str, _feature_value_pb2.FeatureValue]
    def __init__(self, expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., features: _Optional[_Mapping[str, _feature_value_pb2.FeatureValue]] = ...) -> None: ...

class GetFeaturesRequest(_message.Message):
    __slots__ = ("feature_set", "entity_key", "feature_names")
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    feature_set: str
    entity_key: str
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, feature_set: _Optional[str] = ..., entity_key: _Optional[str] = ..., feature_names: _Optional[_Iterable[str]] = ...) -> None: ...

class GetFeaturesResponse(_message.Message):
    __slots__ = ("features",)
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.MessageMap[str, _feature_value_pb2.FeatureValue]
    def __init__(self, features: _Optional[_Mapping[str, _feature_value_pb2.FeatureValue]] = ...) -> None: ...

class BatchGetFeaturesRequest(_message.Message):
    __slots__ = ("feature_set", "entity_keys", "feature_names")
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEYS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    feature_set: str
    entity_keys: _containers.RepeatedScalarFieldContainer[str]
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, feature_set: _Optional[str] = ..., entity_keys: _Optional[_Iterable[str]] = ..., feature_names: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetFeaturesResponse(_message.Message):
    __slots__ = ("entities",)
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    entities: _containers.RepeatedCompositeFieldContainer[EntityFeatures]
    def __init__(self, entities: _Optional[_Iterable[_Union[EntityFeatures, _Mapping]]] = ...) -> None: ...

class EntityFeatures(_message.Message):
    __slots__ = ("entity_key", "found", "features")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    ENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    entity_key: str
    found: bool
    features: _containers.MessageMap[str, _feature_value_pb2.FeatureValue]
    def __init__(self, entity_key: _Optional[str] = ..., found: _Optional[bool] = ..., features: _Optional[_Mapping[str, _feature_value_pb2.FeatureValue]] = ...) -> None: ...

class DeleteFeaturesRequest(_message.Message):
    __slots__ = ("feature_set", "entity_keys")
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    ENTITY_KEYS_FIELD_NUMBER: _ClassVar[int]
    feature_set: str
    entity_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, feature_set: _Optional[str] = ..., entity_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteFeaturesResponse(_message.Message):
    __slots__ = ("deleted_count",)
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    def __init__(self, deleted_count: _Optional[int] = ...) -> None: ...

from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeatureType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_TYPE_UNSPECIFIED: _ClassVar[FeatureType]
    FEATURE_TYPE_DOUBLE: _ClassVar[FeatureType]
    FEATURE_TYPE_INT64: _ClassVar[FeatureType]
    FEATURE_TYPE_STRING: _ClassVar[FeatureType]
    FEATURE_TYPE_BOOL: _ClassVar[FeatureType]
    FEATURE_TYPE_DOUBLE_LIST: _ClassVar[FeatureType]
    FEATURE_TYPE_INT64_LIST: _ClassVar[FeatureType]
    FEATURE_TYPE_STRING_LIST: _ClassVar[FeatureType]
    FEATURE_TYPE_BOOL_LIST: _ClassVar[FeatureType]
FEATURE_TYPE_UNSPECIFIED: FeatureType
FEATURE_TYPE_DOUBLE: FeatureType
FEATURE_TYPE_INT64: FeatureType
FEATURE_TYPE_STRING: FeatureType
FEATURE_TYPE_BOOL: FeatureType
FEATURE_TYPE_DOUBLE_LIST: FeatureType
FEATURE_TYPE_INT64_LIST: FeatureType
FEATURE_TYPE_STRING_LIST: FeatureType
FEATURE_TYPE_BOOL_LIST: FeatureType

class FeatureValue(_message.Message):
    __slots__ = ("double_value", "int64_value", "string_value", "bool_value", "double_list", "int64_list", "string_list", "bool_list")
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT64_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_LIST_FIELD_NUMBER: _ClassVar[int]
    INT64_LIST_FIELD_NUMBER: _ClassVar[int]
    STRING_LIST_FIELD_NUMBER: _ClassVar[int]
    BOOL_LIST_FIELD_NUMBER: _ClassVar[int]
    double_value: float
    int64_value: int
    string_value: str
    bool_value: bool
    double_list: DoubleList
    int64_list: Int64List
    string_list: StringList
    bool_list: BoolList
    def __init__(self, double_value: _Optional[float] = ..., int64_value: _Optional[int] = ..., string_value: _Optional[str] = ..., bool_value: _Optional[bool] = ..., double_list: _Optional[_Union[DoubleList, _Mapping]] = ..., int64_list: _Optional[_Union[Int64List, _Mapping]] = ..., string_list: _Optional[_Union[StringList, _Mapping]] = ..., bool_list: _Optional[_Union[BoolList, _Mapping]] = ...) -> None: ...

class DoubleList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class Int64List(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class StringList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class BoolList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, values: _Optional[_Iterable[bool]] = ...) -> None: ...

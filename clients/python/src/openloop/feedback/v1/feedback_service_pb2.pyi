import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from openloop.feature.v1 import feature_value_pb2 as _feature_value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_REGRESSION: _ClassVar[Task]
    TASK_BINARY_CLASSIFICATION: _ClassVar[Task]

class Optimizer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPTIMIZER_UNSPECIFIED: _ClassVar[Optimizer]
    OPTIMIZER_ADAGRAD: _ClassVar[Optimizer]
    OPTIMIZER_ADAM: _ClassVar[Optimizer]

class TrainingSamples(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAINING_SAMPLES_UNSPECIFIED: _ClassVar[TrainingSamples]
    TRAINING_SAMPLES_SIGNIFICANT_ERRORS: _ClassVar[TrainingSamples]
    TRAINING_SAMPLES_ALL_OUTCOMES: _ClassVar[TrainingSamples]

class Scaling(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCALING_UNSPECIFIED: _ClassVar[Scaling]
    SCALING_NONE: _ClassVar[Scaling]
    SCALING_STANDARDIZE: _ClassVar[Scaling]

class RejectionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECTION_REASON_UNSPECIFIED: _ClassVar[RejectionReason]
    REJECTION_REASON_UNKNOWN_MODEL: _ClassVar[RejectionReason]
    REJECTION_REASON_BAD_FEATURES: _ClassVar[RejectionReason]
    REJECTION_REASON_WRONG_LABEL_TYPE: _ClassVar[RejectionReason]
    REJECTION_REASON_NON_FINITE_LABEL: _ClassVar[RejectionReason]
TASK_UNSPECIFIED: Task
TASK_REGRESSION: Task
TASK_BINARY_CLASSIFICATION: Task
OPTIMIZER_UNSPECIFIED: Optimizer
OPTIMIZER_ADAGRAD: Optimizer
OPTIMIZER_ADAM: Optimizer
TRAINING_SAMPLES_UNSPECIFIED: TrainingSamples
TRAINING_SAMPLES_SIGNIFICANT_ERRORS: TrainingSamples
TRAINING_SAMPLES_ALL_OUTCOMES: TrainingSamples
SCALING_UNSPECIFIED: Scaling
SCALING_NONE: Scaling
SCALING_STANDARDIZE: Scaling
REJECTION_REASON_UNSPECIFIED: RejectionReason
REJECTION_REASON_UNKNOWN_MODEL: RejectionReason
REJECTION_REASON_BAD_FEATURES: RejectionReason
REJECTION_REASON_WRONG_LABEL_TYPE: RejectionReason
REJECTION_REASON_NON_FINITE_LABEL: RejectionReason

class Hyperparameters(_message.Message):
    __slots__ = ("optimizer", "learning_rate", "l2", "hash_buckets", "epochs", "scaling")
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    L2_FIELD_NUMBER: _ClassVar[int]
    HASH_BUCKETS_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    SCALING_FIELD_NUMBER: _ClassVar[int]
    optimizer: Optimizer
    learning_rate: float
    l2: float
    hash_buckets: int
    epochs: int
    scaling: Scaling
    def __init__(self, optimizer: _Optional[_Union[Optimizer, str]] = ..., learning_rate: _Optional[float] = ..., l2: _Optional[float] = ..., hash_buckets: _Optional[int] = ..., epochs: _Optional[int] = ..., scaling: _Optional[_Union[Scaling, str]] = ...) -> None: ...

class OnlineModel(_message.Message):
    __slots__ = ("name", "task", "hyperparameters", "error_threshold", "update_threshold", "feature_set", "current_version", "description", "create_time", "warm_up", "training_samples", "max_versions", "min_train_interval_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    UPDATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    WARM_UP_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    MIN_TRAIN_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    task: Task
    hyperparameters: Hyperparameters
    error_threshold: float
    update_threshold: int
    feature_set: str
    current_version: str
    description: str
    create_time: _timestamp_pb2.Timestamp
    warm_up: bool
    training_samples: TrainingSamples
    max_versions: int
    min_train_interval_ms: int
    def __init__(self, name: _Optional[str] = ..., task: _Optional[_Union[Task, str]] = ..., hyperparameters: _Optional[_Union[Hyperparameters, _Mapping]] = ..., error_threshold: _Optional[float] = ..., update_threshold: _Optional[int] = ..., feature_set: _Optional[str] = ..., current_version: _Optional[str] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., warm_up: _Optional[bool] = ..., training_samples: _Optional[_Union[TrainingSamples, str]] = ..., max_versions: _Optional[int] = ..., min_train_interval_ms: _Optional[int] = ...) -> None: ...

class CreateOnlineModelRequest(_message.Message):
    __slots__ = ("name", "task", "hyperparameters", "error_threshold", "update_threshold", "feature_set", "description", "warm_up", "training_samples", "max_versions", "min_train_interval_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    UPDATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    WARM_UP_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    MIN_TRAIN_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    task: Task
    hyperparameters: Hyperparameters
    error_threshold: float
    update_threshold: int
    feature_set: str
    description: str
    warm_up: bool
    training_samples: TrainingSamples
    max_versions: int
    min_train_interval_ms: int
    def __init__(self, name: _Optional[str] = ..., task: _Optional[_Union[Task, str]] = ..., hyperparameters: _Optional[_Union[Hyperparameters, _Mapping]] = ..., error_threshold: _Optional[float] = ..., update_threshold: _Optional[int] = ..., feature_set: _Optional[str] = ..., description: _Optional[str] = ..., warm_up: _Optional[bool] = ..., training_samples: _Optional[_Union[TrainingSamples, str]] = ..., max_versions: _Optional[int] = ..., min_train_interval_ms: _Optional[int] = ...) -> None: ...

class CreateOnlineModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: OnlineModel
    def __init__(self, model: _Optional[_Union[OnlineModel, _Mapping]] = ...) -> None: ...

class GetOnlineModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetOnlineModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: OnlineModel
    def __init__(self, model: _Optional[_Union[OnlineModel, _Mapping]] = ...) -> None: ...

class ListOnlineModelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOnlineModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[OnlineModel]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[OnlineModel, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("value", "label")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    value: float
    label: bool
    def __init__(self, value: _Optional[float] = ..., label: _Optional[bool] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("value", "label")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    value: float
    label: bool
    def __init__(self, value: _Optional[float] = ..., label: _Optional[bool] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("model", "features", "version")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    features: _containers.MessageMap[str, _feature_value_pb2.FeatureValue]
    version: str
    def __init__(self, model: _Optional[str] = ..., features: _Optional[_Mapping[str, _feature_value_pb2.FeatureValue]] = ..., version: _Optional[str] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("prediction_id", "prediction", "model_version")
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    prediction_id: str
    prediction: Prediction
    model_version: str
    def __init__(self, prediction_id: _Optional[str] = ..., prediction: _Optional[_Union[Prediction, _Mapping]] = ..., model_version: _Optional[str] = ...) -> None: ...

class RecordPredictionRequest(_message.Message):
    __slots__ = ("model", "version", "features", "prediction", "prediction_id")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    features: _containers.MessageMap[str, _feature_value_pb2.FeatureValue]
    prediction: Prediction
    prediction_id: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., features: _Optional[_Mapping[str, _feature_value_pb2.FeatureValue]] = ..., prediction: _Optional[_Union[Prediction, _Mapping]] = ..., prediction_id: _Optional[str] = ...) -> None: ...

class RecordPredictionResponse(_message.Message):
    __slots__ = ("prediction_id",)
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    prediction_id: str
    def __init__(self, prediction_id: _Optional[str] = ...) -> None: ...

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("prediction_id", "actual")
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_FIELD_NUMBER: _ClassVar[int]
    prediction_id: str
    actual: Outcome
    def __init__(self, prediction_id: _Optional[str] = ..., actual: _Optional[_Union[Outcome, _Mapping]] = ...) -> None: ...

class SubmitFeedbackResponse(_message.Message):
    __slots__ = ("error", "sent_to_learner", "model", "model_version")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SENT_TO_LEARNER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    error: float
    sent_to_learner: bool
    model: str
    model_version: str
    def __init__(self, error: _Optional[float] = ..., sent_to_learner: _Optional[bool] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class Sample(_message.Message):
    __slots__ = ("model", "features", "outcome")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _feature_value_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_feature_value_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    model: str
    features: _containers.MessageMap[str, _feature_value_pb2.FeatureValue]
    outcome: Outcome
    def __init__(self, model: _Optional[str] = ..., features: _Optional[_Mapping[str, _feature_value_pb2.FeatureValue]] = ..., outcome: _Optional[_Union[Outcome, _Mapping]] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("index", "reason", "message")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: RejectionReason
    message: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[_Union[RejectionReason, str]] = ..., message: _Optional[str] = ...) -> None: ...

class DenseSamples(_message.Message):
    __slots__ = ("model", "feature_names", "values", "targets", "labels")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    model: str
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    values: _containers.RepeatedScalarFieldContainer[float]
    targets: _containers.RepeatedScalarFieldContainer[float]
    labels: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, model: _Optional[str] = ..., feature_names: _Optional[_Iterable[str]] = ..., values: _Optional[_Iterable[float]] = ..., targets: _Optional[_Iterable[float]] = ..., labels: _Optional[_Iterable[bool]] = ...) -> None: ...

class IngestSamplesRequest(_message.Message):
    __slots__ = ("model", "samples", "dense", "batch_id")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    model: str
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    dense: _containers.RepeatedCompositeFieldContainer[DenseSamples]
    batch_id: str
    def __init__(self, model: _Optional[str] = ..., samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ..., dense: _Optional[_Iterable[_Union[DenseSamples, _Mapping]]] = ..., batch_id: _Optional[str] = ...) -> None: ...

class IngestSamplesResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "rejections", "duplicates")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: int
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    duplicates: int
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., duplicates: _Optional[int] = ...) -> None: ...

class IngestSampleBatchRequest(_message.Message):
    __slots__ = ("model", "samples", "dense", "batch_id")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    model: str
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    dense: _containers.RepeatedCompositeFieldContainer[DenseSamples]
    batch_id: str
    def __init__(self, model: _Optional[str] = ..., samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ..., dense: _Optional[_Iterable[_Union[DenseSamples, _Mapping]]] = ..., batch_id: _Optional[str] = ...) -> None: ...

class IngestSampleBatchResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "rejections", "duplicates")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: int
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    duplicates: int
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., duplicates: _Optional[int] = ...) -> None: ...

class GetLearnerStatusRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class TrainingRun(_message.Message):
    __slots__ = ("start_time", "finish_time", "succeeded", "error", "produced_version", "samples_used", "loss_before", "loss_after")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_USED_FIELD_NUMBER: _ClassVar[int]
    LOSS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    LOSS_AFTER_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    succeeded: bool
    error: str
    produced_version: str
    samples_used: int
    loss_before: float
    loss_after: float
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., succeeded: _Optional[bool] = ..., error: _Optional[str] = ..., produced_version: _Optional[str] = ..., samples_used: _Optional[int] = ..., loss_before: _Optional[float] = ..., loss_after: _Optional[float] = ...) -> None: ...

class GetLearnerStatusResponse(_message.Message):
    __slots__ = ("model", "buffered_samples", "update_threshold", "current_version", "samples_seen", "trainings", "training", "last_training")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BUFFERED_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_SEEN_FIELD_NUMBER: _ClassVar[int]
    TRAININGS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    LAST_TRAINING_FIELD_NUMBER: _ClassVar[int]
    model: str
    buffered_samples: int
    update_threshold: int
    current_version: str
    samples_seen: int
    trainings: int
    training: bool
    last_training: TrainingRun
    def __init__(self, model: _Optional[str] = ..., buffered_samples: _Optional[int] = ..., update_threshold: _Optional[int] = ..., current_version: _Optional[str] = ..., samples_seen: _Optional[int] = ..., trainings: _Optional[int] = ..., training: _Optional[bool] = ..., last_training: _Optional[_Union[TrainingRun, _Mapping]] = ...) -> None: ...

class GetModelPerformanceRequest(_message.Message):
    __slots__ = ("model", "version")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class VersionPerformance(_message.Message):
    __slots__ = ("version", "feedback_count", "window_count", "significant_errors", "mae", "rmse", "accuracy", "log_loss", "progressive")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_COUNT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIGNIFICANT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MAE_FIELD_NUMBER: _ClassVar[int]
    RMSE_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LOG_LOSS_FIELD_NUMBER: _ClassVar[int]
    PROGRESSIVE_FIELD_NUMBER: _ClassVar[int]
    version: str
    feedback_count: int
    window_count: int
    significant_errors: int
    mae: float
    rmse: float
    accuracy: float
    log_loss: float
    progressive: ProgressiveScore
    def __init__(self, version: _Optional[str] = ..., feedback_count: _Optional[int] = ..., window_count: _Optional[int] = ..., significant_errors: _Optional[int] = ..., mae: _Optional[float] = ..., rmse: _Optional[float] = ..., accuracy: _Optional[float] = ..., log_loss: _Optional[float] = ..., progressive: _Optional[_Union[ProgressiveScore, _Mapping]] = ...) -> None: ...

class ProgressiveScore(_message.Message):
    __slots__ = ("count", "mae", "rmse", "accuracy", "log_loss")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MAE_FIELD_NUMBER: _ClassVar[int]
    RMSE_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LOG_LOSS_FIELD_NUMBER: _ClassVar[int]
    count: int
    mae: float
    rmse: float
    accuracy: float
    log_loss: float
    def __init__(self, count: _Optional[int] = ..., mae: _Optional[float] = ..., rmse: _Optional[float] = ..., accuracy: _Optional[float] = ..., log_loss: _Optional[float] = ...) -> None: ...

class GetModelPerformanceResponse(_message.Message):
    __slots__ = ("model", "versions", "progressive")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    PROGRESSIVE_FIELD_NUMBER: _ClassVar[int]
    model: str
    versions: _containers.RepeatedCompositeFieldContainer[VersionPerformance]
    progressive: ProgressiveScore
    def __init__(self, model: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[VersionPerformance, _Mapping]]] = ..., progressive: _Optional[_Union[ProgressiveScore, _Mapping]] = ...) -> None: ...

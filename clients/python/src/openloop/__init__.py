"""openloop's Python client: the generated stubs of every service (openloop.<service>.v1)
and dial(), which opens one channel with the API key and TLS settled.

    import openloop
    from openloop.feature.v1 import feature_service_pb2

    with openloop.dial("127.0.0.1:50051", api_key="...", insecure=True) as client:
        sets = client.feature.ListFeatureSets(feature_service_pb2.ListFeatureSetsRequest())
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, TypeVar, Union

import grpc

from openloop.feature.v1.feature_service_pb2_grpc import FeatureServiceStub
from openloop.feedback.v1.feedback_service_pb2_grpc import FeedbackServiceStub
from openloop.llm.v1.llm_service_pb2_grpc import LLMServiceStub
from openloop.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from openloop.registry.v1.registry_service_pb2_grpc import RegistryServiceStub

__all__ = ["Client", "dial"]


class Client:
    """One channel and a stub for each service on it; close() (or `with`) closes the channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.llm = LLMServiceStub(channel)
        self.pipeline = PipelineServiceStub(channel)
        self.registry = RegistryServiceStub(channel)
        self.feature = FeatureServiceStub(channel)
        self.feedback = FeedbackServiceStub(channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dial(
    target: str,
    *,
    api_key: Optional[str] = None,
    insecure: bool = False,
    root_certificates: Optional[bytes] = None,
    options: Sequence[Tuple[str, Any]] = (),
) -> Client:
    """Opens a client to target ("host:port").

    api_key is sent as `authorization: Bearer <key>` on every call (the header the server checks).
    TLS is the default (system roots, or root_certificates in PEM); insecure=True connects in
    cleartext, as to a server on 127.0.0.1, and then sends the key in cleartext too.
    """
    if insecure and root_certificates is not None:
        raise ValueError("insecure=True and root_certificates exclude each other")
    if insecure:
        channel = grpc.insecure_channel(target, options=list(options))
    else:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        channel = grpc.secure_channel(target, credentials, options=list(options))
    if api_key:
        # An interceptor rather than call credentials: grpcio refuses those on cleartext channels.
        channel = grpc.intercept_channel(channel, _Metadata([("authorization", f"Bearer {api_key}")]))
    return Client(channel)


_Request = TypeVar("_Request")


class _Details(NamedTuple):
    method: str
    timeout: Optional[float]
    metadata: Optional[Sequence[Tuple[str, Union[str, bytes]]]]
    credentials: Optional[grpc.CallCredentials]
    wait_for_ready: Optional[bool]
    compression: Any


class _Metadata(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds fixed metadata to every call of every kind."""

    def __init__(self, metadata: Sequence[Tuple[str, str]]) -> None:
        self._metadata = list(metadata)

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata: List[Tuple[str, Union[str, bytes]]] = [*(details.metadata or []), *self._metadata]
        return _Details(  # type: ignore[return-value]  # grpc reads these fields by name
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[[grpc.ClientCallDetails, _Request], Any], client_call_details: grpc.ClientCallDetails, request: _Request
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: Callable[[grpc.ClientCallDetails, _Request], Any], client_call_details: grpc.ClientCallDetails, request: _Request
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Iterator[_Request]], Any],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[_Request],
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Iterator[_Request]], Any],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[_Request],
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

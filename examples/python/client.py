"""Calls openloop from Python with grpcio.

Generates the Python stubs from proto/ into examples/python/gen/ (needs grpcio-tools),
then checks the server's health and lists its feature sets.

    python examples/python/client.py --target 127.0.0.1:50051 [--api-key KEY]

Prints one JSON object; exits 1 with the gRPC status on stderr when a call fails.
"""

import argparse
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"
GEN = HERE / "gen"


def generate_stubs() -> None:
    import grpc_tools
    from grpc_tools import protoc

    GEN.mkdir(exist_ok=True)
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    # Our own protos only: proto/grpc/* would shadow the grpc package itself.
    protos = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "openloop").rglob("*.proto"))
    args = ["protoc", f"-I{PROTO}", f"-I{well_known}", f"--python_out={GEN}", f"--grpc_python_out={GEN}", *protos]
    if protoc.main(args) != 0:
        sys.exit("protoc failed to generate the Python stubs from proto/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of the openloop server")
    parser.add_argument("--api-key", default="", help="sent as 'authorization: Bearer <key>'")
    args = parser.parse_args()

    generate_stubs()
    sys.path.insert(0, str(GEN))
    import grpc
    from openloop.feature.v1 import feature_service_pb2, feature_service_pb2_grpc

    metadata = [("authorization", f"Bearer {args.api_key}")] if args.api_key else []
    with grpc.insecure_channel(args.target) as channel:
        features = feature_service_pb2_grpc.FeatureServiceStub(channel)
        try:
            response = features.ListFeatureSets(
                feature_service_pb2.ListFeatureSetsRequest(page_size=100), metadata=metadata, timeout=10
            )
        except grpc.RpcError as err:
            print(f"{err.code().name}: {err.details()}", file=sys.stderr)
            sys.exit(1)
    print(json.dumps({"feature_sets": [s.name for s in response.feature_sets]}))


if __name__ == "__main__":
    main()

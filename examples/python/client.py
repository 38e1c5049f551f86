"""Calls openloop from Python with grpcio.

Uses the client package in clients/python (`pip install ./clients/python`; from a checkout
it also runs without installing), then lists the server's feature sets.

    python examples/python/client.py --target 127.0.0.1:50051 [--api-key KEY]

Prints one JSON object; exits 1 with the gRPC status on stderr when a call fails.
"""

import argparse
import json
import pathlib
import sys

try:
    import openloop
except ImportError:  # not installed: the package's source in this checkout
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "clients" / "python" / "src"))
    import openloop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of the openloop server")
    parser.add_argument("--api-key", default="", help="sent as 'authorization: Bearer <key>'")
    args = parser.parse_args()

    import grpc
    from openloop.feature.v1 import feature_service_pb2

    with openloop.dial(args.target, api_key=args.api_key or None, insecure=True) as client:
        try:
            response = client.feature.ListFeatureSets(feature_service_pb2.ListFeatureSetsRequest(page_size=100), timeout=10)
        except grpc.RpcError as err:
            print(f"{err.code().name}: {err.details()}", file=sys.stderr)
            sys.exit(1)
    print(json.dumps({"feature_sets": [s.name for s in response.feature_sets]}))


if __name__ == "__main__":
    main()

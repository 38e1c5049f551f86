"""Uses the installed openloop-client package as a user would; run by python.test.ts.

    python python_client.py TARGET API_KEY FEATURE_SET TLS_TARGET TLS_CA_FILE

TARGET is cleartext; TLS_TARGET is the same server over TLS, its certificate in TLS_CA_FILE.

Prints one JSON object with what each call returned. python.test.ts also checks it with
mypy --strict against the package's type stubs.
"""

import json
import pathlib
import sys
from typing import Callable, Dict, List

import grpc

import openloop
from openloop.feature.v1 import feature_service_pb2, feature_value_pb2
from openloop.llm.v1 import llm_service_pb2
from openloop.pipeline.v1 import pipeline_service_pb2
from openloop.registry.v1 import registry_service_pb2


def code_of(call: Callable[[], object]) -> str:
    try:
        call()
    except grpc.RpcError as err:
        return err.code().name
    return "OK"


def main() -> None:
    target, key, name, tls_target, ca_file = sys.argv[1:6]
    package = pathlib.Path(openloop.__file__).parent
    typed: List[str] = [str(p.relative_to(package)) for p in sorted(package.rglob("*.pyi"))]
    typed += [p.name for p in package.glob("py.typed")]
    out: Dict[str, object] = {"module": openloop.__file__, "typed": typed}
    with openloop.dial(target, api_key=key, insecure=True) as client:
        client.feature.CreateFeatureSet(
            feature_service_pb2.CreateFeatureSetRequest(
                feature_set=feature_service_pb2.FeatureSet(
                    name=name,
                    features=[feature_service_pb2.FeatureDefinition(name="age", type=feature_value_pb2.FEATURE_TYPE_INT64)],
                )
            ),
            timeout=30,
        )
        client.feature.PutFeatures(
            feature_service_pb2.PutFeaturesRequest(
                feature_set=name, entity_key="user-1", features={"age": feature_value_pb2.FeatureValue(int64_value=42)}
            ),
            timeout=30,
        )
        got = client.feature.GetFeatures(feature_service_pb2.GetFeaturesRequest(feature_set=name, entity_key="user-1"), timeout=30)
        out["age"] = got.features["age"].int64_value
        sets = client.feature.ListFeatureSets(feature_service_pb2.ListFeatureSetsRequest(page_size=1000), timeout=30)
        out["feature_sets"] = [s.name for s in sets.feature_sets]
        out["llm_models"] = len(client.llm.ListModels(llm_service_pb2.ListModelsRequest(), timeout=30).models)
        out["pipelines"] = code_of(lambda: client.pipeline.ListPipelines(pipeline_service_pb2.ListPipelinesRequest(), timeout=30))
        out["missing_model"] = code_of(
            lambda: client.registry.GetModelVersion(registry_service_pb2.GetModelVersionRequest(name="no-such-model"), timeout=30)
        )
    with openloop.dial(tls_target, api_key=key, root_certificates=pathlib.Path(ca_file).read_bytes()) as client:
        out["tls"] = code_of(lambda: client.feature.ListFeatureSets(feature_service_pb2.ListFeatureSetsRequest(), timeout=30))
    with openloop.dial(target, api_key="not-the-key", insecure=True) as client:
        out["wrong_key"] = code_of(lambda: client.feature.ListFeatureSets(feature_service_pb2.ListFeatureSetsRequest(), timeout=30))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

// Calls openloop from Node with the Connect client over gRPC (HTTP/2):
//   node --import tsx examples/node/client.ts [http://127.0.0.1:50051] [api-key]
// Prints the feature sets as JSON; exits 1 with the status code on failure.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";

const [baseUrl = "http://127.0.0.1:50051", apiKey] = process.argv.slice(2);

const transport = createGrpcTransport({
  baseUrl,
  interceptors: apiKey
    ? [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${apiKey}`);
          return next(req);
        },
      ]
    : [],
});
const features = createClient(FeatureService, transport);

try {
  const res = await features.listFeatureSets({ pageSize: 100 }, { timeoutMs: 10_000 });
  console.log(JSON.stringify({ featureSets: res.featureSets.map((s) => s.name) }));
} catch (err) {
  const e = ConnectError.from(err);
  console.error(`${Code[e.code]}: ${e.rawMessage}`);
  process.exitCode = 1;
}

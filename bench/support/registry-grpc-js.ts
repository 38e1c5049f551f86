// RegistryService transfers from Node's gRPC client (@grpc/grpc-js, messages through
// protobuf-es as a user would write them), for the transfer benches. The client gets a wide
// receive window: grpc-js's default is 64 KiB per stream, which bounds a download by round trips.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  DownloadArtifactRequestSchema,
  DownloadArtifactResponseSchema,
  RegisterModelVersionRequestSchema,
  RegisterModelVersionResponseSchema,
  type DownloadArtifactResponse,
  type RegisterModelVersionRequest,
  type RegisterModelVersionResponse,
} from "../../gen/openloop/registry/v1/registry_service_pb.js";

export function grpcJsClient(port: number): grpc.Client {
  return new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc-node.flow_control_window": 8 << 20,
    "grpc.max_receive_message_length": 64 << 20,
    "grpc.max_send_message_length": 64 << 20,
  });
}

/** RegisterModelVersion with the given messages (header first), waiting for drain as a careful writer does. */
export function grpcJsRegister(client: grpc.Client, requests: AsyncIterable<RegisterModelVersionRequest> | Iterable<RegisterModelVersionRequest>): Promise<RegisterModelVersionResponse> {
  return new Promise<RegisterModelVersionResponse>((resolve, reject) => {
    const call = client.makeClientStreamRequest<RegisterModelVersionRequest, RegisterModelVersionResponse>(
      "/openloop.registry.v1.RegistryService/RegisterModelVersion",
      (m) => Buffer.from(toBinary(RegisterModelVersionRequestSchema, m)),
      (b) => fromBinary(RegisterModelVersionResponseSchema, b),
      (err, value) => (err ? reject(err) : resolve(value!)),
    );
    void (async () => {
      for await (const m of requests) {
        if (!call.write(m)) await new Promise((r) => call.once("drain", r));
      }
      call.end();
    })().catch(reject);
  });
}

/** DownloadArtifact of a version's only artifact; calls onData with each data chunk, in order (awaited). */
export async function grpcJsDownload(client: grpc.Client, name: string, version: string, onData: (data: Uint8Array) => unknown): Promise<void> {
  const call = client.makeServerStreamRequest<unknown, DownloadArtifactResponse>(
    "/openloop.registry.v1.RegistryService/DownloadArtifact",
    () => Buffer.from(toBinary(DownloadArtifactRequestSchema, create(DownloadArtifactRequestSchema, { name, selector: { case: "version", value: version } }))),
    (b) => fromBinary(DownloadArtifactResponseSchema, b),
    {},
  );
  for await (const m of call as AsyncIterable<DownloadArtifactResponse>) {
    if (m.part.case === "data") await onData(m.part.value);
  }
}

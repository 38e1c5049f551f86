// A response message's sent notice (encodedSent) means its bytes are no longer read, so its
// buffer may carry the next message: on connect-node (Connect, gRPC-Web), which never reads
// the notice, the bindings' streams call it once connect-node has encoded the message. Here
// every notice overwrites the message's buffer, as a reused download buffer would be.
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DownloadArtifactResponseSchema, RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { encodedSent } from "../../src/platform/rpc/encode-self.js";
import { bind, mount } from "../../src/platform/rpc/binding.js";

const CHUNKS = 4;
const CHUNK_BYTES = 64 * 1024;

describe("sent notices on connect-node", () => {
  let server: http.Server;
  let baseUrl: string;
  const events: string[] = [];

  beforeAll(async () => {
    const binding = bind(RegistryService, {
      async *downloadArtifact() {
        // One buffer for every chunk: each is written once the previous one is sent.
        const buffer = new Uint8Array(CHUNK_BYTES);
        for (let i = 0; i < CHUNKS; i++) {
          expect(events.at(-1), `chunk ${i} is made once chunk ${i - 1} is sent`).toBe(i === 0 ? undefined : `sent ${i - 1}`);
          buffer.fill(i + 1);
          const message = create(DownloadArtifactResponseSchema, { part: { case: "data", value: buffer } });
          Object.defineProperty(message, encodedSent, {
            value: () => {
              events.push(`sent ${i}`);
              buffer.fill(0xee);
            },
          });
          yield message;
        }
      },
    }, { sentNotices: ["downloadArtifact"] });
    server = http.createServer(connectNodeAdapter({ routes: (router) => mount(router, [binding]) }));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server?.close());

  it.each<[string, () => Transport]>([
    ["Connect", () => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
    ["gRPC-Web", () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
  ])("are called once a message is encoded, so its buffer can carry the next (%s)", async (_name, transport) => {
    events.length = 0;
    const received: number[][] = [];
    for await (const res of createClient(RegistryService, transport()).downloadArtifact({ name: "m" })) {
      const data = res.part.case === "data" ? res.part.value : new Uint8Array();
      received.push([...new Set(data)]);
    }
    expect(received).toEqual(Array.from({ length: CHUNKS }, (_, i) => [i + 1]));
    expect(events).toEqual(Array.from({ length: CHUNKS }, (_, i) => `sent ${i}`));
  });
});

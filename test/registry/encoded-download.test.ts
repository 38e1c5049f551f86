// DownloadArtifact's data messages built in place match what protobuf would encode.
import { create, toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DownloadArtifactResponseSchema } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { dataMessage } from "../../src/registry/service.js";

describe("dataMessage", () => {
  it.each([0, 1, 127, 128, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 4 * 1024 * 1024])("encodes %i bytes of data as protobuf does", (n) => {
    const data = randomBytes(n);
    const buf = Buffer.alloc(6 + n);
    data.copy(buf, 6);
    const expected = toBinary(DownloadArtifactResponseSchema, create(DownloadArtifactResponseSchema, { part: { case: "data", value: data } }));
    expect(Buffer.from(dataMessage(buf)).equals(Buffer.from(expected))).toBe(true);
  });
});

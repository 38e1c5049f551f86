#!/usr/bin/env node
// A protoc plugin, run by `buf generate` (see buf.gen.yaml), that writes next to each
// generated <name>_pb.ts a <name>.descriptor.b64: the file's FileDescriptorProto *with*
// its comments (source info), base64-encoded. protoc-gen-es leaves comments out of the
// descriptors it embeds; server reflection serves these instead, so that
// `grpcurl describe` shows the contract's comments.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, CodeGeneratorResponseSchema, CodeGeneratorResponse_Feature, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = fromBinary(CodeGeneratorRequestSchema, Buffer.concat(chunks));

const wanted = new Set(request.fileToGenerate);
const file = request.protoFile
  .filter((f) => wanted.has(f.name))
  .map((f) => ({
    name: f.name.replace(/\.proto$/, ".descriptor.b64"),
    content: `${Buffer.from(toBinary(FileDescriptorProtoSchema, f)).toString("base64").replace(/.{1,120}/g, "$&\n")}`,
  }));

const response = create(CodeGeneratorResponseSchema, {
  supportedFeatures: BigInt(CodeGeneratorResponse_Feature.PROTO3_OPTIONAL),
  file,
});
process.stdout.write(toBinary(CodeGeneratorResponseSchema, response));

// gRPC server reflection (grpc.reflection.v1 and v1alpha) over the generated file
// descriptors of the services mounted on the router, so grpcurl and other tools
// can list, describe and call every RPC without .proto files.
import { readFileSync } from "node:fs";
import path from "node:path";
import { clone, equals, fromBinary, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type DescriptorProto, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { Code } from "@connectrpc/connect";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { ServiceBinding } from "./rpc/binding.js";

/** The reflection services themselves, to list beside the services they describe. */
export const REFLECTION_SERVICES: readonly DescService[] = [ReflectionV1, ReflectionV1alpha];

/** The request shape shared by v1 and v1alpha (they differ only in package name). */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** An index of every file, symbol and extension reachable from a set of services. */
export class DescriptorIndex {
  readonly serviceNames: string[];
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  /** extendee type name -> field number -> declaring file */
  private readonly extensions = new Map<string, Map<number, DescFile>>();
  private readonly encoded = new Map<string, Uint8Array>();

  /**
   * `documented` may supply a file's serialized descriptor with comments, to be served
   * instead of the generated code's embedded (comment-free) one.
   */
  constructor(
    services: Iterable<DescService>,
    private readonly documented: (file: DescFile) => Uint8Array | undefined = () => undefined,
    /** Files no service imports whose messages clients still meet (error details in a status). */
    extraFiles: Iterable<DescFile> = [],
  ) {
    const names = new Set<string>();
    for (const service of services) {
      names.add(service.typeName);
      this.addFile(service.file);
    }
    for (const file of extraFiles) this.addFile(file);
    this.serviceNames = [...names].sort();
  }

  private addFile(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    for (const type of nestedTypes(file)) {
      this.symbols.set(type.typeName, file);
      switch (type.kind) {
        case "service":
          for (const m of type.methods) this.symbols.set(`${type.typeName}.${m.name}`, file);
          break;
        case "message":
          for (const f of type.fields) this.symbols.set(`${type.typeName}.${f.name}`, file);
          break;
        case "extension": {
          let byNumber = this.extensions.get(type.extendee.typeName);
          if (!byNumber) this.extensions.set(type.extendee.typeName, (byNumber = new Map()));
          byNumber.set(type.number, file);
          break;
        }
      }
    }
    for (const dep of file.dependencies) this.addFile(dep);
  }

  fileByName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol.replace(/^\./, ""));
  }

  fileContainingExtension(typeName: string, number: number): DescFile | undefined {
    return this.extensions.get(typeName.replace(/^\./, ""))?.get(number);
  }

  extensionNumbers(typeName: string): number[] | undefined {
    const name = typeName.replace(/^\./, "");
    if (!this.symbols.has(name)) return undefined;
    return [...(this.extensions.get(name)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The file first, then its transitive dependencies that this stream has not been sent yet. */
  withDependencies(file: DescFile, sent: Set<string>): Uint8Array[] {
    const out: Uint8Array[] = [];
    const visit = (f: DescFile, requested: boolean) => {
      if (!requested && sent.has(f.proto.name)) return;
      sent.add(f.proto.name);
      out.push(this.encode(f));
      for (const dep of f.dependencies) visit(dep, false);
    };
    visit(file, true);
    return out;
  }

  private encode(file: DescFile): Uint8Array {
    let bytes = this.encoded.get(file.proto.name);
    if (!bytes) this.encoded.set(file.proto.name, (bytes = this.documented(file) ?? toBinary(FileDescriptorProtoSchema, file.proto)));
    return bytes;
  }

  answer(req: ReflectionRequest, sent: Set<string>): ReflectionAnswer {
    const notFound = (what: string): ReflectionAnswer => ({
      case: "errorResponse",
      value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
    });
    const files = (file: DescFile | undefined, what: string): ReflectionAnswer =>
      file ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: this.withDependencies(file, sent) } } : notFound(what);
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: this.serviceNames.map((name) => ({ name })) } };
      case "fileByFilename":
        return files(this.fileByName(r.value), `file '${r.value}'`);
      case "fileContainingSymbol":
        return files(this.fileContainingSymbol(r.value), `symbol '${r.value}'`);
      case "fileContainingExtension":
        return files(
          this.fileContainingExtension(r.value.containingType, r.value.extensionNumber),
          `extension ${r.value.extensionNumber} of '${r.value.containingType}'`,
        );
      case "allExtensionNumbersOfType": {
        const numbers = this.extensionNumbers(r.value);
        if (!numbers) return notFound(`type '${r.value}'`);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value.replace(/^\./, ""), extensionNumber: numbers } };
      }
      default:
        return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "message_request is not set" } };
    }
  }
}

/**
 * Reads `<genDir>/<file>.descriptor.b64` (written by scripts/protoc-gen-descriptors.mjs
 * during `buf generate`): the file's descriptor with its comments. It is used only when
 * it declares exactly what the generated code embeds, so a stale file can never make
 * reflection describe a different schema than the one the server speaks.
 */
export function documentedDescriptors(genDir: string, onStale: (file: string) => void): (file: DescFile) => Uint8Array | undefined {
  return (file) => {
    let text: string;
    try {
      text = readFileSync(path.join(genDir, file.proto.name.replace(/\.proto$/, ".descriptor.b64")), "utf8");
    } catch {
      return undefined; // well-known types and anything not generated here
    }
    const bytes = Buffer.from(text, "base64");
    const withComments = fromBinary(FileDescriptorProtoSchema, bytes);
    if (!equals(FileDescriptorProtoSchema, withoutExtras(withComments), withoutExtras(file.proto))) {
      onStale(file.proto.name);
      return undefined;
    }
    return bytes;
  };
}

/** A copy without what protoc-gen-es leaves out of embedded descriptors: comments and JSON names. */
function withoutExtras(file: FileDescriptorProto): FileDescriptorProto {
  const copy = clone(FileDescriptorProtoSchema, file);
  copy.sourceCodeInfo = undefined;
  const strip = (m: DescriptorProto) => {
    for (const f of [...m.field, ...m.extension]) f.jsonName = "";
    m.nestedType.forEach(strip);
  };
  copy.messageType.forEach(strip);
  for (const f of copy.extension) f.jsonName = "";
  return copy;
}

/** Both reflection services, answering from `index`. */
export function reflectionServices(index: DescriptorIndex): ServiceBinding[] {
  // v1alpha is v1 under another package name: the same answers serve both.
  const impl = {
    async *serverReflectionInfo(requests: AsyncIterable<Parameters<DescriptorIndex["answer"]>[0]>) {
      const sent = new Set<string>();
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: index.answer(req, sent) };
      }
    },
  };
  return [
    { desc: ReflectionV1, impl: impl as never, options: {} },
    { desc: ReflectionV1alpha, impl: impl as never, options: {} },
  ];
}

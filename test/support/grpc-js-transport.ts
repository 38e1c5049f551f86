// A connect-es Transport over a real @grpc/grpc-js client, so the same typed test cases
// (createClient(Service, transport)) run through grpc-js as through connect-node's clients.
// Errors are read from the status as a grpc-js user would get it, details included.
import { create, fromBinary, toBinary, type DescMessage, type DescMethodStreaming, type DescMethodUnary } from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamResponse, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import * as grpc from "@grpc/grpc-js";

export interface GrpcJsTransport extends Transport {
  close(): void;
}

export function createGrpcJsTransport(target: string, opts: { apiKey?: string } = {}): GrpcJsTransport {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const serialize = (schema: DescMessage) => (value: unknown) => Buffer.from(toBinary(schema, create(schema, value as never)));
  const deserialize = (schema: DescMessage) => (bytes: Buffer) => fromBinary(schema, bytes);

  const metadataOf = (header: HeadersInit | undefined): grpc.Metadata => {
    const md = new grpc.Metadata();
    new Headers(header).forEach((value, key) => md.set(key, value));
    if (opts.apiKey) md.set("authorization", `Bearer ${opts.apiKey}`);
    return md;
  };
  const optionsOf = (timeoutMs: number | undefined): grpc.CallOptions => (timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs });

  return {
    unary<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, signal: AbortSignal | undefined, timeoutMs: number | undefined, header: HeadersInit | undefined, input: unknown): Promise<UnaryResponse<I, O>> {
      return new Promise((resolve, reject) => {
        let responseHeader = new Headers();
        let message: unknown;
        const call = client.makeUnaryRequest(
          path(method),
          serialize(method.input),
          deserialize(method.output),
          input,
          metadataOf(header),
          optionsOf(timeoutMs),
          (err, value) => {
            if (err) return reject(errorOf(err));
            message = value;
          },
        );
        call.on("metadata", (md: grpc.Metadata) => (responseHeader = headersOf(md)));
        // grpc-js calls back before it emits the status: the trailers come with the status.
        call.on("status", (s: grpc.StatusObject) => {
          if (s.code !== grpc.status.OK) return;
          resolve({ stream: false, service: method.parent, method, header: responseHeader, message: message as never, trailer: headersOf(s.metadata) } as UnaryResponse<I, O>);
        });
        signal?.addEventListener("abort", () => call.cancel(), { once: true });
      });
    },

    async stream<I extends DescMessage, O extends DescMethodStreaming["output"]>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<unknown>,
    ): Promise<StreamResponse<I, O>> {
      const md = metadataOf(header);
      const options = optionsOf(timeoutMs);
      const ser = serialize(method.input);
      const de = deserialize(method.output);
      const p = path(method);
      const trailer = new Headers();
      let status: grpc.StatusObject | undefined;
      let unaryResult: Promise<unknown> | undefined;
      let call: grpc.ClientReadableStream<unknown> | grpc.ClientWritableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>;
      switch (method.methodKind) {
        case "server_streaming": {
          const first = await firstOf(input);
          call = client.makeServerStreamRequest(p, ser, de, first, md, options);
          break;
        }
        case "client_streaming":
          unaryResult = new Promise((resolve, reject) => {
            call = client.makeClientStreamRequest(p, ser, de, md, options, (err, message) => (err ? reject(errorOf(err)) : resolve(message)));
          });
          void pipeInput(input, call! as grpc.ClientWritableStream<unknown>);
          break;
        default:
          call = client.makeBidiStreamRequest(p, ser, de, md, options);
          void pipeInput(input, call as grpc.ClientDuplexStream<unknown, unknown>);
      }
      signal?.addEventListener("abort", () => call.cancel(), { once: true });
      call!.on("status", (s: grpc.StatusObject) => {
        status = s;
        headersOf(s.metadata).forEach((v, k) => trailer.set(k, v));
      });
      // An error status can arrive before anyone reads: keep it for messages() to throw.
      call!.on("error", () => {});
      const responseHeader = await new Promise<Headers>((resolve) => {
        call!.once("metadata", (m: grpc.Metadata) => resolve(headersOf(m)));
        call!.once("status", () => resolve(new Headers())); // trailers-only
        call!.once("error", () => resolve(new Headers()));
      });
      async function* messages(): AsyncGenerator<unknown> {
        if (unaryResult) {
          yield await unaryResult;
          return;
        }
        try {
          for await (const m of call as grpc.ClientReadableStream<unknown>) yield m;
        } catch (err) {
          throw errorOf(err as grpc.ServiceError);
        }
        if (status && status.code !== grpc.status.OK) throw errorOf({ ...status, message: status.details } as unknown as grpc.ServiceError);
      }
      return { stream: true, service: method.parent, method, header: responseHeader, message: messages() as never, trailer } as StreamResponse<I, O>;
    },

    close: () => client.close(),
  };
}

const path = (method: { parent: { typeName: string }; name: string }) => `/${method.parent.typeName}/${method.name}`;

async function firstOf(input: AsyncIterable<unknown>): Promise<unknown> {
  for await (const m of input) return m;
  throw new ConnectError("a server-streaming call needs one request", Code.InvalidArgument);
}

async function pipeInput(input: AsyncIterable<unknown>, call: grpc.ClientWritableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>): Promise<void> {
  try {
    for await (const m of input) {
      if (!call.write(m)) await new Promise((resolve) => call.once("drain", resolve));
    }
  } finally {
    call.end();
  }
}

function headersOf(md: grpc.Metadata | undefined): Headers {
  const headers = new Headers();
  if (!md) return headers;
  for (const [key, values] of Object.entries(md.getMap())) {
    headers.set(key, Buffer.isBuffer(values) ? values.toString("base64") : String(values));
  }
  return headers;
}

/** The ConnectError a grpc-js status amounts to, with its details (grpc-status-details-bin). */
function errorOf(err: grpc.ServiceError): ConnectError {
  const headers = headersOf(err.metadata);
  headers.set("grpc-status", String(err.code));
  headers.set("grpc-message", encodeURIComponent(err.details ?? ""));
  return findTrailerError(headers) ?? new ConnectError(err.details ?? "", err.code as number as Code);
}

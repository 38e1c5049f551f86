// A service implementation as the transports see it: the contract's descriptor and the
// handlers written against connect-es types. The same binding is served over gRPC
// (grpc/native-server.ts) and connect-node (Connect, gRPC-Web), and called in process.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { sentCallback } from "./encode-self.js";
import { enumCheckFor, type EnumCheck } from "./enum-check.js";

export interface BindingOptions {
  /**
   * Whether Connect and gRPC-Web responses may be compressed when the client accepts it
   * (default true). Off for services whose payloads are numbers or model weights, which
   * gzip barely shrinks at a high CPU cost. Compressed requests are always accepted.
   */
  readonly compressResponses?: boolean;
  /**
   * Request decoders of the service's own, by method local name, for transports that receive
   * protobuf binary (gRPC): for requests whose generic decoding costs much (many small
   * messages). Must give what fromBinary gives, or a message the handler treats alike, and
   * throw on malformed bytes.
   */
  readonly decoders?: { readonly [method: string]: (bytes: Uint8Array) => unknown };
  /**
   * Streaming methods, by local name, whose response messages carry a sent notice
   * (encode-self.ts's encodedSent) that every transport must honour. Other streams pay for none.
   */
  readonly sentNotices?: readonly string[];
}

export interface ServiceBinding {
  readonly desc: DescService;
  readonly impl: Partial<ServiceImpl<DescService>>;
  readonly options: BindingOptions;
}

/**
 * Pairs a descriptor with its implementation; the compiler checks every method's types.
 * Methods whose requests hold enum fields refuse undefined enum numbers before the
 * implementation runs, on every transport (they all call these handlers).
 */
export function bind<S extends DescService>(desc: S, impl: Partial<ServiceImpl<S>>, options: BindingOptions = {}): ServiceBinding {
  const handlers = impl as Record<string, unknown>;
  const checks = new Map(desc.methods.map((m) => [m, enumCheckFor(m.input)] as const));
  if (![...checks.values()].some(Boolean)) return { desc, impl: impl as Partial<ServiceImpl<DescService>>, options };
  const checked: Record<string, unknown> = {};
  for (const [method, check] of checks) {
    const handler = handlers[method.localName];
    if (typeof handler !== "function") continue;
    const bound = (handler as AnyHandler).bind(impl);
    checked[method.localName] = check ? refusingUndefinedEnums(method, bound, check) : bound;
  }
  return { desc, impl: checked as Partial<ServiceImpl<DescService>>, options };
}

type AnyHandler = (input: unknown, ctx: unknown) => unknown;

function refusingUndefinedEnums(method: DescMethod, handler: AnyHandler, check: EnumCheck): AnyHandler {
  switch (method.methodKind) {
    case "unary":
      return async (req, ctx) => {
        check(req as object);
        return handler(req, ctx);
      };
    case "server_streaming":
      return async function* (req, ctx) {
        check(req as object);
        yield* handler(req, ctx) as AsyncIterable<unknown>;
      };
    default:
      return (reqs, ctx) => handler(checkEach(reqs as AsyncIterable<object>, check), ctx);
  }
}

async function* checkEach(requests: AsyncIterable<object>, check: EnumCheck): AsyncGenerator<object> {
  for await (const req of requests) {
    check(req);
    yield req;
  }
}

/** Mounts bindings on a connect-es router. */
export function mount(router: ConnectRouter, bindings: Iterable<ServiceBinding>): void {
  for (const b of bindings) {
    router.service(b.desc, reportingSent(b), b.options.compressResponses === false ? { compressMinBytes: Number.MAX_SAFE_INTEGER } : {});
  }
}

/**
 * The binding's handlers for connect-node, which never reads a message's sent notice
 * (encode-self.ts): the streams named in sentNotices say so themselves (one more async
 * generator per message, which the others are spared). connect-node encodes each response message
 * before it asks for the next, so a message is sent once the handler's stream is resumed
 * after it; the gRPC servers call the notice when HTTP/2 takes the bytes.
 */
function reportingSent(b: ServiceBinding): Partial<ServiceImpl<DescService>> {
  if (!b.options.sentNotices?.length) return b.impl;
  const handlers = b.impl as Record<string, unknown>;
  const wrapped: Record<string, unknown> = { ...handlers };
  for (const method of b.desc.methods) {
    const handler = handlers[method.localName];
    if (typeof handler !== "function" || !b.options.sentNotices.includes(method.localName)) continue;
    wrapped[method.localName] = async function* (input: unknown, ctx: unknown) {
      for await (const value of (handler as AnyHandler).call(b.impl, input, ctx) as AsyncIterable<unknown>) {
        yield value;
        sentCallback(value)?.();
      }
    };
  }
  return wrapped as Partial<ServiceImpl<DescService>>;
}

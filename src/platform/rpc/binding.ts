// A service implementation as the transports see it: the contract's descriptor and the
// handlers written against connect-es types. The same binding is served over grpc-js
// (gRPC) and connect-node (Connect, gRPC-Web), and called in process.
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";

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
}

export interface ServiceBinding {
  readonly desc: DescService;
  readonly impl: Partial<ServiceImpl<DescService>>;
  readonly options: BindingOptions;
}

/** Pairs a descriptor with its implementation; the compiler checks every method's types. */
export function bind<S extends DescService>(desc: S, impl: Partial<ServiceImpl<S>>, options: BindingOptions = {}): ServiceBinding {
  return { desc, impl: impl as Partial<ServiceImpl<DescService>>, options };
}

/** Mounts bindings on a connect-es router. */
export function mount(router: ConnectRouter, bindings: Iterable<ServiceBinding>): void {
  for (const b of bindings) {
    router.service(b.desc, b.impl, b.options.compressResponses === false ? { compressMinBytes: Number.MAX_SAFE_INTEGER } : {});
  }
}

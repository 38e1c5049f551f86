// GetFeatures and BatchGetFeatures responses over stored bytes. Each is a real message
// whose features are decoded only when first read (Connect, JSON, in-process callers),
// and which can also write its own protobuf binary, spliced from the stored bytes
// (stored-splice.ts) without decoding anything: a transport that looks for
// `encodeSelf` sends those bytes instead of encoding the message.
import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { BatchGetFeaturesResponse, EntityFeatures, GetFeaturesResponse } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { BatchGetFeaturesResponseSchema, GetFeaturesResponseSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { decodeStoredFeatures } from "./stored-decode.js";
import type { ProtoFeatures } from "./stored-decode.js";
import { batchGetFeaturesResponseBytes, getFeaturesResponseBytes } from "./stored-splice.js";

/**
 * The key of a response's own encoder, `() => Uint8Array` (the message in protobuf binary).
 * A registered symbol, as `util.inspect.custom` is, so the transport and the services agree
 * on it without importing each other.
 */
export const encodeSelf: unique symbol = Symbol.for("openloop.rpc.encodeSelf");

export interface SelfEncoding {
  [encodeSelf](): Uint8Array;
}

// Once its fields have been read, a message may have been changed: from then on it encodes
// itself as protobuf-es would. The encoder is not enumerable, so a spread copy (which may
// differ) does not take it along. Bytes that do not parse fail the call with INTERNAL, and
// are logged here: on the Connect side the message is read after the handler returned,
// where no RPC log sees the error.

export function getFeaturesResponse(stored: Uint8Array, only: ReadonlySet<string> | undefined, log: Logger): GetFeaturesResponse & SelfEncoding {
  let features: ProtoFeatures | undefined;
  const message: GetFeaturesResponse = {
    $typeName: "openloop.feature.v1.GetFeaturesResponse",
    get features() {
      return (features ??= guarded(log, () => decodeStoredFeatures(stored, only)));
    },
    set features(value) {
      features = value;
    },
  };
  return withEncoder(message, () => (features === undefined ? guarded(log, () => getFeaturesResponseBytes(stored, only)) : toBinary(GetFeaturesResponseSchema, message)));
}

export function batchGetFeaturesResponse(
  entityKeys: readonly string[],
  found: readonly (Uint8Array | undefined)[],
  only: ReadonlySet<string> | undefined,
  log: Logger,
): BatchGetFeaturesResponse & SelfEncoding {
  let entities: EntityFeatures[] | undefined;
  const message: BatchGetFeaturesResponse = {
    $typeName: "openloop.feature.v1.BatchGetFeaturesResponse",
    get entities() {
      return (entities ??= entityKeys.map((entityKey, i): EntityFeatures => {
        const stored = found[i];
        // Built as a complete message: create() would walk the descriptor once per entity.
        return { $typeName: "openloop.feature.v1.EntityFeatures", entityKey, found: stored !== undefined, features: stored === undefined ? {} : guarded(log, () => decodeStoredFeatures(stored, only)) };
      }));
    },
    set entities(value) {
      entities = value;
    },
  };
  return withEncoder(message, () => (entities === undefined ? guarded(log, () => batchGetFeaturesResponseBytes(entityKeys, found, only)) : toBinary(BatchGetFeaturesResponseSchema, message)));
}

function withEncoder<M extends object>(message: M, encode: () => Uint8Array): M & SelfEncoding {
  return Object.defineProperty(message, encodeSelf, { value: encode }) as M & SelfEncoding;
}

function guarded<T>(log: Logger, read: () => T): T {
  try {
    return read();
  } catch (err) {
    log.error({ err: (err as Error).message }, "stored features do not parse");
    throw new ConnectError(`stored features do not parse: ${(err as Error).message}`, Code.Internal);
  }
}

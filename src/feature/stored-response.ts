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
import { encodeSelf, type SelfEncoding } from "../platform/rpc/encode-self.js";


// The fields are accessors on the prototype, and the messages classes: that is as fast to
// encode as a plain object (an object literal with accessors is not), and a spread copy,
// which holds none of the fields, takes no encoder along either. Once its fields have been
// read, a message may have been changed: from then on it encodes itself with toBinary.
// Bytes that do not parse fail the call with INTERNAL, and are logged here: on the Connect
// side the message is read after the handler returned, where no RPC log sees the error.

export class StoredGetFeaturesResponse implements GetFeaturesResponse, SelfEncoding {
  readonly $typeName = "openloop.feature.v1.GetFeaturesResponse";
  readonly #stored: Uint8Array;
  readonly #only: ReadonlySet<string> | undefined;
  readonly #log: Logger;
  #features: ProtoFeatures | undefined;

  constructor(stored: Uint8Array, only: ReadonlySet<string> | undefined, log: Logger) {
    this.#stored = stored;
    this.#only = only;
    this.#log = log;
  }

  get features(): ProtoFeatures {
    return (this.#features ??= guarded(this.#log, () => decodeStoredFeatures(this.#stored, this.#only)));
  }

  set features(value: ProtoFeatures) {
    this.#features = value;
  }

  [encodeSelf](): Uint8Array {
    if (this.#features !== undefined) return toBinary(GetFeaturesResponseSchema, this);
    return guarded(this.#log, () => getFeaturesResponseBytes(this.#stored, this.#only));
  }
}

export class StoredBatchGetFeaturesResponse implements BatchGetFeaturesResponse, SelfEncoding {
  readonly $typeName = "openloop.feature.v1.BatchGetFeaturesResponse";
  readonly #entityKeys: readonly string[];
  readonly #found: readonly (Uint8Array | undefined)[];
  readonly #only: ReadonlySet<string> | undefined;
  readonly #log: Logger;
  #entities: EntityFeatures[] | undefined;

  /** `found[i]` holds the stored bytes of `entityKeys[i]`, undefined when nothing is stored. */
  constructor(entityKeys: readonly string[], found: readonly (Uint8Array | undefined)[], only: ReadonlySet<string> | undefined, log: Logger) {
    this.#entityKeys = entityKeys;
    this.#found = found;
    this.#only = only;
    this.#log = log;
  }

  get entities(): EntityFeatures[] {
    return (this.#entities ??= guarded(this.#log, () =>
      this.#entityKeys.map((entityKey, i): EntityFeatures => {
        const stored = this.#found[i];
        // Built as a complete message: create() would walk the descriptor once per entity.
        return { $typeName: "openloop.feature.v1.EntityFeatures", entityKey, found: stored !== undefined, features: stored === undefined ? {} : decodeStoredFeatures(stored, this.#only) };
      }),
    ));
  }

  set entities(value: EntityFeatures[]) {
    this.#entities = value;
  }

  [encodeSelf](): Uint8Array {
    if (this.#entities !== undefined) return toBinary(BatchGetFeaturesResponseSchema, this);
    return guarded(this.#log, () => batchGetFeaturesResponseBytes(this.#entityKeys, this.#found, this.#only));
  }
}

function guarded<T>(log: Logger, read: () => T): T {
  try {
    return read();
  } catch (err) {
    log.error({ err: (err as Error).message }, "stored features do not parse");
    throw new ConnectError(`stored features do not parse: ${(err as Error).message}`, Code.Internal);
  }
}

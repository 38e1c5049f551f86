// The feature store seen by the service: one entity's features per key, with a TTL. Values
// are StoredFeatures in protobuf binary (encodeStored in proto.ts), kept and returned as
// bytes: a read hands them to the response as they are, and no store decodes them.

/** A feature set as the store sees it: its name, and the generation that keeps a recreated set from seeing old values. */
export interface SetRef {
  readonly name: string;
  readonly generation: string;
}

export interface FeatureStore {
  /** Replaces what is stored for the entity. ttlMs 0 means no expiry. */
  put(set: SetRef, entityKey: string, stored: Uint8Array, ttlMs: number): Promise<void>;
  /** The entity's stored features, or undefined when nothing is stored or it expired. */
  get(set: SetRef, entityKey: string): Promise<Uint8Array | undefined>;
  /** Many entities of one set in one round trip, in the order of `entityKeys`. */
  getMany(set: SetRef, entityKeys: readonly string[]): Promise<(Uint8Array | undefined)[]>;
  /** Deletes entities; returns how many had (unexpired) values. */
  delete(set: SetRef, entityKeys: readonly string[]): Promise<number>;
  /** Forgets every value of a set (after the set itself was deleted). */
  dropSet(set: SetRef): Promise<void>;
  close(): Promise<void>;
}

/** The store cannot answer now (Redis down or too slow); callers may retry. */
export class StoreUnavailableError extends Error {}

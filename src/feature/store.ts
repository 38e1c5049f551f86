// The feature store seen by the service: one entity's features per key, with a TTL.
import type { Features } from "./value.js";

/** A feature set as the store sees it: its name, and the generation that keeps a recreated set from seeing old values. */
export interface SetRef {
  readonly name: string;
  readonly generation: string;
}

export interface FeatureStore {
  /** Replaces what is stored for the entity. ttlMs 0 means no expiry. */
  put(set: SetRef, entityKey: string, features: Features, ttlMs: number): Promise<void>;
  /** The entity's features, or undefined when nothing is stored or it expired. */
  get(set: SetRef, entityKey: string): Promise<Features | undefined>;
  /** Many entities of one set in one round trip, in the order of `entityKeys`. */
  getMany(set: SetRef, entityKeys: readonly string[]): Promise<(Features | undefined)[]>;
  /** Deletes entities; returns how many had (unexpired) values. */
  delete(set: SetRef, entityKeys: readonly string[]): Promise<number>;
  /** Forgets every value of a set (after the set itself was deleted). */
  dropSet(set: SetRef): Promise<void>;
  close(): Promise<void>;
}

/** The store cannot answer now (Redis down or too slow); callers may retry. */
export class StoreUnavailableError extends Error {}

// The learner's durable sample buffer: what every backend (fs-buffer.ts, redis-buffer.ts) provides.
import type { BatchTag, SampleBlock } from "./samples.js";

/** Samples handed to one training, and what `commit` needs to drop exactly them. */
export interface TakenSamples {
  readonly blocks: readonly SampleBlock[];
  readonly count: number;
  /** Backend-specific position up to which the samples were taken. */
  readonly through: number;
  /**
   * The durable position after the last taken sample, recorded in the version's lineage
   * so that a version registered just before a crash can be adopted on restart instead
   * of trained again; "" when the backend has none.
   */
  readonly position: string;
}

/** What the learner persists with each commit, so serving and buffer change together. */
export interface LearnerState {
  /** The version serving now ("" before version 1 is registered). */
  version: string;
  /** Samples trained into registered versions over the model's life. */
  samplesTrained: number;
}

export interface SampleBuffer {
  /**
   * Appends one encoded record; resolves only once it is durable (the caller acknowledges
   * after). With a batch tag (also encoded in the record), resolves false without
   * appending when the buffer already holds or remembers that batch id (for the
   * configured batch id TTL), atomically with the append: the id is remembered exactly
   * when the samples are durable.
   */
  append(record: Buffer, count: number, batch?: BatchTag): Promise<boolean>;
  /** Whether append would skip batch `id` now: the buffer holds or remembers it. */
  hasBatch(id: string): Promise<boolean>;
  /** Samples buffered and not yet committed as trained. */
  buffered(): Promise<number>;
  /** Everything buffered so far (up to `maxSamples`, at least one record), or undefined when empty. */
  take(maxSamples: number): Promise<TakenSamples | undefined>;
  /**
   * Drops the taken samples and records the new learner state, atomically.
   * Returns false when this process lost the right to commit (a shared lock expired).
   */
  commit(taken: TakenSamples, state: LearnerState, artifact: Uint8Array, lockToken?: string): Promise<boolean>;
  /**
   * Commits the samples up to a durable `position` (from TakenSamples.position of an
   * earlier life of the process); false when the position is not in the buffer.
   */
  commitPosition(position: string, state: LearnerState, artifact: Uint8Array, lockToken?: string): Promise<boolean>;
  /** The learner state last committed. */
  state(): Promise<LearnerState>;
  /** Records the state without dropping samples (version 1 at model creation). */
  setState(state: LearnerState, artifact: Uint8Array, lockToken?: string): Promise<boolean>;
  /**
   * A version number for the next registration, when replicas share this buffer (they
   * may not share a registry, so the registry's "next integer" cannot number them);
   * undefined lets the registry assign it.
   */
  reserveVersion(lockToken?: string): Promise<string | undefined>;
  /**
   * The artifact of `version` when the buffer keeps the serving version's artifact for
   * other replicas (Redis); undefined when it does not have it (load it from the registry).
   */
  sharedArtifact(version: string): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
}

// FeatureService over the contract: a thin adapter from messages to the set registry,
// the compiled sets and the feature store.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { invalidArgument } from "./bad-request.js";
import type { FieldViolation } from "./bad-request.js";
import type { CompiledFeatureSet } from "./compile.js";
import { MAX_TTL_MS } from "./definition.js";
import { definitionFromProto, durationToMs, encodeStored, featuresFromProto, featuresToProto } from "./proto.js";
import type { FeatureSetRegistry } from "./set-registry.js";
import { StoredBatchGetFeaturesResponse, StoredGetFeaturesResponse } from "./stored-response.js";
import type { FeatureStore } from "./store.js";
import { StoreUnavailableError } from "./store.js";
import type { Features } from "./value.js";
import { quote } from "../platform/errors.js";

export interface FeatureServiceLimits {
  readonly maxEntityKeyBytes: number;
  readonly maxBatchSize: number;
}

export interface FeatureServiceDeps {
  readonly registry: FeatureSetRegistry;
  readonly store: FeatureStore;
  readonly limits: FeatureServiceLimits;
  readonly log: Logger;
  /** Starts timing a store operation; the returned function records it. */
  readonly storeTimer?: (op: string) => () => void;
  /** Embeds texts for embed transformers (LLMService.Embed), within the calling RPC's deadline. */
  readonly embed?: (model: string, texts: string[], dimensions: number | undefined, ctx: HandlerContext) => Promise<number[][]>;
}

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

export function createFeatureService(deps: FeatureServiceDeps): ServiceImpl<typeof FeatureService> {
  const { registry, store, limits, log } = deps;

  const checkKey = (key: string, field: string, violations: FieldViolation[]) => {
    if (key.length === 0) violations.push({ field, description: `entity key must be 1-${limits.maxEntityKeyBytes} bytes, got an empty one` });
    else if (key.length > limits.maxEntityKeyBytes / 3 && Buffer.byteLength(key) > limits.maxEntityKeyBytes) {
      violations.push({ field, description: `entity key of ${Buffer.byteLength(key)} bytes exceeds the limit max_entity_key_bytes=${limits.maxEntityKeyBytes}` });
    }
  };

  const requireKey = (key: string) => {
    const violations: FieldViolation[] = [];
    checkKey(key, "entity_key", violations);
    if (violations.length > 0) throw invalidArgument("bad entity_key", violations);
  };

  const requireKeys = (keys: readonly string[]) => {
    if (keys.length > limits.maxBatchSize) {
      throw new ConnectError(`${keys.length} entity keys exceed the limit max_batch_size=${limits.maxBatchSize}; split the batch`, Code.InvalidArgument);
    }
    const violations: FieldViolation[] = [];
    for (let i = 0; i < keys.length; i++) checkKey(keys[i], `entity_keys[${i}]`, violations);
    if (violations.length > 0) throw invalidArgument("bad entity_keys", violations);
  };

  const selection = (set: CompiledFeatureSet, names: readonly string[]): ReadonlySet<string> | undefined => {
    if (names.length === 0) return undefined;
    const unknown = names.filter((n) => !set.hasFeature(n));
    if (unknown.length > 0) {
      throw invalidArgument(
        `feature set '${set.name}' does not declare every requested feature`,
        unknown.map((n) => ({ field: "feature_names", description: `no feature named '${quote(n)}'` })),
      );
    }
    return new Set(names);
  };

  /** Runs a store operation under the call's deadline; an unreachable store is UNAVAILABLE. */
  const storeCall = async <T>(op: string, ctx: HandlerContext, run: () => Promise<T>): Promise<T> => {
    const end = deps.storeTimer?.(op);
    try {
      return await abortable(run(), ctx.signal);
    } catch (err) {
      if (err instanceof StoreUnavailableError) throw new ConnectError(err.message, Code.Unavailable);
      if (err instanceof ConnectError) throw err;
      log.error({ err: (err as Error).message, op }, "feature store error");
      throw new ConnectError(`feature store ${op} failed: ${(err as Error).message}`, Code.Internal);
    } finally {
      end?.();
    }
  };

  const processOrCheck = async (set: CompiledFeatureSet, input: Features, process: boolean, ctx: HandlerContext): Promise<Features> => {
    if (process) {
      const embed = deps.embed;
      const result = set.embeds && embed ? await set.processWithEmbeddings(input, (model, texts, dims) => embed(model, texts, dims, ctx)) : set.process(input);
      if (!result.ok) throw invalidArgument(`features do not fit feature set '${set.name}', ${result.violations.length} violation(s)`, result.violations);
      return result.features;
    }
    const violations = set.checkProcessed(input);
    if (violations.length > 0) throw invalidArgument(`features do not fit feature set '${set.name}', ${violations.length} violation(s)`, violations);
    return input;
  };

  return {
    async createFeatureSet(req) {
      if (req.featureSet === undefined) throw new ConnectError("feature_set must be set", Code.InvalidArgument);
      const set = await registry.create(definitionFromProto(req.featureSet));
      log.info({ featureSet: set.ref.name }, "feature set created");
      return { featureSet: set.message };
    },

    async getFeatureSet(req) {
      return { featureSet: (registry.get(req.name) ?? (await registry.lookup(req.name))).message };
    },

    async listFeatureSets(req) {
      if (req.pageSize < 0) throw new ConnectError(`page_size must be >= 0, got ${req.pageSize}`, Code.InvalidArgument);
      const size = Math.min(req.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      let after = "";
      if (req.pageToken !== "") {
        after = Buffer.from(req.pageToken, "base64url").toString("utf8");
        if (!after.startsWith("n:")) throw new ConnectError("page_token is not one this server issued; pass next_page_token unchanged", Code.InvalidArgument);
        after = after.slice(2);
      }
      const all = registry.list().filter((s) => s.ref.name > after);
      const page = all.slice(0, size);
      const more = all.length > size;
      return {
        featureSets: page.map((s) => s.message),
        nextPageToken: more ? Buffer.from(`n:${page[page.length - 1].ref.name}`).toString("base64url") : "",
      };
    },

    async deleteFeatureSet(req) {
      const set = await registry.delete(req.name);
      log.info({ featureSet: set.ref.name }, "feature set deleted");
      // Values of the old generation are invisible from now on; removing them can take a while.
      store.dropSet(set.ref).catch((err: Error) => log.warn({ featureSet: set.ref.name, err: err.message }, "stored values of a deleted feature set not yet removed; they expire with their TTL"));
      return {};
    },

    async processFeatures(req, ctx) {
      const set = (registry.get(req.featureSet) ?? (await registry.lookup(req.featureSet))).compiled;
      return { features: featuresToProto(await processOrCheck(set, featuresFromProto(req.features), true, ctx)) };
    },

    async putFeatures(req, ctx) {
      const { compiled, ref } = registry.get(req.featureSet) ?? (await registry.lookup(req.featureSet));
      requireKey(req.entityKey);
      let ttlMs = compiled.defaultTtlMs;
      if (req.ttl !== undefined) {
        ttlMs = durationToMs(req.ttl);
        if (ttlMs < 0 || req.ttl.nanos < 0 || ttlMs > MAX_TTL_MS) throw new ConnectError("ttl must be zero (no expiry) or positive, up to 100 years", Code.InvalidArgument);
        if (ttlMs === 0 && (req.ttl.seconds !== 0n || req.ttl.nanos !== 0)) ttlMs = 1;
      }
      const features = await processOrCheck(compiled, featuresFromProto(req.features), req.process, ctx);
      const stored = encodeStored(features);
      await storeCall("put", ctx, () => store.put(ref, req.entityKey, stored, ttlMs));
      return {
        expireTime: ttlMs > 0 ? timestampFromMs(Date.now() + ttlMs) : undefined,
        features: featuresToProto(features),
      };
    },

    async getFeatures(req, ctx) {
      const { compiled, ref } = registry.get(req.featureSet) ?? (await registry.lookup(req.featureSet));
      requireKey(req.entityKey);
      const only = selection(compiled, req.featureNames);
      const stored = await storeCall("get", ctx, () => store.get(ref, req.entityKey));
      if (stored === undefined) {
        throw new ConnectError(`no features stored for entity '${quote(req.entityKey)}' in feature set '${ref.name}' (never put, deleted, or expired)`, Code.NotFound);
      }
      return new StoredGetFeaturesResponse(stored, only, log);
    },

    async batchGetFeatures(req, ctx) {
      const { compiled, ref } = registry.get(req.featureSet) ?? (await registry.lookup(req.featureSet));
      requireKeys(req.entityKeys);
      const only = selection(compiled, req.featureNames);
      const found = await storeCall("get_many", ctx, () => store.getMany(ref, req.entityKeys));
      return new StoredBatchGetFeaturesResponse(req.entityKeys, found, only, log);
    },

    async deleteFeatures(req, ctx) {
      const { ref } = registry.get(req.featureSet) ?? (await registry.lookup(req.featureSet));
      requireKeys(req.entityKeys);
      const deletedCount = await storeCall("delete", ctx, () => store.delete(ref, req.entityKeys));
      return { deletedCount };
    },
  };
}

/** Rejects as soon as the call is cancelled or its deadline passes, even if the store has not answered. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(ConnectError.from(signal.reason, Code.Canceled));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(ConnectError.from(signal.reason, Code.Canceled));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

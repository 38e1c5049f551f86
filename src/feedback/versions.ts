// Model versions in RegistryService, reached through its public contract
// (RegisterModelVersionUnary, GetModelVersion, DownloadArtifact, ListModelVersions,
// DeleteModelVersion).
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";

export const PRODUCER = "openloop-online-learner";
export const MODEL_TYPE = "linear";
export const ARTIFACT_NAME = "model.olin";

export interface NewVersion {
  model: string;
  /** The version to create; undefined lets the registry assign the next integer. */
  version?: string;
  artifact: Uint8Array;
  parentVersion: string;
  samplesUsed: number;
  /** Lineage details: metrics before and after training and the like. */
  details: Record<string, string>;
  description: string;
}

export interface VersionLineage {
  version: string;
  parentVersion: string;
  producer: string;
  samplesUsed: number;
  details: Record<string, string>;
}

/** A registered version as pruning sees it. */
export interface ListedVersion {
  version: string;
  producer: string;
  aliases: string[];
}

export interface DescribedVersion {
  version: string;
  /** The registry's model type: MODEL_TYPE for the learner's versions. */
  type: string;
  producer: string;
}

export interface StoredVersion {
  version: string;
  artifact: Uint8Array;
}

/** Where versions are registered and loaded from. */
export interface VersionStore {
  /** Registers a version (the registry assigns the next integer); returns it. */
  register(v: NewVersion, timeoutMs?: number): Promise<string>;
  /** Loads a version by exact version or alias. */
  load(model: string, selector: { version: string } | { alias: string }, timeoutMs?: number): Promise<StoredVersion>;
  /** The newest version of a model and its lineage; undefined when it has none. */
  latest(model: string, timeoutMs?: number): Promise<VersionLineage | undefined>;
  /** Resolves a version or alias to a version, its type and producer, without downloading. */
  describe(model: string, selector: { version: string } | { alias: string }, timeoutMs?: number): Promise<DescribedVersion>;
  /** Every version of a model, newest first. */
  list(model: string, timeoutMs?: number): Promise<ListedVersion[]>;
  /** Deletes a version and its artifacts; false when an alias points at it (it stays). */
  delete(model: string, version: string, timeoutMs?: number): Promise<boolean>;
}

export class RegistryVersionStore implements VersionStore {
  private readonly client: Client<typeof RegistryService>;

  constructor(transport: Transport) {
    this.client = createClient(RegistryService, transport);
  }

  async register(v: NewVersion, timeoutMs?: number): Promise<string> {
    const res = await this.client.registerModelVersionUnary(
      {
        header: {
          name: v.model,
          version: v.version ?? "",
          type: MODEL_TYPE,
          description: v.description,
          metadata: { "openloop.feedback.format": "openloop-linear/1" },
          lineage: { parentVersion: v.parentVersion, producer: PRODUCER, samplesUsed: BigInt(v.samplesUsed), details: v.details },
        },
        artifacts: [{ name: ARTIFACT_NAME, data: v.artifact }],
      },
      { timeoutMs },
    );
    const version = res.modelVersion?.version;
    if (!version) throw new Error("the registry answered without a version");
    return version;
  }

  async latest(model: string, timeoutMs?: number): Promise<VersionLineage | undefined> {
    try {
      const v = (await this.client.getModelVersion({ name: model }, { timeoutMs })).modelVersion!;
      const l = v.lineage;
      return { version: v.version, parentVersion: l?.parentVersion ?? "", producer: l?.producer ?? "", samplesUsed: Number(l?.samplesUsed ?? 0), details: l?.details ?? {} };
    } catch (err) {
      if (ConnectError.from(err).code === Code.NotFound) return undefined;
      throw err;
    }
  }

  async describe(model: string, selector: { version: string } | { alias: string }, timeoutMs?: number): Promise<DescribedVersion> {
    const v = (await this.client.getModelVersion({ name: model, selector: toSelector(selector) }, { timeoutMs })).modelVersion!;
    return { version: v.version, type: v.type, producer: v.lineage?.producer ?? "" };
  }

  async list(model: string, timeoutMs?: number): Promise<ListedVersion[]> {
    const out: ListedVersion[] = [];
    let pageToken = "";
    do {
      const res = await this.client.listModelVersions({ name: model, pageSize: 1000, pageToken }, { timeoutMs });
      for (const v of res.modelVersions) out.push({ version: v.version, producer: v.lineage?.producer ?? "", aliases: v.aliases });
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    return out;
  }

  async delete(model: string, version: string, timeoutMs?: number): Promise<boolean> {
    try {
      await this.client.deleteModelVersion({ name: model, version, force: false }, { timeoutMs });
      return true;
    } catch (err) {
      const code = ConnectError.from(err).code;
      if (code === Code.FailedPrecondition || code === Code.NotFound) return false;
      throw err;
    }
  }

  async load(model: string, selector: { version: string } | { alias: string }, timeoutMs?: number): Promise<StoredVersion> {
    const chunks: Uint8Array[] = [];
    let version = "";
    for await (const part of this.client.downloadArtifact({ name: model, selector: toSelector(selector), artifactName: ARTIFACT_NAME }, { timeoutMs })) {
      if (part.part.case === "header") version = part.part.value.version;
      else if (part.part.case === "data") chunks.push(part.part.value);
    }
    return { version, artifact: Buffer.concat(chunks) };
  }
}

function toSelector(s: { version: string } | { alias: string }) {
  return "version" in s ? { case: "version" as const, value: s.version } : { case: "alias" as const, value: s.alias };
}

/** Orders versions: integers numerically, semantic versions part by part; <0 when a is older. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return i === 3 ? 1 : -1; // a release is newer than its pre-release
    if (y === undefined) return i === 3 ? -1 : 1;
    const nx = /^\d+$/.test(x) ? BigInt(x) : undefined;
    const ny = /^\d+$/.test(y) ? BigInt(y) : undefined;
    if (nx !== undefined && ny !== undefined) {
      if (nx !== ny) return nx < ny ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

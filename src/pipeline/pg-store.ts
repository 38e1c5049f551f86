// Shared pipeline storage in PostgreSQL: revisions are rows keyed by (name, revision), so of two
// replicas appending the same revision number, the database lets exactly one win; creates check
// pipeline.maxPipelines in the same transaction, so the limit holds across replicas.
import type { ChangeListener } from "../platform/postgres/changes.js";
import { countLimitReached } from "../platform/postgres/count-limit.js";
import type { PgDatabase } from "../platform/postgres/database.js";
import { isUniqueViolation } from "../platform/postgres/errors.js";
import type { AppendResult, PipelineStore } from "./store.js";
import type { PipelineRevision, PipelineSpec } from "./types.js";

const TOPIC = "pipeline";
/** Arbitrary constant naming the lock that serialises pipeline creates (beside the migration and sweep locks). */
const PIPELINE_CREATE_LOCK = 4_210_701_516;

interface Row {
  name: string;
  revision: number;
  description: string;
  spec: PipelineSpec;
  create_time: Date;
}

export class PgPipelineStore implements PipelineStore {
  constructor(
    private readonly db: PgDatabase,
    private readonly changes: ChangeListener,
  ) {}

  async loadAll(): Promise<Map<string, PipelineRevision[]>> {
    const { rows } = await this.db.query<Row>("SELECT name, revision, description, spec, create_time FROM pipeline_revisions ORDER BY name, revision");
    const out = new Map<string, PipelineRevision[]>();
    for (const r of rows) {
      const list = out.get(r.name) ?? out.set(r.name, []).get(r.name)!;
      list.push(toRevision(r));
    }
    return out;
  }

  async load(name: string): Promise<PipelineRevision[]> {
    const { rows } = await this.db.query<Row>("SELECT name, revision, description, spec, create_time FROM pipeline_revisions WHERE name = $1 ORDER BY revision", [name]);
    return rows.map(toRevision);
  }

  async append(rev: PipelineRevision, keep: number, maxPipelines?: number): Promise<AppendResult> {
    try {
      return await this.db.transaction(async (tx) => {
        const countSql = "SELECT count(DISTINCT name)::int AS n, count(*) FILTER (WHERE name = $1)::int AS mine FROM pipeline_revisions";
        if (maxPipelines !== undefined && (await countLimitReached(tx, PIPELINE_CREATE_LOCK, countSql, rev.name, maxPipelines))) return "full";
        await tx.query("INSERT INTO pipeline_revisions (name, revision, description, spec, create_time) VALUES ($1, $2, $3, $4, $5)", [
          rev.name,
          rev.revision,
          rev.description,
          JSON.stringify(rev.spec),
          rev.createTime,
        ]);
        await tx.query("DELETE FROM pipeline_revisions WHERE name = $1 AND revision <= $2", [rev.name, rev.revision - keep]);
        await this.changes.notify(tx, TOPIC, rev.name);
        return "stored";
      });
    } catch (err) {
      if (isUniqueViolation(err)) return "taken";
      throw err;
    }
  }

  async deletePipeline(name: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rowCount } = await tx.query("DELETE FROM pipeline_revisions WHERE name = $1", [name]);
      if (rowCount) await this.changes.notify(tx, TOPIC, name);
      return Boolean(rowCount);
    });
  }

  watch(onChange: (name: string | undefined) => void): () => void {
    return this.changes.subscribe(TOPIC, onChange);
  }
}

function toRevision(r: Row): PipelineRevision {
  return { name: r.name, revision: r.revision, description: r.description, spec: r.spec, createTime: new Date(r.create_time) };
}

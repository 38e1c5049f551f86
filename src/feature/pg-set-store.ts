// Feature-set definitions shared by every replica, in PostgreSQL: a create is one conditional
// insert, so of two replicas creating the same name at once exactly one wins, and it checks
// feature.limits.maxFeatureSets in the same transaction, so the limit holds across replicas.
import type { JsonValue } from "@bufbuild/protobuf";
import type { ChangeListener } from "../platform/postgres/changes.js";
import { countLimitReached } from "../platform/postgres/count-limit.js";
import type { PgDatabase } from "../platform/postgres/database.js";
import type { CreateResult, FeatureSetStore, StoredEntry, StoredSet } from "./set-store.js";

const TOPIC = "feature_set";
/** Arbitrary constant naming the lock that serialises feature-set creates (beside the migration and sweep locks). */
const FEATURE_SET_CREATE_LOCK = 4_210_701_517;

interface Row {
  name: string;
  generation: string;
  create_time: Date;
  definition: JsonValue;
}

export class PgFeatureSetStore implements FeatureSetStore {
  constructor(
    private readonly db: PgDatabase,
    private readonly changes: ChangeListener,
  ) {}

  async loadAll(): Promise<StoredEntry[]> {
    const { rows } = await this.db.query<Row>("SELECT name, generation, create_time, definition FROM feature_sets ORDER BY name");
    return rows.map((r) => ({ name: r.name, where: `feature_sets row '${r.name}'`, set: toSet(r) }));
  }

  async load(name: string): Promise<StoredSet | undefined> {
    const { rows } = await this.db.query<Row>("SELECT name, generation, create_time, definition FROM feature_sets WHERE name = $1", [name]);
    return rows[0] ? toSet(rows[0]) : undefined;
  }

  async create(set: StoredSet, maxSets?: number): Promise<CreateResult> {
    return this.db.transaction(async (tx) => {
      const countSql = "SELECT count(*)::int AS n, count(*) FILTER (WHERE name = $1)::int AS mine FROM feature_sets";
      if (maxSets !== undefined && (await countLimitReached(tx, FEATURE_SET_CREATE_LOCK, countSql, set.name, maxSets))) return "full";
      const { rowCount } = await tx.query(
        "INSERT INTO feature_sets (name, generation, create_time, definition) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        [set.name, set.generation, set.createTime, JSON.stringify(set.featureSet)],
      );
      if (rowCount) await this.changes.notify(tx, TOPIC, set.name);
      return rowCount === 1 ? "created" : "taken";
    });
  }

  async put(set: StoredSet): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO feature_sets (name, generation, create_time, definition) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET generation = EXCLUDED.generation, create_time = EXCLUDED.create_time, definition = EXCLUDED.definition`,
        [set.name, set.generation, set.createTime, JSON.stringify(set.featureSet)],
      );
      await this.changes.notify(tx, TOPIC, set.name);
    });
  }

  async delete(name: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rowCount } = await tx.query("DELETE FROM feature_sets WHERE name = $1", [name]);
      if (rowCount) await this.changes.notify(tx, TOPIC, name);
      return Boolean(rowCount);
    });
  }

  watch(onChange: (name: string | undefined) => void): () => void {
    return this.changes.subscribe(TOPIC, onChange);
  }
}

function toSet(r: Row): StoredSet {
  return { name: r.name, generation: r.generation, createTime: new Date(r.create_time), featureSet: r.definition };
}

// Online-model definitions shared by every replica, in PostgreSQL: a create is one conditional
// insert, so of two replicas creating the same name at once exactly one wins.
import type { PgDatabase } from "../platform/postgres/database.js";
import { parseDefinition, type DefinitionStore, type ModelDefinition } from "./definitions.js";

export class PgDefinitionStore implements DefinitionStore {
  constructor(private readonly db: PgDatabase) {}

  async create(def: ModelDefinition): Promise<boolean> {
    const { rowCount } = await this.db.query("INSERT INTO online_models (name, definition) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [def.name, JSON.stringify(def)]);
    return rowCount === 1;
  }

  async get(name: string): Promise<ModelDefinition | undefined> {
    const { rows } = await this.db.query<{ definition: ModelDefinition }>("SELECT definition FROM online_models WHERE name = $1", [name]);
    return rows[0] ? parseDefinition(JSON.stringify(rows[0].definition)) : undefined;
  }

  async list(): Promise<ModelDefinition[]> {
    const { rows } = await this.db.query<{ definition: ModelDefinition }>("SELECT definition FROM online_models ORDER BY name");
    return rows.map((r) => parseDefinition(JSON.stringify(r.definition)));
  }
}

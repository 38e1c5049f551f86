// An exact "at most N" limit on things that replicas create in one PostgreSQL table (feature
// sets, pipelines). Creates take turns on an advisory lock held to the end of the transaction,
// so the count each one reads includes every create committed before it.
import type { Queryable } from "./database.js";

/**
 * Inside a transaction: whether creating `name` would pass `max`. `countSql` takes the name as
 * $1 and returns `n` (how many exist) and `mine` (rows of that name: a name already stored is
 * not a new one, whatever the count).
 */
export async function countLimitReached(tx: Queryable, lock: number, countSql: string, name: string, max: number): Promise<boolean> {
  await tx.query("SELECT pg_advisory_xact_lock($1)", [lock]);
  const { rows } = await tx.query<{ n: number; mine: number }>(countSql, [name]);
  return rows[0]!.mine === 0 && rows[0]!.n >= max;
}

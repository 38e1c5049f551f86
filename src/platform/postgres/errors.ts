// What PostgreSQL errors mean to a caller, kept apart from the client (database.ts) so that
// stores can tell them without loading `pg` where no database is configured.
import { Code, ConnectError } from "@connectrpc/connect";

/** SQLSTATE of a unique-constraint violation: the loser of a race to insert the same key. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown })?.code === "23505";
}

/**
 * Connection failures become UNAVAILABLE (retryable); errors the database reports about a
 * statement (constraint violations and the like) and our own errors pass through unchanged.
 */
export function asUnavailable(err: unknown): unknown {
  if (err instanceof ConnectError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    // SQLSTATE classes 08 (connection), 57 (statement timeout, shutdown), 53300 (too many connections).
    if (!(code.startsWith("08") || code.startsWith("57") || code === "53300")) return err;
  } else if (!(err instanceof Error) || err.constructor !== Error) {
    return err; // our own error classes (RegistryError...) are answers, not outages
  }
  // Plain errors from pg and the socket: refused, reset, timed out, terminated.
  return new ConnectError(`the metadata database (PostgreSQL) is unavailable: ${String((err as Error).message).slice(0, 200)}; retry shortly`, Code.Unavailable);
}

// How failures below the service (stores, the learner) reach clients as gRPC codes.
import { Code, ConnectError } from "@connectrpc/connect";
import { BufferFullError } from "./learner.js";

/** Store failures (Redis down, a full disk) are UNAVAILABLE: the client may retry. */
export async function storeCall<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw storeError(err);
  }
}

/** What a store failure becomes (storeCall's rule, for a hot path that awaits the store itself). */
export function storeError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  return new ConnectError(`the feedback store is unavailable: ${(err as Error).message}`, Code.Unavailable);
}

export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof BufferFullError) return new ConnectError(err.message, Code.ResourceExhausted);
  return new ConnectError(`the learner could not store the samples: ${(err as Error).message}`, Code.Unavailable);
}

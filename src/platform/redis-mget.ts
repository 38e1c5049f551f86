// MGET of many keys that share a prefix, with the command's RESP bytes written straight into
// one Buffer. ioredis would build a string per key, then the command as one more string of
// them all, then encode that string again for the socket: for a 100-key batch that is about
// 37 KB of garbage per read and the largest share of what its scavenges promote
// (BENCHMARKS.md, feature section). Replies are ioredis's as ever (Buffers, null for a missing
// key), and the command goes through the client's sendCommand, so the fail-fast policy and
// the command timeout of redis.ts hold. Cluster clients route by a command's keys, so they
// get a plain MGET.
import type { Cluster, Redis } from "ioredis";
import { ioredis } from "./redis.js";

/** The values of `prefix + key` for each key, in order; null where Redis has none. */
export function mgetBuffers(client: Redis | Cluster, prefix: string, keys: readonly string[]): Promise<(Buffer | null)[]> {
  if (client instanceof ioredis().Cluster) return client.mgetBuffer(...keys.map((k) => prefix + k));
  const Command = ioredis().Command;
  const packed = packMget(prefix, keys);
  const command = new Command("mget", [], { replyEncoding: null });
  // The bytes are the command; its (empty) args are never read once toWritable is replaced.
  command.toWritable = () => packed;
  void client.sendCommand(command);
  return command.promise as Promise<(Buffer | null)[]>;
}

/** `*<n+1>\r\n$4\r\nmget\r\n` then `$<len>\r\n<prefix><key>\r\n` per key. */
export function packMget(prefix: string, keys: readonly string[]): Buffer {
  const head = Buffer.from(prefix);
  const prefixBytes = head.length;
  let size = 16 + 4 + 6; // the array header and the command name, with room for the count's digits
  for (const key of keys) size += 1 + 10 + 2 + prefixBytes + key.length * 3 + 2;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  out[pos++] = 0x2a; // '*'
  pos = writeDecimal(out, pos, keys.length + 1);
  pos += out.write("\r\n$4\r\nmget\r\n", pos, "latin1");
  for (const key of keys) {
    const keyBytes = key.length === 0 ? 0 : Buffer.byteLength(key);
    out[pos++] = 0x24; // '$'
    pos = writeDecimal(out, pos, prefixBytes + keyBytes);
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
    pos += head.copy(out, pos);
    if (keyBytes > 0) pos += out.write(key, pos, keyBytes, "utf8");
    out[pos++] = 0x0d;
    out[pos++] = 0x0a;
  }
  return out.subarray(0, pos);
}

function writeDecimal(out: Buffer, pos: number, n: number): number {
  if (n >= 10) pos = writeDecimal(out, pos, Math.floor(n / 10));
  out[pos] = 0x30 + (n % 10);
  return pos + 1;
}

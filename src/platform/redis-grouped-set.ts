// Group commit of `SET key value PX ttl NX`: the sets asked for in one turn of the event loop go
// to Redis as ONE command (EVALSHA of a script that sets each key), sent at setImmediate, and each
// caller's promise settles with that command's reply. A Redis command costs the caller a socket
// write (a syscall), an ioredis Command with its promise and timer, and a reply to parse: paid
// once per group instead of once per set, which is most of what recording a prediction in Redis
// cost Predict (BENCHMARKS.md, "Shared storage").
//
// The client's fail-fast policy applies to the group's command as to any other (src/platform/redis.ts):
// it is sent as soon as the turn ends, never queued behind another group, and fails after
// commandTimeoutMs, failing every set in it.
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { ioredis } from "./redis.js";

// Returns one character per key: "1" set, "0" the key existed.
const SCRIPT = `
local ttl = ARGV[1]
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ttl, 'NX') and '1' or '0'
end
return table.concat(out)
`;
const SHA = createHash("sha1").update(SCRIPT).digest("hex");
const ONE = "1".charCodeAt(0);

/** A bound on the keys of one script run: Redis runs a script alone, so one group must stay short. */
const MAX_GROUP = 512;

class Group {
  readonly keys: string[] = [];
  readonly values: Buffer[] = [];
  readonly done: Promise<string>;
  resolve!: (reply: string) => void;
  reject!: (err: Error) => void;

  constructor() {
    this.done = new Promise<string>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

export class GroupedSetNx {
  private readonly ttl: string;
  private open: Group | undefined;
  private full: Group[] = [];
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    ttlMs: number,
  ) {
    this.ttl = String(ttlMs);
  }

  /** `SET key value PX ttl NX` in this turn's group: true when set, false when the key existed. */
  async set(key: string, value: Buffer): Promise<boolean> {
    const g = this.group();
    const i = g.keys.push(key) - 1;
    g.values.push(value);
    return (await g.done).charCodeAt(i) === ONE;
  }

  /**
   * The same for a key no one else holds (a fresh random id), without a promise of its own:
   * resolves once the group is written (and acknowledged).
   */
  setUnique(key: string, value: Buffer): Promise<unknown> {
    const g = this.group();
    g.keys.push(key);
    g.values.push(value);
    return g.done;
  }

  private group(): Group {
    let g = this.open;
    if (g && g.keys.length < MAX_GROUP) return g;
    if (g) this.full.push(g);
    g = this.open = new Group();
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    return g;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const groups = this.full;
    if (this.open) groups.push(this.open);
    this.open = undefined;
    this.full = [];
    for (const g of groups) this.send(g);
  };

  private send(g: Group): void {
    const run = (name: "EVALSHA" | "EVAL", first: string) =>
      this.redis.sendCommand(new (ioredis().Command)(name, [first, g.keys.length, ...g.keys, this.ttl, ...g.values], { replyEncoding: "utf8" })) as Promise<string>;
    run("EVALSHA", SHA)
      .catch((err: Error) => {
        // Redis forgets scripts when it restarts: send the script itself, which caches it again.
        if (err.message.startsWith("NOSCRIPT")) return run("EVAL", SCRIPT);
        throw err;
      })
      .then(g.resolve, g.reject);
  }
}

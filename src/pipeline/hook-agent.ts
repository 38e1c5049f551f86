// The HTTP agent of webhook deliveries: every connection checked against the hook address
// policy (hook-network.ts) on the address actually connected. Loaded with the first delivery,
// so a server without webhooks does not load undici (about 5 MB of heap).
import dns, { type LookupAddress, type LookupOptions } from "node:dns";
import { isIP } from "node:net";
import { Agent, buildConnector } from "undici";
import type { HookAddressPolicy } from "./hook-network.js";

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * An undici Agent whose every connection is checked: an IP literal before connecting, a host
 * name through a DNS lookup that refuses when any resolved address is denied.
 */
export function guardedAgent(policy: HookAddressPolicy, connectTimeoutMs: number): Agent {
  const lookup = (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      try {
        if (!policy.hostAllowed(hostname)) for (const a of addresses) policy.check(hostname, a.address);
      } catch (denied) {
        return callback(denied as NodeJS.ErrnoException, []);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
  const connect = buildConnector({ timeout: connectTimeoutMs, lookup } as buildConnector.BuildOptions);
  return new Agent({
    connect: (opts, callback) => {
      const host = opts.hostname.replace(/^\[(.*)\]$/, "$1");
      if (isIP(host) && !policy.hostAllowed(host)) {
        try {
          policy.check(host, host);
        } catch (denied) {
          return callback(denied as Error, null);
        }
      }
      return connect(opts, callback);
    },
  });
}

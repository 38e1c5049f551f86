// Which addresses webhook deliveries may connect to. A pipeline author chooses hook URLs, so
// without this a hook could reach the server's own network: loopback services, cloud metadata
// (169.254.169.254), private ranges. The check runs on the address actually connected, after
// DNS resolution, inside the HTTP agent, so a name that resolves differently later (DNS
// rebinding) is checked again on every connection (hook-agent.ts).
import { BlockList, isIP } from "node:net";

export interface HookNetworkPolicy {
  /** Host names (as written in hook URLs, case-insensitive) whose addresses are not checked. */
  readonly allowHosts: readonly string[];
  /** CIDR ranges (e.g. 10.1.0.0/16, fd00::/8) hooks may reach even though they are denied by default. */
  readonly allowCidrs: readonly string[];
}

/** A delivery refused because its address is denied: retrying cannot help. */
export class HookAddressDeniedError extends Error {
  override name = "HookAddressDeniedError";
}

/** IPv4 ranges denied by default, with why, as [network, prefix, kind]. */
const DENIED_V4: readonly [string, number, string][] = [
  ["0.0.0.0", 8, "'this network'"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "shared (carrier-grade NAT)"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local (cloud metadata)"],
  ["172.16.0.0", 12, "private"],
  ["192.168.0.0", 16, "private"],
];
const DENIED_V6: readonly [string, number, string][] = [
  ["::", 96, "loopback, unspecified or IPv4-compatible"],
  ["fe80::", 10, "link-local"],
  ["fc00::", 7, "unique-local"],
];

/** Parses "a.b.c.d/n" or "x::/n"; throws naming the bad entry. */
export function parseCidr(cidr: string): { network: string; prefix: number; family: "ipv4" | "ipv6" } {
  const [network, bits, extra] = cidr.trim().split("/");
  const family = isIP(network ?? "");
  const prefix = Number(bits);
  const max = family === 4 ? 32 : 128;
  if (!family || extra !== undefined || bits === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new Error(`'${cidr}' is not a CIDR range like 10.0.0.0/8 or fd00::/8`);
  }
  return { network: network!, prefix, family: family === 4 ? "ipv4" : "ipv6" };
}

/** Adds an IPv4 range and its IPv4-mapped IPv6 form (::ffff:a.b.c.d). */
function addV4(list: BlockList, network: string, prefix: number): void {
  list.addSubnet(network, prefix, "ipv4");
  list.addSubnet(`::ffff:${network}`, 96 + prefix, "ipv6");
}

export class HookAddressPolicy {
  private readonly allowedHosts: ReadonlySet<string>;
  private readonly allowed = new BlockList();

  constructor(policy: HookNetworkPolicy) {
    this.allowedHosts = new Set(policy.allowHosts.map((h) => h.toLowerCase()));
    for (const cidr of policy.allowCidrs) {
      const { network, prefix, family } = parseCidr(cidr);
      if (family === "ipv4") addV4(this.allowed, network, prefix);
      else this.allowed.addSubnet(network, prefix, "ipv6");
    }
  }

  hostAllowed(host: string): boolean {
    return this.allowedHosts.has(host.toLowerCase());
  }

  /** Why `address` may not be connected to, or undefined when it may. */
  denial(address: string): string | undefined {
    const family = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (this.allowed.check(address, family)) return undefined;
    for (const [kind, list] of DENIED_KINDS) if (list.check(address, family)) return kind;
    return undefined;
  }

  /** Throws HookAddressDeniedError when `address`, reached through `host`, is denied. */
  check(host: string, address: string): void {
    const kind = this.denial(address);
    if (kind === undefined) return;
    const via = host === address ? `${address} is` : `'${host}' resolves to ${address}, which is`;
    throw new HookAddressDeniedError(
      `${via} a ${kind} address; hooks may not reach it unless pipeline.hooks.allowHosts or pipeline.hooks.allowCidrs allows it`,
    );
  }
}

/** One BlockList per kind, so the refusal can say which kind matched. */
const DENIED_KINDS: readonly [string, BlockList][] = (() => {
  const byKind = new Map<string, BlockList>();
  const listOf = (kind: string) => byKind.get(kind) ?? byKind.set(kind, new BlockList()).get(kind)!;
  for (const [network, prefix, kind] of DENIED_V4) addV4(listOf(kind), network, prefix);
  for (const [network, prefix, kind] of DENIED_V6) listOf(kind).addSubnet(network, prefix, "ipv6");
  return [...byKind];
})();

// Webhooks cannot be turned against the server's own network: loopback, link-local, private
// and unique-local addresses are refused after DNS resolution unless allowed, and redirects
// are not followed.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { HookAddressPolicy } from "../../src/pipeline/hook-network.js";
import { WebhookReceiver } from "../support/pipeline-webhook.js";
import { MODEL, spec, startPipelineServer, uniqueName, type PipelineServer } from "./helpers.js";

const FAST = { initialBackoffMs: 10, maxBackoffMs: 40, timeoutMs: 2_000 };

let receiver: WebhookReceiver;
let other: WebhookReceiver;
const servers: PipelineServer[] = [];
beforeAll(async () => {
  receiver = await WebhookReceiver.start();
  other = await WebhookReceiver.start();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  receiver.received.length = 0;
  receiver.replies.length = 0;
  other.received.length = 0;
});
afterAll(async () => {
  await receiver?.close();
  await other?.close();
});

async function server(hooks: Record<string, unknown> = {}): Promise<PipelineServer> {
  const s = await startPipelineServer({ pipeline: { hooks: { ...FAST, ...hooks } } });
  servers.push(s);
  return s;
}

/** Runs a pipeline whose required pre-execute hook posts to `url`; the run's error, or undefined. */
async function runWithHook(s: PipelineServer, url: string): Promise<ConnectError | undefined> {
  const name = uniqueName("guarded");
  await s.client.createPipeline({
    name,
    spec: spec({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }], hooks: [{ url, events: ["HOOK_EVENT_PRE_EXECUTE"], required: true, maxAttempts: 3 }] }),
  });
  s.upstream.enqueue({ kind: "answer", deltas: ["ok"] });
  try {
    await s.client.executePipeline({ name, inputs: { prompt: "q" } });
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
}

describe("webhook network rules", () => {
  it("refuses a loopback hook by default: the run fails with FAILED_PRECONDITION after one try, and nothing is posted", async () => {
    const s = await server();
    const err = await runWithHook(s, receiver.url());
    expect(err?.code).toBe(Code.FailedPrecondition);
    expect(err?.rawMessage).toMatch(
      /^required pre_execute hook http:\/\/127\.0\.0\.1:\d+\/hook failed, so the run did not start: .* is refused: 127\.0\.0\.1 is a loopback address; hooks may not reach it unless pipeline\.hooks\.allowHosts or pipeline\.hooks\.allowCidrs allows it \(after 1 try\)$/,
    );
    expect(receiver.received).toHaveLength(0);
    expect(s.upstream.requests.filter((r) => r.method === "POST")).toHaveLength(0);
  });

  it("delivers to loopback when allowCidrs has 127.0.0.0/8", async () => {
    const s = await server({ allowCidrs: ["127.0.0.0/8"] });
    expect(await runWithHook(s, receiver.url())).toBeUndefined();
    expect(receiver.received).toHaveLength(1);
  });

  it("refuses a host name that resolves to loopback (localhost), and allowHosts opens it", async () => {
    const url = receiver.url().replace("127.0.0.1", "localhost");
    const denied = await runWithHook(await server(), url);
    expect(denied?.code).toBe(Code.FailedPrecondition);
    expect(denied?.rawMessage).toMatch(/'localhost' resolves to (127\.0\.0\.1|::1), which is a loopback/);
    expect(receiver.received).toHaveLength(0);

    expect(await runWithHook(await server({ allowHosts: ["LocalHost"] }), url)).toBeUndefined();
    expect(receiver.received).toHaveLength(1);
  });

  it("refuses IPv4-mapped IPv6 and link-local literals without connecting", async () => {
    const s = await server();
    const mapped = await runWithHook(s, receiver.url().replace("127.0.0.1", "[::ffff:127.0.0.1]"));
    expect(mapped?.code).toBe(Code.FailedPrecondition);
    expect(mapped?.rawMessage).toContain("loopback address");
    const metadata = await runWithHook(s, "http://169.254.169.254/latest/meta-data/");
    expect(metadata?.code).toBe(Code.FailedPrecondition);
    expect(metadata?.rawMessage).toContain("link-local (cloud metadata) address");
    expect(receiver.received).toHaveLength(0);
  });

  it("does not follow a redirect, even to an allowed address", async () => {
    const s = await server({ allowCidrs: ["127.0.0.0/8"] });
    receiver.replies.push({ status: 302, location: other.url("/elsewhere") });
    const err = await runWithHook(s, receiver.url());
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.rawMessage).toMatch(/answered HTTP 302 \(after 1 try\)$/);
    expect(receiver.received).toHaveLength(1);
    expect(other.received).toHaveLength(0);
  });

  it("classifies addresses: denied ranges, their IPv4-mapped forms, and allowed CIDRs", () => {
    const policy = new HookAddressPolicy({ allowHosts: [], allowCidrs: ["10.1.0.0/16", "fd00:1::/32"] });
    const denied = {
      "127.0.0.1": "loopback",
      "10.9.9.9": "private",
      "172.31.255.255": "private",
      "192.168.1.1": "private",
      "169.254.169.254": "link-local (cloud metadata)",
      "100.64.0.1": "shared (carrier-grade NAT)",
      "0.0.0.0": "'this network'",
      "::1": "loopback, unspecified or IPv4-compatible",
      "::": "loopback, unspecified or IPv4-compatible",
      "fe80::1": "link-local",
      "fd12::1": "unique-local",
      "::ffff:127.0.0.1": "loopback",
      "::ffff:a9fe:a9fe": "link-local (cloud metadata)",
      "::ffff:192.168.0.1": "private",
    };
    for (const [address, kind] of Object.entries(denied)) expect([address, policy.denial(address)]).toEqual([address, kind]);
    for (const address of ["8.8.8.8", "172.32.0.1", "2001:db8::1", "10.1.2.3", "::ffff:10.1.2.3", "fd00:1::5", "::ffff:8.8.8.8"]) {
      expect([address, policy.denial(address)]).toEqual([address, undefined]);
    }
  });

  it("reads the allow lists from the environment, and refuses a malformed CIDR", () => {
    const config = loadConfig({ OPENLOOP_HOOKS_ALLOW_HOSTS: "hooks.internal, ci.local", OPENLOOP_HOOKS_ALLOW_CIDRS: "10.0.0.0/8,fd00::/8" }, "/nonexistent");
    expect(config.pipeline.hooks.allowHosts).toEqual(["hooks.internal", "ci.local"]);
    expect(config.pipeline.hooks.allowCidrs).toEqual(["10.0.0.0/8", "fd00::/8"]);
    expect(() => loadConfig({ OPENLOOP_HOOKS_ALLOW_CIDRS: "10.0.0.0/33" }, "/nonexistent")).toThrow(/10\.0\.0\.0\/33/);
  });
});


// Per-key limits: the token bucket on a test clock, and RESOURCE_EXHAUSTED with a RetryInfo
// detail over grpc-js, Connect and gRPC-Web.
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { bearer } from "../support/bearer.js";
import { createConnectTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeedbackService } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { MemoryRateLimiter } from "../../src/platform/rate-limit.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "../support/grpc-js-transport.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { grpcurlPath, run } from "../support/tools.js";

/** A clock that moves only when the test says so. */
function testClock() {
  let ms = 1_000_000;
  return { now: () => ms, advance: (by: number) => void (ms += by) };
}

async function errorOf(p: Promise<unknown>): Promise<ConnectError | "OK"> {
  try {
    await p;
    return "OK";
  } catch (err) {
    return ConnectError.from(err);
  }
}

const codeOf = async (p: Promise<unknown>) => {
  const r = await errorOf(p);
  return r === "OK" ? r : r.code;
};

describe("MemoryRateLimiter", () => {
  const rate = { perSecond: 2, burst: 3 };

  it("admits a burst, then says how long until the next request", () => {
    const clock = testClock();
    const limiter = new MemoryRateLimiter(clock.now);
    expect([limiter.take("k", rate), limiter.take("k", rate), limiter.take("k", rate)]).toEqual([0, 0, 0]);
    expect(limiter.take("k", rate)).toBe(500);
    clock.advance(200);
    expect(limiter.take("k", rate)).toBe(300);
    clock.advance(300);
    expect(limiter.take("k", rate)).toBe(0);
  });

  it("refills up to the burst and no further", () => {
    const clock = testClock();
    const limiter = new MemoryRateLimiter(clock.now);
    limiter.take("k", rate);
    clock.advance(60_000);
    expect([0, 1, 2, 3].map(() => limiter.take("k", rate))).toEqual([0, 0, 0, 500]);
  });

  it("keeps a bucket per key", () => {
    const limiter = new MemoryRateLimiter(testClock().now);
    const one = { perSecond: 1, burst: 1 };
    expect(limiter.take("a", one)).toBe(0);
    expect(limiter.take("a", one)).toBe(1000);
    expect(limiter.take("b", one)).toBe(0);
  });

  it("opens streams up to the limit, and again once one closes (closing twice counts once)", () => {
    const limiter = new MemoryRateLimiter();
    const first = limiter.openStream("k", 2);
    const second = limiter.openStream("k", 2);
    expect(first && second).toBeTypeOf("function");
    expect(limiter.openStream("k", 2)).toBeUndefined();
    first!();
    first!();
    expect(limiter.openStream("k", 2)).toBeTypeOf("function");
    expect(limiter.openStream("k", 2)).toBeUndefined();
  });
});

describe("per-key limits over the wire", () => {
  const clock = testClock();
  const TRANSPORTS = ["grpc-js", "Connect", "gRPC-Web"] as const;
  const keyOf = (t: string) => `rate-limited-key-${t}`;
  let s: TestServer;
  const closers: (() => void)[] = [];
  beforeAll(async () => {
    s = await startTestServer(
      {
        server: {
          apiKeys: [
            ...TRANSPORTS.map((t) => ({ name: `limited-${t}`, key: keyOf(t), scopes: ["features:read" as const], limits: { requestsPerSecond: 1, burst: 2 } })),
            { name: "streams", key: "stream-limited-key-0123", scopes: ["feedback:read" as const, "feedback:write" as const], limits: { concurrentStreams: 1 } },
            "metrics-admin-key-0123456789",
            { name: "limited-grpcurl", key: "grpcurl-limited-key-0123", scopes: ["features:read" as const], limits: { requestsPerSecond: 1, burst: 1 } },
          ],
        },
      },
      { limiter: new MemoryRateLimiter(clock.now) },
    );
  });
  afterAll(async () => {
    for (const close of closers) close();
    await s?.close();
  });

  const transport = (name: string, key: string): Transport => {
    if (name === "grpc-js") {
      const t: GrpcJsTransport = createGrpcJsTransport(`127.0.0.1:${s.port}`, { apiKey: key });
      closers.push(() => t.close());
      return t;
    }
    if (name === "Connect") return createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] });
    return createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] });
  };

  it.each(TRANSPORTS)("answers RESOURCE_EXHAUSTED with RetryInfo over %s once the burst is spent, and admits again when the bucket refills", async (name) => {
    const features = createClient(FeatureService, transport(name, keyOf(name)));
    expect(await codeOf(features.listFeatureSets({}))).toBe("OK");
    expect(await codeOf(features.listFeatureSets({}))).toBe("OK");

    const err = await errorOf(features.listFeatureSets({}));
    expect(err).toBeInstanceOf(ConnectError);
    const refused = err as ConnectError;
    expect(refused.code).toBe(Code.ResourceExhausted);
    expect(refused.rawMessage).toBe(`API key 'limited-${name}' is over its rate of 1 requests/s; retry in 1000 ms`);
    const [retry] = refused.findDetails(RetryInfoSchema);
    expect(retry?.retryDelay).toMatchObject({ seconds: 1n, nanos: 0 });

    clock.advance(400);
    const again = (await errorOf(features.listFeatureSets({}))) as ConnectError;
    expect(again.findDetails(RetryInfoSchema)[0]?.retryDelay).toMatchObject({ seconds: 0n, nanos: 600_000_000 });

    clock.advance(600);
    expect(await codeOf(features.listFeatureSets({}))).toBe("OK");
  });

  it("sends RetryInfo that grpcurl decodes through server reflection", async () => {
    const call = () =>
      run(grpcurlPath(), ["-plaintext", "-format-error", "-H", "authorization: Bearer grpcurl-limited-key-0123", `127.0.0.1:${s.port}`, "openloop.feature.v1.FeatureService/ListFeatureSets"], { cwd: "/" });
    expect((await call()).code).toBe(0);
    const refused = await call();
    expect(refused.code).not.toBe(0);
    const status = JSON.parse(refused.stderr) as { code: number; details: { "@type": string; retryDelay?: string }[] };
    expect(status.code).toBe(Code.ResourceExhausted);
    expect(status.details).toEqual([{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1s" }]);
  });

  it("counts limited calls by key name", async () => {
    const text = await (await fetch(`${s.baseUrl}/metrics`, { headers: { authorization: "Bearer metrics-admin-key-0123456789" } })).text();
    for (const t of TRANSPORTS) expect(text).toContain(`openloop_rate_limited_total{key="limited-${t}",limit="requests"} 2`);
    for (const t of TRANSPORTS) expect(text).not.toContain(keyOf(t));
  });

  // Client streams over HTTP/2: a unary call on the same connection after a stream has
  // started is answered only after the server has seen (and gated) the stream.
  const STREAMING = {
    "grpc-js": () => transport("grpc-js", "stream-limited-key-0123"),
    "Connect over HTTP/2": () => {
      const sessionManager = new Http2SessionManager(s.baseUrl);
      closers.push(() => sessionManager.abort());
      return createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "2", sessionManager, interceptors: [bearer("stream-limited-key-0123")] });
    },
  };

  it.each(Object.keys(STREAMING))("limits the streams a key has open at once, over %s", async (name) => {
    const feedback = createClient(FeedbackService, STREAMING[name as keyof typeof STREAMING]());
    let endFirst!: () => void;
    const firstEnds = new Promise<void>((resolve) => (endFirst = resolve));
    async function* heldOpen() {
      await firstEnds;
    }
    const first = feedback.ingestSamples(heldOpen());
    await feedback.listOnlineModels({});

    const second = await errorOf(feedback.ingestSamples(heldOpen()));
    expect(second).toBeInstanceOf(ConnectError);
    expect((second as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((second as ConnectError).rawMessage).toContain("API key 'streams' has 1 streams open, its limit");
    expect((second as ConnectError).findDetails(RetryInfoSchema)).toHaveLength(1);

    endFirst();
    expect(await codeOf(first)).toBe("OK");
    await feedback.listOnlineModels({});
    expect(await codeOf(feedback.ingestSamples((async function* () {})()))).toBe("OK");
  });
});

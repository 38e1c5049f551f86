// Fuzzes every method of every service in gen/ over gRPC (to grpc-js, and to connect-node),
// Connect and gRPC-Web (HTTP/1.1 and HTTP/2) with thousands of hostile requests, and checks
// that no answer is UNKNOWN or INTERNAL, that every call got a status, that health stays
// SERVING, and that the server counted exactly the codes its clients saw.
//
// Seeded: the seed is printed; rerun a run with OPENLOOP_FUZZ_SEED=<seed> (and
// OPENLOOP_FUZZ_CALLS=<n> to change the number of calls, 3000 by default).
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { codeName } from "../../src/platform/observe.js";
import { ERROR, startObservedServer, type ObservedServer } from "../support/observed-server.js";
import { createRawClient, NO_STATUS, ROUTES, type RawAnswer, type RawClient, type Route } from "../support/raw-rpc.js";
import { ROOT } from "../support/tools.js";
import { contractServices, hostileCall, Rng, type FuzzCall } from "./hostile.js";

const SEED = process.env.OPENLOOP_FUZZ_SEED ? Number(process.env.OPENLOOP_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32);
const CALLS = Number(process.env.OPENLOOP_FUZZ_CALLS ?? 3000);
const CONCURRENCY = 8;
const MAX_MESSAGE_BYTES = 64 * 1024;

interface Outcome {
  readonly route: Route;
  readonly call: FuzzCall;
  readonly answer: RawAnswer;
  readonly ms: number;
}

describe(`fuzzing every RPC (seed ${SEED})`, () => {
  let s: ObservedServer;
  let raw: RawClient;
  const outcomes: Outcome[] = [];
  let before: Map<string, number>;
  let after: Map<string, number>;

  beforeAll(async () => {
    console.log(`fuzz seed ${SEED}: rerun this run with OPENLOOP_FUZZ_SEED=${SEED}`);
    s = await startObservedServer({ server: { maxMessageBytes: MAX_MESSAGE_BYTES }, llm: { providers: {}, models: [] } });
    // A little state, so that hostile values also reach code past the "not found" checks.
    const transport = createGrpcTransport({ baseUrl: s.url });
    await createClient(FeatureService, transport).createFeatureSet({ featureSet: { name: "fs", features: [{ name: "x", type: FeatureType.DOUBLE }] } });
    await createClient(FeedbackService, transport).createOnlineModel({ name: "m", task: Task.REGRESSION });
    await createClient(RegistryService, transport).registerModelVersionUnary({ header: { name: "model", version: "1", type: "linear" }, artifacts: [{ name: "w.bin", data: Buffer.from("w") }] });

    const services = await contractServices(path.join(ROOT, "gen"));
    const methods = services.flatMap((svc) => svc.methods);
    const rng = new Rng(SEED);
    const planned: { route: Route; call: FuzzCall }[] = [];
    for (let i = 0; i < CALLS; i++) {
      const route = rng.pick(ROUTES);
      // Connect unary requests are the bare message, without an envelope.
      let method = rng.pick(methods);
      // Bidi streams need HTTP/2: over HTTP/1.1 connect-node answers 505 before any RPC starts.
      while (method.methodKind === "bidi_streaming" && route.endsWith("-h1")) method = rng.pick(methods);
      const enveloped = !(route.startsWith("connect") && method.methodKind === "unary");
      planned.push({ route, call: hostileCall(rng, method, { maxMessageBytes: MAX_MESSAGE_BYTES }, enveloped) });
    }

    raw = createRawClient(s.url);
    before = await s.rpcCounts();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < planned.length) {
          const p = planned[next++];
          const started = performance.now();
          const answer = await raw.call(p.route, p.call);
          outcomes.push({ ...p, answer, ms: performance.now() - started });
        }
      }),
    );
    after = await s.rpcCounts();
  });
  afterAll(async () => {
    raw?.close();
    await s?.close();
  });

  const describeOutcome = (o: Outcome) => `${o.route} ${o.call.path} [${o.call.mutation}] -> ${o.answer.code === NO_STATUS ? "no status" : codeName(o.answer.code)}: ${o.answer.message.slice(0, 160)}`;

  it(`sends ${CALLS} hostile requests to every method of every service`, () => {
    expect(outcomes).toHaveLength(CALLS);
    const reached = new Set(outcomes.map((o) => o.call.path));
    const all = new Set(outcomes.map((o) => `/${o.call.method.parent.typeName}/${o.call.method.name}`));
    expect(reached).toEqual(all);
  });

  it("never answers UNKNOWN or INTERNAL", () => {
    const bad = outcomes.filter((o) => o.answer.code === 2 || o.answer.code === 13).map(describeOutcome);
    const serverErrors = s.lines.filter((l) => l.level >= ERROR).map((l) => JSON.stringify(l).slice(0, 600));
    expect({ bad, serverErrors }).toEqual({ bad: [], serverErrors: [] });
  });

  it("answers every call by its deadline", () => {
    const slow = outcomes.filter((o) => o.ms > (o.call.timeoutMs ?? 10_000) + 2_000).map((o) => `${describeOutcome(o)} after ${Math.round(o.ms)} ms`);
    expect(slow).toEqual([]);
  });

  it("answers every call with a status", () => {
    expect(outcomes.filter((o) => o.answer.code === NO_STATUS).map(describeOutcome)).toEqual([]);
  });

  it("counts in /metrics exactly the codes the clients received", () => {
    const seen = new Map<string, number>();
    for (const o of outcomes) {
      if (o.answer.code === NO_STATUS) continue;
      const key = `${o.call.method.parent.typeName}/${o.call.method.name} ${codeName(o.answer.code)}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    const counted = new Map<string, number>();
    for (const [key, n] of after) if (n !== (before.get(key) ?? 0)) counted.set(key, n - (before.get(key) ?? 0));
    const differing = [...new Set([...counted.keys(), ...seen.keys()])].filter((k) => counted.get(k) !== seen.get(k));
    // Where the calls of a differing count went, to tell which server counted wrong.
    const routes = outcomes.filter((o) => differing.some((k) => k.startsWith(`${o.call.method.parent.typeName}/${o.call.method.name} `))).map((o) => `${o.route} [${o.call.mutation}] ${o.answer.code}`);
    const logged = s.lines.filter((l) => l.msg === "rpc" && differing.some((k) => k === `${l.rpc} ${l.code}`)).map((l) => `${l.rpc} ${l.code} ${JSON.stringify(l.err)}`);
    expect({ counted: Object.fromEntries([...counted].sort()), routes: differing.length ? routes : [], logged: differing.length ? logged : [] }).toEqual({ counted: Object.fromEntries([...seen].sort()), routes: [], logged: [] });
  });

  it("stays SERVING", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: s.url }));
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
    for (const svc of ["openloop.feature.v1.FeatureService", "openloop.feedback.v1.FeedbackService", "openloop.registry.v1.RegistryService"]) {
      expect((await health.check({ service: svc })).status).toBe(Status.SERVING);
    }
  });
});

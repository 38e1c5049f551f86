// LLM gateway bench: Generate and GenerateStream through openloop (a server in a child process)
// to a fake OpenAI server (another child process), versus the official `openai` SDK calling the
// same fake directly, and versus other gateways (bench/peers.ts: Portkey, LiteLLM) in front of
// the same fake, all in one run. Prints one markdown section.
//
//   node --import tsx bench/llm.ts [--quick]
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import OpenAI from "openai";
import { pino } from "pino";
import { Registry } from "prom-client";
import { Pool } from "undici";
import {
  CacheMode,
  GenerateRequestSchema,
  GenerateResponseSchema,
  GenerateStreamRequestSchema,
  GenerateStreamResponseSchema,
} from "../gen/openloop/llm/v1/llm_service_pb.js";
import { Catalog } from "../src/llm/catalog.js";
import { Gateway } from "../src/llm/gateway.js";
import { LlmMetrics } from "../src/llm/metrics.js";
import type { Provider } from "../src/llm/providers/provider.js";
import { startFakeOpenAI } from "../test/support/fake-openai.js";
import { spawnServer } from "../test/support/spawn.js";
import { hey, startPeers, type LoadResult, type Peer } from "./peers.js";
import { contractProtoset, ghz } from "./support/ghz.js";
import { cpuMicros, median, settle } from "./support/proc.js";

const API_KEY = "sk-bench-0123456789";
const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 2 : 5;
const SEQUENTIAL_SECONDS = quick ? 1 : 2; // per system and round, in slices alternating with as long of direct calls
const SLICES = 4;
const LOAD_SECONDS = quick ? 2 : 5;
const WARMUP_SECONDS = 4;
const CONCURRENCY = 50;
const STREAMS = quick ? 20 : 100;
const STREAM_DELTAS = 512;
const STREAM_WARMUP = 20;
const STREAM_BLOCK = 5;
const GENERATE = "openloop.llm.v1.LLMService/Generate";
const OPENAI_ROW = "openloop, OpenAI API (/v1/chat/completions) over HTTP/1.1";

function startFake(deltas: number): Promise<{ url: string; pid: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--fake", "--deltas", String(deltas)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`fake server exited with ${code}`)));
    child.stdout!.once("data", (d: Buffer) => resolve({ url: d.toString().trim(), pid: child.pid!, child }));
  });
}

/** Time of each of `n` calls, in ms. */
async function timed(n: number, call: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await call();
    out.push(performance.now() - s);
  }
  return out;
}

/** Sequential calls for `seconds`, the given calls in turn; the times of each, in ms. */
async function alternating(seconds: number, calls: Array<() => Promise<unknown>>): Promise<number[][]> {
  const out = calls.map((): number[] => []);
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < calls.length; i++) {
      const s = performance.now();
      await calls[i]();
      out[i].push(performance.now() - s);
    }
  }
  return out;
}

/** `workers` loops calling for `seconds` (bounded in time so a loaded machine cannot stretch the bench). */
async function concurrent(seconds: number, workers: number, call: () => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await call();
        latencies.push(performance.now() - s);
      }
    }),
  );
  return latencies;
}

/**
 * The gateway's own code per Generate (catalog, validation, flight, limiter, metrics), in
 * process, with a provider that answers at once: what openloop adds besides the transports.
 */
async function gatewayCodeMicros(calls: number): Promise<number> {
  const instant: Provider = {
    name: "instant",
    generate: async () => ({ text: "Hello, world!", finishReason: "stop", usage: { inputTokens: 12, outputTokens: 4 } }),
    stream: () => {
      throw new Error("the code bench measures Generate only");
    },
  };
  const gateway = new Gateway({
    catalog: new Catalog([{ id: "bench", provider: "instant", aliases: [], fallbacks: [] }], new Set(["instant"])),
    providers: new Map([["instant", instant]]),
    limits: new Map([["instant", { maxConcurrency: 64, maxQueue: 256 }]]),
    retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 5_000, multiplier: 2, jitter: 0.5, maxRetryAfterMs: 30_000 },
    cache: undefined,
    cacheConfig: { maxEntryChars: 1_000_000 },
    metrics: new LlmMetrics(new Registry()),
    log: pino({ level: "silent" }),
    listModelsTtlMs: 60_000,
    tokens: { defaultMaxTokens: 1024, maxTokensLimit: 16_384 },
  });
  const signal = new AbortController().signal;
  const call = () => gateway.generate({ model: "bench", messages: [{ role: "user", content: "Say hello" }], params: { stop: [] }, cacheMode: "bypass", signal });
  for (let i = 0; i < calls / 4; i++) await call();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await call();
  return ((performance.now() - t0) / calls) * 1000;
}

function pct(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

const ms = (v: number) => `${v.toFixed(3)} ms`;
const rate = (v: number) => `${Math.round(v).toLocaleString("en-US")}`;
const signed = (v: number) => `${v < 0 ? "−" : "+"}${ms(Math.abs(v))}`;
const us = (v: number) => `${Math.round(v).toLocaleString("en-US")} µs`;

/** A unary and a server-streaming call on a plain @grpc/grpc-js client, messages (de)serialized by protobuf-es. */
function grpcClient(port: number) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const codec = <T extends DescMessage>(schema: T) => ({
    serialize: (m: MessageShape<T>) => Buffer.from(toBinary(schema, m)),
    deserialize: (b: Buffer) => fromBinary(schema, b),
  });
  const req = codec(GenerateRequestSchema);
  const res = codec(GenerateResponseSchema);
  const sreq = codec(GenerateStreamRequestSchema);
  const sres = codec(GenerateStreamResponseSchema);
  return {
    generate: (m: MessageShape<typeof GenerateRequestSchema>) =>
      new Promise<MessageShape<typeof GenerateResponseSchema>>((resolve, reject) =>
        client.makeUnaryRequest(`/${GENERATE}`, req.serialize, res.deserialize, m, (err, v) => (err ? reject(err) : resolve(v!))),
      ),
    generateStream: (m: MessageShape<typeof GenerateStreamRequestSchema>) =>
      client.makeServerStreamRequest(`/openloop.llm.v1.LLMService/GenerateStream`, sreq.serialize, sres.deserialize, m) as AsyncIterable<
        MessageShape<typeof GenerateStreamResponseSchema>
      >,
    close: () => client.close(),
  };
}

/** One POST of `body` answered 200, on a keep-alive undici pool. */
function httpCaller(url: string, headers: Record<string, string>, body: string) {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 64 });
  const all = { ...headers, "content-type": "application/json" };
  return {
    call: async () => {
      const res = await pool.request({ method: "POST", path: u.pathname, headers: all, body });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}: ${text.slice(0, 200)}`);
    },
    close: () => pool.close(),
  };
}

/** A system under test: one call (for warm-up), sequential calls and load at c=50. */
interface System {
  name: string;
  /** Who calls it: the sequential client, and the load generator. */
  clients: string;
  pid: number;
  call(): Promise<unknown>;
  /** p50 of sequential calls for `seconds`, in ms. */
  sequential(seconds: number): Promise<number>;
  load(seconds: number): Promise<LoadResult>;
}

async function main(): Promise<void> {
  const small = await startFake(4);
  const long = await startFake(STREAM_DELTAS);
  try {
    await measure(small.url, small.pid, long.url);
  } finally {
    small.child.kill();
    long.child.kill();
  }
}

async function measure(smallUrl: string, fakePid: number, longUrl: string): Promise<void> {
  const loadAtStart = os.loadavg()[0];
  const server = await spawnServer({
    config: {
      log: { level: "warn" },
      llm: {
        providers: {
          openai: { kind: "openai", apiKey: API_KEY, baseUrl: smallUrl, maxConcurrency: 256, maxQueue: 4096 },
          openai_long: { kind: "openai", apiKey: API_KEY, baseUrl: longUrl, maxConcurrency: 256, maxQueue: 4096 },
        },
        models: [
          { id: "bench", provider: "openai", upstreamModel: "gpt-bench" },
          { id: "bench-long", provider: "openai_long", upstreamModel: "gpt-bench" },
        ],
      },
    },
    env: { OPENLOOP_LOG_LEVEL: "info" },
  });
  const peers = await startPeers(smallUrl, API_KEY);
  const llm = grpcClient(server.port);
  const sdk = new OpenAI({ apiKey: API_KEY, baseURL: smallUrl, maxRetries: 0 });
  const sdkLong = new OpenAI({ apiKey: API_KEY, baseURL: longUrl, maxRetries: 0 });
  const protoset = await contractProtoset();

  const messages = [{ role: "user" as const, content: "Say hello" }];
  const chatBody = (model: string) => JSON.stringify({ model, messages });
  const direct = () => sdk.chat.completions.create({ model: "gpt-bench", messages });
  const bypass = create(GenerateRequestSchema, { model: "bench", prompt: "Say hello", cacheMode: CacheMode.BYPASS });
  const connectJson = httpCaller(`${server.baseUrl}/${GENERATE}`, {}, JSON.stringify({ model: "bench", prompt: "Say hello", cacheMode: "CACHE_MODE_BYPASS" }));
  const callers = peers.started.map((p) => httpCaller(p.url, p.headers, chatBody(p.model)));
  // The OpenAI-compatible API: the request the peers get, the cache bypassed like the other rows.
  const openaiUrl = `${server.baseUrl}/v1/chat/completions`;
  const openaiHeaders = { "x-openloop-cache": "bypass" };
  const openaiApi = httpCaller(openaiUrl, openaiHeaders, chatBody("bench"));
  const load = { concurrency: CONCURRENCY };
  const bypassJson = JSON.stringify({ model: "bench", prompt: "Say hello", cacheMode: "CACHE_MODE_BYPASS" });
  const inProcess = (call: () => Promise<unknown>) => async (seconds: number) => pct((await alternating(seconds, [call]))[0], 0.5);
  const systems: System[] = [
    {
      name: "openloop, gRPC",
      // ghz at concurrency 1 for sequential calls too: @grpc/grpc-js's client spends about
      // 660 µs of CPU a call in the bench process (measured), more than the server does.
      clients: "ghz -c 1; ghz",
      pid: server.pid,
      call: () => llm.generate(bypass),
      sequential: async (seconds) => (await ghz(server.port, { call: GENERATE, data: bypassJson, protoset }, { concurrency: 1, seconds })).p50Ms,
      load: (seconds) => ghz(server.port, { call: GENERATE, data: bypassJson, protoset }, { ...load, seconds, pid: server.pid }),
    },
    {
      name: "openloop, Connect JSON over HTTP/1.1",
      clients: "undici; hey",
      pid: server.pid,
      call: connectJson.call,
      sequential: inProcess(connectJson.call),
      load: (seconds) => hey(`${server.baseUrl}/${GENERATE}`, {}, bypassJson, { ...load, seconds, pid: server.pid }),
    },
    {
      name: OPENAI_ROW,
      clients: "undici; hey",
      pid: server.pid,
      call: openaiApi.call,
      sequential: inProcess(openaiApi.call),
      load: (seconds) => hey(openaiUrl, openaiHeaders, chatBody("bench"), { ...load, seconds, pid: server.pid }),
    },
    ...peers.started.map(
      (p: Peer, i): System => ({
        name: p.name,
        clients: "undici; hey",
        pid: p.pid,
        call: callers[i].call,
        sequential: inProcess(callers[i].call),
        load: (seconds) => hey(p.url, p.headers, chatBody(p.model), { ...load, seconds, pid: p.pid }),
      }),
    ),
  ];
  // The fake called directly: by the SDK (the target's baseline), and by undici (a light client,
  // so the difference to a gateway over undici is the gateway's hop alone).
  const fakeDirect = httpCaller(`${smallUrl}/chat/completions`, { authorization: `Bearer ${API_KEY}` }, chatBody("gpt-bench"));

  // Each returns the output tokens the stream reported, after checking the text arrived whole.
  const expectedChars = Array.from({ length: STREAM_DELTAS }, (_, i) => `tok${i % 10} `).join("").length;
  const streamDirect = async () => {
    let chars = 0;
    let tokens = 0;
    const s = await sdkLong.chat.completions.create({ model: "gpt-bench", messages, stream: true, stream_options: { include_usage: true } });
    for await (const c of s) {
      chars += c.choices[0]?.delta?.content?.length ?? 0;
      if (c.usage) tokens = c.usage.completion_tokens;
    }
    if (chars !== expectedChars) throw new Error(`direct stream lost text: ${chars} of ${expectedChars} characters`);
    return tokens;
  };
  let gatewayDeltaMessages = 0;
  const streamGateway = async () => {
    let chars = 0;
    let tokens = 0;
    for await (const m of llm.generateStream(create(GenerateStreamRequestSchema, { model: "bench-long", prompt: "Say hello", cacheMode: CacheMode.BYPASS }))) {
      if (m.event.case === "textDelta") {
        chars += m.event.value.length;
        gatewayDeltaMessages++;
      } else if (m.event.case === "done") tokens = m.event.value.usage?.outputTokens ?? 0;
    }
    if (chars !== expectedChars) throw new Error(`gateway stream lost text: ${chars} of ${expectedChars} characters`);
    return tokens;
  };

  try {
    // Streams first, while the peers are idle: after its load runs LiteLLM goes on working
    // through its backlog for seconds, on the cores the streams need.
    await timed(STREAM_WARMUP, streamDirect);
    await timed(STREAM_WARMUP, streamGateway);
    // The server and the peers may still be finishing their start-up in the background
    // (modules, JIT, LiteLLM's start-up tasks): the streams get the cores, and the server's CPU
    // time counts the streams only.
    for (const pid of [server.pid, ...peers.started.map((p) => p.pid)]) await settle(pid);

    // Streaming throughput: output tokens per second over sequential streams of STREAM_DELTAS
    // tokens, the two paths alternating in blocks of STREAM_BLOCK streams: stream by stream, the
    // garbage of the SDK's parsing was collected during the next gateway stream and billed to
    // it (measured: 0.6 ms of a 4.4 ms stream moved). CPU is counted too (this process for both
    // paths, plus the server for the gateway path): unlike wall time it does not depend on how
    // the shared machine schedules the processes.
    let tokDirect = 0;
    let tokGateway = 0;
    let secDirect = 0;
    let secGateway = 0;
    let cpuDirectUs = 0;
    let cpuGatewayUs = 0;
    const block = async (run: () => Promise<number>): Promise<{ tokens: number; seconds: number; cpuUs: number }> => {
      const t = performance.now();
      const c = process.cpuUsage();
      let tokens = 0;
      for (let i = 0; i < STREAM_BLOCK; i++) tokens += await run();
      const d = process.cpuUsage(c);
      return { tokens, seconds: (performance.now() - t) / 1000, cpuUs: d.user + d.system };
    };
    const streamCpu0 = cpuMicros(server.pid);
    for (let i = 0; i < STREAMS / STREAM_BLOCK; i++) {
      const d = await block(streamDirect);
      tokDirect += d.tokens;
      secDirect += d.seconds;
      cpuDirectUs += d.cpuUs;
      const g = await block(streamGateway);
      tokGateway += g.tokens;
      secGateway += g.seconds;
      cpuGatewayUs += g.cpuUs;
    }
    cpuGatewayUs += cpuMicros(server.pid) - streamCpu0;

    // Warm up connections and JIT on every path. Under load a gateway's CPU per call keeps
    // falling for 2-4 s (openloop's: 330-360 µs in its first 2 s at c=50, 190-220 µs after).
    await timed(300, direct);
    for (const s of systems) {
      await timed(300, s.call);
      await s.load(WARMUP_SECONDS);
    }

    // Rounds: every system in turn, so drift on the shared machine hits all alike. Each
    // system's sequential calls come in slices, each right after a slice of direct calls to the
    // fake (SDK and undici in turn): its added latency is the median over the slices of its p50
    // minus the direct p50 just before.
    const seq = new Map<System, { own: number[]; sdk: number[]; undici: number[] }>(systems.map((s) => [s, { own: [], sdk: [], undici: [] }]));
    const loads = new Map<System, LoadResult[]>(systems.map((s) => [s, []]));
    const upstreamAlone: LoadResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of systems) {
        const r = seq.get(s)!;
        for (let slice = 0; slice < SLICES; slice++) {
          const [viaSdk, viaUndici] = await alternating(SEQUENTIAL_SECONDS / SLICES, [direct, fakeDirect.call]);
          r.sdk.push(pct(viaSdk, 0.5));
          r.undici.push(pct(viaUndici, 0.5));
          r.own.push(await s.sequential(SEQUENTIAL_SECONDS / SLICES));
        }
        loads.get(s)!.push(await s.load(LOAD_SECONDS));
      }
      upstreamAlone.push(await hey(`${smallUrl}/chat/completions`, { authorization: `Bearer ${API_KEY}` }, chatBody("gpt-bench"), { ...load, seconds: LOAD_SECONDS, pid: fakePid }));
    }

    const messagesPerStream = gatewayDeltaMessages / (STREAMS + STREAM_WARMUP);

    const codeMicros = await gatewayCodeMicros(quick ? 10_000 : 50_000);
    const cachedData = JSON.stringify({ model: "bench", prompt: "Say hello (cached)", cacheMode: "CACHE_MODE_USE" });
    await ghz(server.port, { call: GENERATE, data: cachedData, protoset }, { ...load, seconds: 1 });
    const cached = await ghz(server.port, { call: GENERATE, data: cachedData, protoset }, { ...load, seconds: LOAD_SECONDS, pid: server.pid });

    // Summaries: medians of the rounds (for sequential calls, of the slices' p50s).
    const summary = systems.map((s) => {
      const r = seq.get(s)!;
      const runs = loads.get(s)!;
      return {
        s,
        p50: median(r.own),
        added: median(r.own.map((x, i) => x - r.sdk[i])),
        hop: median(r.own.map((x, i) => x - r.undici[i])),
        rps: median(runs.map((x) => x.rps)),
        loadP50: median(runs.map((x) => x.p50Ms)),
        cpu: median(runs.map((x) => x.cpuUsPerCall)),
        errors: runs.reduce((n, x) => n + x.errors, 0),
      };
    });
    const grpcRow = summary[0];
    const portkey = summary.find((x) => x.s.name.startsWith("Portkey"));
    const openaiRow = summary.find((x) => x.s.name === OPENAI_ROW)!;
    const streamRatio = tokGateway / secGateway / (tokDirect / secDirect);
    const allSdk = summary.flatMap((x) => seq.get(x.s)!.sdk);
    const allUndici = summary.flatMap((x) => seq.get(x.s)!.undici);
    const errors = summary.reduce((n, x) => n + x.errors, 0) + cached.errors;
    const f = (x: number, d = 0) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
    const vsPortkey = (x: (typeof summary)[number]) =>
      portkey ? `${(x.rps / portkey.rps).toFixed(2)}× / ${(x.cpu / portkey.cpu).toFixed(2)}×` : "–";

    const lines = [
      "## LLM gateway",
      "",
      `Command: \`node --import tsx bench/llm.ts${quick ? " --quick" : ""}\`. Every gateway is a child process in front of the same fake OpenAI server (another child process); cache bypassed (BYPASS) so every call goes upstream; each gets ${WARMUP_SECONDS} s of load at c=${CONCURRENCY} to warm up first. ` +
        `${ROUNDS} rounds; in each, every system gets ${SEQUENTIAL_SECONDS} s of sequential calls in ${SLICES} slices, each right after a slice as long of direct calls to the fake (the \`openai\` SDK 7.57.0 and undici in turn, from this process), then ${LOAD_SECONDS} s of load at concurrency ${CONCURRENCY} from a Go load generator in its own process (ghz for gRPC, hey for HTTP/1.1, one connection per concurrent caller for hey, one HTTP/2 connection for ghz). Figures are medians over the rounds (sequential ones over the slices: a system's p50 minus the direct p50 of the slice before).`,
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadAtStart.toFixed(1)} at the start; the clients, the gateways and the fake share these cores, and other work on the machine adds noise.`,
      "Server CPU per call is the gateway process's user + system time from /proc over the load run, divided by the calls answered: it depends less on how the shared machine schedules the processes than throughput does.",
      "",
      "| system (sequential client; load generator) | sequential p50 | added p50 over SDK → fake | over undici → fake | c=50 req/s | c=50 p50 | server CPU per call | vs Portkey: req/s / CPU | failed under load |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...summary.map(
        (x) =>
          `| ${x.s.name} (${x.s.clients}) | ${ms(x.p50)} | ${signed(x.added)} | ${signed(x.hop)} | ${rate(x.rps)} | ${ms(x.loadP50)} | ${us(x.cpu)} | ${vsPortkey(x)} | ${x.errors} |`,
      ),
      `| fake alone (sequential: \`openai\` SDK / undici; load: hey) | ${ms(median(allSdk))} / ${ms(median(allUndici))} | | | ${rate(median(upstreamAlone.map((x) => x.rps)))} | ${ms(median(upstreamAlone.map((x) => x.p50Ms)))} | ${us(median(upstreamAlone.map((x) => x.cpuUsPerCall)))} | | ${upstreamAlone.reduce((n, x) => n + x.errors, 0)} |`,
      ...peers.skipped.map((line) => `\n${line}`),
      "",
      "| openloop measure | openai SDK direct | through openloop (gRPC, grpc-js client) | ratio |",
      "| --- | ---: | ---: | ---: |",
      `| GenerateStream output tokens/s (${STREAMS} streams × ${STREAM_DELTAS} tokens, the paths alternating every ${STREAM_BLOCK}) | ${rate(tokDirect / secDirect)} | ${rate(tokGateway / secGateway)} | ${(streamRatio * 100).toFixed(1)}% |`,
      `| GenerateStream CPU per 1,000 tokens (client; client + server) | ${ms(cpuDirectUs / tokDirect)} | ${ms(cpuGatewayUs / tokGateway)} | ${(cpuGatewayUs / tokGateway / (cpuDirectUs / tokDirect)).toFixed(2)}× |`,
      `| gateway code per Generate (in process, provider answering at once) | – | ${ms(codeMicros / 1000)} | |`,
      `| cached Generate, concurrency ${CONCURRENCY} (ghz) | – | ${rate(cached.rps)} req/s, p50 ${ms(cached.p50Ms)}, server CPU ${us(cached.cpuUsPerCall)} a call | |`,
      "",
      `Success: ${errors === 0 ? "100% of calls on every path" : `${errors} failed calls under load (see the load generators' reports)`}.`,
      "",
      `Reading the numbers: openloop's own gateway code costs ${ms(codeMicros / 1000)} a call; the rest of its server CPU is gRPC (its HTTP/2 transport, protobuf) and the upstream request (the SDK's request, sent on an undici pool). ` +
        `The HTTP rows' sequential client is undici, lighter than the SDK the "added over SDK → fake" column subtracts, so a lean HTTP path can come out below zero there; "over undici → fake" is the hop alone. ` +
        `In the stream test the fake sends all ${STREAM_DELTAS} tokens at once, so it measures parsing throughput: the SDK baseline parses the SSE itself, while through openloop the server parses it and forwards the deltas of one upstream read as one message (${messagesPerStream.toFixed(1)} messages a stream here); a provider that paces tokens leaves the gateway idle between reads.`,
      "",
      "Targets (issue: gRPC at the floor):",
      ...(portkey
        ? [
            `- Generate server CPU per call at c=50 at most 0.5× Portkey's: ${grpcRow.cpu / portkey.cpu <= 0.5 ? "met" : "not met"} (${(grpcRow.cpu / portkey.cpu).toFixed(2)}×: ${us(grpcRow.cpu)} vs ${us(portkey.cpu)})`,
            `- Generate throughput at c=50 at least 2× Portkey's: ${grpcRow.rps / portkey.rps >= 2 ? "met" : "not met"} (${(grpcRow.rps / portkey.rps).toFixed(2)}×: ${rate(grpcRow.rps)} vs ${rate(portkey.rps)} req/s)`,
          ]
        : ["- Generate server CPU and throughput vs Portkey: not measured (Portkey skipped)"]),
      ...(portkey
        ? [
            `- OpenAI API added p50 over SDK → fake direct at most Portkey's: ${openaiRow.added <= portkey.added ? "met" : "not met"} (${signed(openaiRow.added)} vs ${signed(portkey.added)})`,
            `- OpenAI API throughput at c=50 at least Portkey's: ${openaiRow.rps >= portkey.rps ? "met" : "not met"} (${(openaiRow.rps / portkey.rps).toFixed(2)}×: ${rate(openaiRow.rps)} vs ${rate(portkey.rps)} req/s)`,
          ]
        : ["- OpenAI API vs Portkey: not measured (Portkey skipped)"]),
      `- Generate sequential added p50 over SDK → fake direct under 0.3 ms: ${grpcRow.added < 0.3 ? "met" : "not met"} (${signed(grpcRow.added)}; the hop alone, over undici → fake: ${signed(grpcRow.hop)})`,
      `- GenerateStream at least 90% of the SDK's tokens/s: ${streamRatio >= 0.9 ? "met" : "not met"} (${(streamRatio * 100).toFixed(1)}%)`,
      "",
    ];
    process.stdout.write(lines.join("\n"));
  } finally {
    llm.close();
    await connectJson.close();
    await openaiApi.close();
    await fakeDirect.close();
    for (const c of callers) await c.close();
    for (const p of peers.started) await p.stop();
    await server.stop();
  }
}

// Child role: a fake OpenAI server answering every request with `--deltas` pieces.
if (process.argv.includes("--fake")) {
  const deltas = Number(process.argv[process.argv.indexOf("--deltas") + 1]);
  const fake = await startFakeOpenAI({ apiKey: API_KEY });
  fake.fallback = { kind: "answer", deltas: Array.from({ length: deltas }, (_, i) => `tok${i % 10} `), inputTokens: 20, outputTokens: deltas };
  // The bench sends tens of thousands of requests: keep no per-request record.
  fake.requests.push = () => 0;
  process.stdout.write(`${fake.baseUrl}\n`);
} else {
  await main();
}

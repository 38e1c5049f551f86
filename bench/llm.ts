// LLM gateway bench: Generate and GenerateStream through openloop (a server in a child process,
// gRPC over HTTP/2) to a fake OpenAI server (another child process), versus the official
// `openai` SDK calling the same fake directly, in the same run. Also cached Generate throughput.
// Prints one markdown section.
//
//   node --import tsx bench/llm.ts [--quick]
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import OpenAI from "openai";
import { pino } from "pino";
import { Registry } from "prom-client";
import { CacheMode, GenerateRequestSchema, GenerateStreamRequestSchema, LLMService } from "../gen/openloop/llm/v1/llm_service_pb.js";
import { Catalog } from "../src/llm/catalog.js";
import { Gateway } from "../src/llm/gateway.js";
import { LlmMetrics } from "../src/llm/metrics.js";
import type { Provider } from "../src/llm/providers/provider.js";
import { startFakeOpenAI } from "../test/support/fake-openai.js";
import { spawnServer } from "../test/support/spawn.js";

const API_KEY = "sk-bench-0123456789";
const quick = process.argv.includes("--quick");
const SEQUENTIAL = quick ? 300 : 2_000;
const CONCURRENT_SECONDS = quick ? 2 : 8;
const CONCURRENCY = 50;
const STREAMS = quick ? 20 : 100;
const STREAM_DELTAS = 512;

function startFake(deltas: number): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--fake", "--deltas", String(deltas)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`fake server exited with ${code}`)));
    child.stdout!.once("data", (d: Buffer) => resolve({ url: d.toString().trim(), child }));
  });
}

interface Run {
  latencies: number[];
  seconds: number;
  errors: number;
}

async function sequential(n: number, call: () => Promise<unknown>): Promise<Run> {
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    try {
      await call();
    } catch {
      errors++;
    }
    latencies.push(performance.now() - s);
  }
  return { latencies, seconds: (performance.now() - t0) / 1000, errors };
}

/** `workers` loops calling for `seconds` (bounded in time so a loaded machine cannot stretch the bench). */
async function concurrent(seconds: number, workers: number, call: () => Promise<unknown>): Promise<Run> {
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await call();
        } catch {
          errors++;
        }
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { latencies, seconds: (performance.now() - t0) / 1000, errors };
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** User + system CPU time of a process so far, from /proc (clock ticks of 10 ms). */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
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

async function main(): Promise<void> {
  const small = await startFake(4);
  const long = await startFake(STREAM_DELTAS);
  try {
    await measure(small.url, long.url);
  } finally {
    small.child.kill();
    long.child.kill();
  }
}

async function measure(smallUrl: string, longUrl: string): Promise<void> {
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
  const sessions = new Http2SessionManager(server.baseUrl);
  const llm = createClient(LLMService, createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions }));
  const sdk = new OpenAI({ apiKey: API_KEY, baseURL: smallUrl, maxRetries: 0 });
  const sdkLong = new OpenAI({ apiKey: API_KEY, baseURL: longUrl, maxRetries: 0 });

  const messages = [{ role: "user" as const, content: "Say hello" }];
  const direct = () => sdk.chat.completions.create({ model: "gpt-bench", messages });
  const viaGateway = () => llm.generate(create(GenerateRequestSchema, { model: "bench", prompt: "Say hello", cacheMode: CacheMode.BYPASS }));
  const cached = () => llm.generate(create(GenerateRequestSchema, { model: "bench", prompt: "Say hello (cached)", cacheMode: CacheMode.USE }));
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
      }
      else if (m.event.case === "done") tokens = m.event.value.usage?.outputTokens ?? 0;
    }
    if (chars !== expectedChars) throw new Error(`gateway stream lost text: ${chars} of ${expectedChars} characters`);
    return tokens;
  };

  try {
    // Warm up connections and JIT on both paths.
    await sequential(300, direct);
    await sequential(300, viaGateway);
    await sequential(5, streamDirect);
    await sequential(5, streamGateway);

    // Sequential latency: the two paths alternate call by call, so drift on a shared machine
    // hits both alike. Only gateway calls reach the server, so its CPU over the run is theirs.
    const seqDirect: Run = { latencies: [], seconds: 0, errors: 0 };
    const seqGateway: Run = { latencies: [], seconds: 0, errors: 0 };
    const cpu0 = await cpuMs(server.pid);
    for (let i = 0; i < SEQUENTIAL; i++) {
      const d = await sequential(1, direct);
      const g = await sequential(1, viaGateway);
      seqDirect.latencies.push(...d.latencies);
      seqGateway.latencies.push(...g.latencies);
      seqDirect.errors += d.errors;
      seqGateway.errors += g.errors;
    }
    const serverCpuMs = (await cpuMs(server.pid)) - cpu0;
    const seqErrors = seqDirect.errors + seqGateway.errors;

    const concDirect = await concurrent(CONCURRENT_SECONDS, CONCURRENCY, direct);
    const concGateway = await concurrent(CONCURRENT_SECONDS, CONCURRENCY, viaGateway);

    // Streaming throughput: output tokens per second over sequential streams of STREAM_DELTAS
    // tokens, the two paths alternating stream by stream.
    // CPU is counted too (this process for both paths, plus the server for the gateway path):
    // unlike wall time it does not depend on how the shared machine schedules the processes.
    let tokDirect = 0;
    let tokGateway = 0;
    let secDirect = 0;
    let secGateway = 0;
    let cpuDirectMs = 0;
    let cpuGatewayMs = 0;
    const streamCpu0 = await cpuMs(server.pid);
    for (let i = 0; i < STREAMS; i++) {
      let t = performance.now();
      let c = process.cpuUsage();
      tokDirect += await streamDirect();
      secDirect += (performance.now() - t) / 1000;
      cpuDirectMs += cpuSince(c);
      t = performance.now();
      c = process.cpuUsage();
      tokGateway += await streamGateway();
      secGateway += (performance.now() - t) / 1000;
      cpuGatewayMs += cpuSince(c);
    }
    cpuGatewayMs += (await cpuMs(server.pid)) - streamCpu0;

    const messagesPerStream = gatewayDeltaMessages / (STREAMS + 5);
    const codeMicros = await gatewayCodeMicros(quick ? 10_000 : 50_000);

    await cached();
    const cacheRun = await concurrent(CONCURRENT_SECONDS, CONCURRENCY, cached);

    const addedP50 = pct(seqGateway.latencies, 0.5) - pct(seqDirect.latencies, 0.5);
    const addedP99 = pct(seqGateway.latencies, 0.99) - pct(seqDirect.latencies, 0.99);
    const cAddedP50 = pct(concGateway.latencies, 0.5) - pct(concDirect.latencies, 0.5);
    const cAddedP99 = pct(concGateway.latencies, 0.99) - pct(concDirect.latencies, 0.99);
    const gatewayRps = concGateway.latencies.length / concGateway.seconds;
    const directRps = concDirect.latencies.length / concDirect.seconds;
    const streamRatio = tokGateway / secGateway / (tokDirect / secDirect);
    const successAll = seqErrors === 0 && concDirect.errors === 0 && concGateway.errors === 0 && cacheRun.errors === 0;

    const lines = [
      "## LLM gateway",
      "",
      `Command: \`node --import tsx bench/llm.ts${quick ? " --quick" : ""}\` (openloop server and two fake OpenAI servers as child processes, gRPC over HTTP/2 from the bench process; sequential calls and streams alternate between the two paths one by one).`,
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadAtStart.toFixed(1)} at the start; the client, the gateway and the fakes share these cores, and other work on the machine adds noise.`,
      "Baseline: the `openai` SDK (7.57.0) calling the same fake directly, in the same run. Generate uses cache mode BYPASS so every call goes upstream.",
      "",
      "| measure | openai SDK direct | through openloop | added / ratio |",
      "| --- | ---: | ---: | ---: |",
      `| Generate sequential p50 (${SEQUENTIAL} calls) | ${ms(pct(seqDirect.latencies, 0.5))} | ${ms(pct(seqGateway.latencies, 0.5))} | +${ms(addedP50)} |`,
      `| Generate sequential p99 | ${ms(pct(seqDirect.latencies, 0.99))} | ${ms(pct(seqGateway.latencies, 0.99))} | +${ms(addedP99)} |`,
      `| Generate concurrency ${CONCURRENCY} p50 (${CONCURRENT_SECONDS} s per path) | ${ms(pct(concDirect.latencies, 0.5))} | ${ms(pct(concGateway.latencies, 0.5))} | +${ms(cAddedP50)} |`,
      `| Generate concurrency ${CONCURRENCY} p99 | ${ms(pct(concDirect.latencies, 0.99))} | ${ms(pct(concGateway.latencies, 0.99))} | +${ms(cAddedP99)} |`,
      `| server CPU per sequential Generate | – | ${ms(serverCpuMs / SEQUENTIAL)} | |`,
      `| gateway code per Generate (in process, provider answering at once) | – | ${(codeMicros / 1000).toFixed(3)} ms | |`,
      `| Generate throughput, concurrency ${CONCURRENCY} (req/s) | ${rate(directRps)} | ${rate(gatewayRps)} | ${(gatewayRps / directRps).toFixed(2)}× |`,
      `| GenerateStream output tokens/s (${STREAMS} streams × ${STREAM_DELTAS} tokens) | ${rate(tokDirect / secDirect)} | ${rate(tokGateway / secGateway)} | ${(streamRatio * 100).toFixed(1)}% |`,
      `| GenerateStream CPU per 1,000 tokens (client; client + server) | ${ms((cpuDirectMs / tokDirect) * 1000)} | ${ms((cpuGatewayMs / tokGateway) * 1000)} | ${(cpuGatewayMs / tokGateway / (cpuDirectMs / tokDirect)).toFixed(2)}× |`,
      `| cached Generate, concurrency ${CONCURRENCY} (req/s) | – | ${rate(cacheRun.latencies.length / cacheRun.seconds)} | p50 ${ms(pct(cacheRun.latencies, 0.5))} |`,
      "",
      `Success: ${successAll ? "100% of calls on every path" : `errors: sequential ${seqErrors}, concurrent direct ${concDirect.errors}, gateway ${concGateway.errors}, cached ${cacheRun.errors}`}.`,
      "",
      `Reading the numbers: the gateway's own code (catalog, validation, limiter, metrics; measured with the cache bypassed, so without the cache key or single flight) costs ${(codeMicros / 1000).toFixed(3)} ms a call; the rest of the added latency and of the server's ${ms(serverCpuMs / SEQUENTIAL)} CPU per call is the extra hop: connect-node's gRPC client and server, HTTP/2, protobuf, and the server's own request to upstream through the same SDK. At concurrency 50 every process competes for the two shared cores, so the gateway path, which needs three processes to run for each call, loses most. In the stream test the fake sends all ${STREAM_DELTAS} tokens at once, so it measures parsing throughput: the server parses the upstream SSE with the same SDK the baseline uses and then forwards it (the deltas of one upstream read leave as one message, ${messagesPerStream.toFixed(1)} messages a stream here), so the gateway path costs the baseline's whole work plus the hop; a provider that paces tokens leaves the gateway idle between reads.`,
      "",
      "Targets (issue 3):",
      `- added p50 under 0.3 ms sequential: ${addedP50 < 0.3 ? "met" : "not met"} (+${ms(addedP50)})`,
      `- at least 5,000 requests/s through the gateway: ${gatewayRps >= 5000 ? "met" : "not met"} (${rate(gatewayRps)} req/s)`,
      `- streaming at least 90% of the SDK's tokens/s: ${streamRatio >= 0.9 ? "met" : "not met"} (${(streamRatio * 100).toFixed(1)}%)`,
      "",
    ];
    process.stdout.write(lines.join("\n"));
  } finally {
    sessions.abort();
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

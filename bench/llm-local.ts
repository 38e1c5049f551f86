// Local model bench: tokens/s and time to first token of the embedded SmolLM2-135M GGUF through
// LLMService.GenerateStream (the real server, started in this process, called by a real gRPC client
// over HTTP/2 on loopback), versus node-llama-cpp called directly in the same process with the same
// model, chat template, threads and parameters. Both run in one process so they get the same share
// of a busy machine; they alternate request by request so load drifts cancel out in paired ratios.
// Prints one markdown section.
//
//   node --import tsx bench/llm-local.ts [--quick]
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { getLlama, LlamaChat, resolveChatWrapper, type ChatHistoryItem } from "node-llama-cpp";
import { CacheMode, ChatMessageSchema, GenerateStreamRequestSchema, LLMService, Role } from "../gen/openloop/llm/v1/llm_service_pb.js";
import { EMBEDDED_MODEL_ID, EMBEDDED_MODEL_PATH } from "../src/llm/config.js";
import { defaultThreads } from "../src/llm/local/runtime.js";
import { startTestServer } from "../test/support/server.js";

const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 3 : 10;
const MAX_TOKENS = 128;
const CONTEXT_SIZE = 2048;
const SYSTEM = "You are a helpful assistant.";
const USER = "Write a long story about a dragon who learns to bake bread.";

interface Run {
  /** CPU time of the whole process during the request (llama.cpp's thread, server and client). */
  cpuMs: number;
  ttftMs: number;
  totalMs: number;
  tokens: number;
  text: string;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function withCpu(run: () => Promise<Run>): Promise<Run> {
  const start = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(start);
  return { ...result, cpuMs: (used.user + used.system) / 1000 };
}

async function main(): Promise<void> {
  execFileSync("bash", [path.resolve("scripts/fetch-model.sh")], { stdio: ["ignore", "ignore", "inherit"] });
  const loadBefore = os.loadavg();
  const threads = defaultThreads();

  // Baseline: node-llama-cpp in this process, as a direct user would call it.
  const llama = await getLlama({ build: "never", gpu: false });
  const model = await llama.loadModel({ modelPath: path.resolve(EMBEDDED_MODEL_PATH) });
  const context = await model.createContext({ contextSize: CONTEXT_SIZE, sequences: 1, threads });
  const sequence = context.getSequence();
  const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: resolveChatWrapper(model, { type: "jinjaTemplate" }) });
  const history: ChatHistoryItem[] = [{ type: "system", text: SYSTEM }, { type: "user", text: USER }, { type: "model", response: [] }];

  async function direct(): Promise<Run> {
    await sequence.clearHistory();
    const before = sequence.tokenMeter.usedOutputTokens;
    const t0 = performance.now();
    let ttftMs = 0;
    const res = await chat.generateResponse(history, {
      maxTokens: MAX_TOKENS,
      onTextChunk: (t) => {
        if (!ttftMs && t) ttftMs = performance.now() - t0;
      },
    });
    return { cpuMs: 0, ttftMs, totalMs: performance.now() - t0, tokens: sequence.tokenMeter.usedOutputTokens - before, text: res.response };
  }

  // openloop: the real server with the embedded default config (no llm section), a real gRPC client.
  const server = await startTestServer({ llm: {}, feedback: {}, feature: {}, registry: {}, pipeline: {} });
  const sessions = new Http2SessionManager(server.baseUrl);
  const client = createClient(LLMService, createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions }));
  const req = create(GenerateStreamRequestSchema, {
    model: EMBEDDED_MODEL_ID,
    messages: [create(ChatMessageSchema, { role: Role.SYSTEM, content: SYSTEM }), create(ChatMessageSchema, { role: Role.USER, content: USER })],
    maxTokens: MAX_TOKENS,
    cacheMode: CacheMode.BYPASS,
  });

  async function openloop(): Promise<Run> {
    const t0 = performance.now();
    let ttftMs = 0;
    let text = "";
    let tokens = 0;
    for await (const msg of client.generateStream(req)) {
      if (msg.event.case === "textDelta") {
        if (!ttftMs) ttftMs = performance.now() - t0;
        text += msg.event.value;
      } else if (msg.event.case === "done") {
        tokens = msg.event.value.usage?.outputTokens ?? 0;
      }
    }
    return { cpuMs: 0, ttftMs, totalMs: performance.now() - t0, tokens, text };
  }

  // Warm-up: loads the server's model and primes both paths.
  await direct();
  await openloop();

  const runs: { direct: Run[]; openloop: Run[] } = { direct: [], openloop: [] };
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate who goes first, so a drift in machine load does not favour either.
    if (i % 2 === 0) {
      runs.direct.push(await withCpu(direct));
      runs.openloop.push(await withCpu(openloop));
    } else {
      runs.openloop.push(await withCpu(openloop));
      runs.direct.push(await withCpu(direct));
    }
  }
  const loadAfter = os.loadavg();

  sessions.abort();
  await server.close();
  await context.dispose();
  await model.dispose();

  const summary = (rs: Run[]) => ({
    ttft: median(rs.map((r) => r.ttftMs)),
    tps: median(rs.map((r) => (r.tokens / r.totalMs) * 1000)),
    decode: median(rs.map((r) => ((r.tokens - 1) / (r.totalMs - r.ttftMs)) * 1000)),
    tokens: median(rs.map((r) => r.tokens)),
    cpu: median(rs.map((r) => r.cpuMs)),
  });
  const d = summary(runs.direct);
  const o = summary(runs.openloop);
  // Each openloop request against the direct one next to it, so slow drifts in machine load cancel out.
  const tps = (r: Run) => r.tokens / r.totalMs;
  const tpsRatios = runs.openloop.map((r, i) => tps(r) / tps(runs.direct[i]));
  const ttftRatios = runs.openloop.map((r, i) => runs.direct[i].ttftMs / r.ttftMs);
  const tpsRatio = median(tpsRatios);
  const ttftRatio = median(ttftRatios);
  const cpuRatio = d.cpu / o.cpu;
  const spread = (xs: number[]) => `${pct(Math.min(...xs))}-${pct(Math.max(...xs))}`;
  const sameText = runs.direct[0].text === runs.openloop[0].text;
  const met = (x: number) => (x >= 0.95 ? "met" : "not met");

  const lines = [
    "## Local model (embedded SmolLM2-135M-Instruct Q4_1)",
    "",
    "`node --import tsx bench/llm-local.ts`" + (quick ? " (run with `--quick`)" : ""),
    "",
    `Machine: ${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.availableParallelism()} cores shared with other work (load average ${loadBefore[0].toFixed(1)} at start, ${loadAfter[0].toFixed(1)} at end), Node ${process.version}, node-llama-cpp CPU build, ${threads} llama.cpp thread(s) in both paths.`,
    `Workload: one system + one user message (the model's own Jinja chat template), greedy decoding, max_tokens ${MAX_TOKENS}, context ${CONTEXT_SIZE}, a fresh sequence per request, response cache bypassed; ${ROUNDS} requests per path after one warm-up each, alternating, medians reported.`,
    "Baseline: node-llama-cpp `LlamaChat.generateResponse` with `onTextChunk`. openloop: `GenerateStream` over gRPC (HTTP/2, loopback) to the real server, timed at the client. Both in the bench process.",
    "",
    "| Path | Time to first token (ms) | Tokens/s (end to end) | Decode tokens/s | CPU ms per request | Output tokens |",
    "|---|---:|---:|---:|---:|---:|",
    `| node-llama-cpp direct | ${d.ttft.toFixed(1)} | ${d.tps.toFixed(1)} | ${d.decode.toFixed(1)} | ${d.cpu.toFixed(0)} | ${d.tokens} |`,
    `| openloop GenerateStream | ${o.ttft.toFixed(1)} | ${o.tps.toFixed(1)} | ${o.decode.toFixed(1)} | ${o.cpu.toFixed(0)} | ${o.tokens} |`,
    `| openloop vs direct (median of paired requests) | ${pct(ttftRatio)} (direct / openloop; pairs ${spread(ttftRatios)}) | ${pct(tpsRatio)} (pairs ${spread(tpsRatios)}) | | ${pct(cpuRatio)} (direct / openloop) | |`,
    "",
    `Both paths produced ${sameText ? "the same text" : "different texts (unexpected with greedy decoding)"}.`,
    `Target (at least 95% of direct): tokens/s ${met(tpsRatio)} (${pct(tpsRatio)}); time to first token ${met(ttftRatio)} (${pct(ttftRatio)}). ` +
      `CPU per request, which the machine's other load disturbs far less than wall time: openloop spends ${pct(o.cpu / d.cpu - 1)} more than direct (gateway, gRPC server and client, all in this process).`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();

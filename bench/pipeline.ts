// Pipeline bench: ExecutePipeline of a pipeline with three steps around its Generate (template,
// trim, length check) versus the bare LLMService.Generate of the same prompt, both through the
// same openloop server (a child process, gRPC over HTTP/2) to a fake OpenAI server (another child
// process), in the same run. Prints one markdown section.
//
//   node --import tsx bench/pipeline.ts [--quick]
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { CacheMode, GenerateRequestSchema, LLMService } from "../gen/openloop/llm/v1/llm_service_pb.js";
import { PipelineService } from "../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { startFakeOpenAI } from "../test/support/fake-openai.js";
import { spawnServer } from "../test/support/spawn.js";
import { spec } from "../test/pipeline/helpers.js";

const API_KEY = "sk-bench-0123456789";
const quick = process.argv.includes("--quick");
const CALLS = quick ? 400 : 4_000;
const ROUNDS = 8;

function startFake(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--fake"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`fake server exited with ${code}`)));
    child.stdout!.once("data", (d: Buffer) => resolve({ url: d.toString().trim(), child }));
  });
}

async function timed(n: number, call: () => Promise<unknown>, into: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await call();
    into.push(performance.now() - s);
  }
}

/** CPU time (user + system) a process has used, in milliseconds, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function pct(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

const ms = (v: number) => `${v.toFixed(3)} ms`;

async function main(): Promise<void> {
  const fake = await startFake();
  const server = await spawnServer({
    config: {
      log: { level: "warn" },
      llm: {
        providers: { openai: { kind: "openai", apiKey: API_KEY, baseUrl: fake.url, maxConcurrency: 256, maxQueue: 4096 } },
        models: [{ id: "bench", provider: "openai", upstreamModel: "gpt-bench" }],
        // Both paths must reach the upstream on every call.
        cache: { enabled: false },
      },
    },
  });
  const sessions = new Http2SessionManager(server.baseUrl);
  const transport = createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions });
  const llm = createClient(LLMService, transport);
  const pipelines = createClient(PipelineService, transport);
  try {
    await pipelines.createPipeline({
      name: "bench",
      spec: spec({
        inputVariables: ["topic"],
        preprocess: [{ template: { template: "Write one sentence about {{topic}}." } }],
        generate: [{ llmGenerate: { model: "bench" } }],
        postprocess: [{ trim: {} }],
        validate: [{ length: { min: 1, max: 200 } }],
      }),
    });
    const bare = () => llm.generate(create(GenerateRequestSchema, { model: "bench", prompt: "Write one sentence about owls.", cacheMode: CacheMode.BYPASS }));
    const viaPipeline = async () => {
      const res = await pipelines.executePipeline({ name: "bench", inputs: { topic: "owls" } });
      if (res.output?.kind.value !== "Owls hunt at night.") throw new Error("unexpected pipeline output");
    };

    // Warm up connections and JIT on both paths.
    await timed(500, bare, []);
    await timed(500, viaPipeline, []);

    // Latency: alternate single calls, so drift on a shared machine hits both paths alike.
    const bareMs: number[] = [];
    const pipelineMs: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      await timed(1, bare, bareMs);
      await timed(1, viaPipeline, pipelineMs);
    }
    // Server CPU per call: blocks of each path, alternated, measured from the server's /proc entry.
    let bareCpu = 0;
    let pipelineCpu = 0;
    for (let round = 0; round < ROUNDS; round++) {
      let c = cpuMs(server.pid);
      await timed(CALLS / ROUNDS, bare, []);
      bareCpu += cpuMs(server.pid) - c;
      c = cpuMs(server.pid);
      await timed(CALLS / ROUNDS, viaPipeline, []);
      pipelineCpu += cpuMs(server.pid) - c;
    }
    const cpuPerCall = (total: number) => total / CALLS;

    const added = (q: number) => pct(pipelineMs, q) - pct(bareMs, q);
    const addedP50 = added(0.5);
    const lines = [
      "## Pipeline",
      "",
      `Command: \`node --import tsx bench/pipeline.ts${quick ? " --quick" : ""}\` (openloop server and a fake OpenAI server as child processes, gRPC over HTTP/2 from the bench process, one call at a time, the two paths alternating call by call).`,
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; the client, the server and the fake share these cores, and other work on the machine adds noise.`,
      "Pipeline: template (preprocess), llm_generate, trim (postprocess), length (validate); it calls LLMService.Generate in process through the public contract (router transport, full serialization). Baseline: the bare Generate of the same prompt on the same server, in the same run. LLM cache off, so both reach the upstream every time; no hooks. Server CPU per call is read from /proc for the server process over alternating blocks of each path; most of the pipeline's added CPU is the in-process LLMService call (a router transport that serializes both ways), not the steps.",
      "",
      `| measure (${CALLS} calls each) | bare Generate | ExecutePipeline | added |`,
      "| --- | ---: | ---: | ---: |",
      `| p50 | ${ms(pct(bareMs, 0.5))} | ${ms(pct(pipelineMs, 0.5))} | +${ms(addedP50)} |`,
      `| p90 | ${ms(pct(bareMs, 0.9))} | ${ms(pct(pipelineMs, 0.9))} | +${ms(added(0.9))} |`,
      `| p99 | ${ms(pct(bareMs, 0.99))} | ${ms(pct(pipelineMs, 0.99))} | +${ms(added(0.99))} |`,
      `| server CPU per call | ${ms(cpuPerCall(bareCpu))} | ${ms(cpuPerCall(pipelineCpu))} | +${ms(cpuPerCall(pipelineCpu - bareCpu))} |`,
      "",
      "Targets (issue 7):",
      `- the pipeline's added p50 under 0.5 ms: ${addedP50 < 0.5 ? "met" : "not met"} (+${ms(addedP50)})`,
      "",
    ];
    process.stdout.write(lines.join("\n"));
  } finally {
    sessions.abort();
    await server.stop();
    fake.child.kill();
  }
}

// Child role: a fake OpenAI server answering every request with a short answer.
if (process.argv.includes("--fake")) {
  const fake = await startFakeOpenAI({ apiKey: API_KEY });
  fake.fallback = { kind: "answer", deltas: ["  Owls ", "hunt at night. "], inputTokens: 20, outputTokens: 6 };
  fake.requests.push = () => 0;
  process.stdout.write(`${fake.baseUrl}\n`);
} else {
  await main();
}

// Probe of the gRPC floor at concurrency 1 (not a bench of npm run bench): Health/Check from the
// Go bench client against a bare grpc-js server, the production server, and a bare HTTP/2 responder
// (one-write-h2.ts) that sends HEADERS, DATA and trailers in one write ("one") or the trailers a
// turn later as node:http2 does ("split"), in alternating rounds. Prints p50/p99 and server CPU per call.
//
//   npm run build   # the production server runs from dist/
//   flock /tmp/openloop-bench.lock node --import tsx bench/support/floor-probe.ts [rounds] [seconds]
import { runtimeEnv } from "../../test/support/runtime-env.js";
import { spawnServer } from "../../test/support/spawn.js";
import { ROOT } from "../../test/support/tools.js";
import { startBareGrpcJs } from "./bare-grpc-js.js";
import { runGoFeatureClient } from "./go-feature-client.js";
import { startOneWriteH2 } from "./one-write-h2.js";
import { startBareNodeH2 } from "./bare-node-h2.js";
import { cpuMicros, median } from "./proc.js";

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 4);

const bare = await startBareGrpcJs();
const nodeH2 = await startBareNodeH2();
const one = await startOneWriteH2("one");
const split = await startOneWriteH2("split");
const openloop = await spawnServer({ command: { args: ["dist/src/main.js"], cwd: ROOT }, env: runtimeEnv() });
const servers = [
  { name: "bare @grpc/grpc-js (node:http2)", port: bare.port, pid: bare.pid },
  { name: "bare node:http2 stream API, no gRPC library", port: nodeH2.port, pid: nodeH2.pid },
  { name: "openloop, compiled (its own HTTP/2 transport)", port: openloop.port, pid: openloop.pid },
  { name: "bare HTTP/2 by hand, trailers a turn later (as node:http2)", port: split.port, pid: split.pid },
  { name: "bare HTTP/2 by hand, one write per response", port: one.port, pid: one.pid },
];
const results = new Map<string, { p50: number[]; p99: number[]; cpu: number[] }>();
try {
  for (const s of servers) await runGoFeatureClient(s.port, "health", { seconds: 1, entities: 1, batch: 1 });
  for (let r = 0; r < rounds; r++) {
    for (const s of servers) {
      const c0 = cpuMicros(s.pid);
      const res = await runGoFeatureClient(s.port, "health", { seconds, entities: 1, batch: 1 });
      const cpu = (cpuMicros(s.pid) - c0) / res.count;
      const acc = results.get(s.name) ?? { p50: [], p99: [], cpu: [] };
      acc.p50.push(res.p50Ms);
      acc.p99.push(res.p99Ms);
      acc.cpu.push(cpu);
      results.set(s.name, acc);
    }
  }
} finally {
  bare.stop();
  nodeH2.stop();
  one.stop();
  split.stop();
  await openloop.stop();
}
const f = (xs: number[], d = 3) => `${median(xs).toFixed(d)} (${xs.map((x) => x.toFixed(d)).join(", ")})`;
console.log(`| server | p50 ms (rounds) | p99 ms (rounds) | server CPU µs/call |`);
console.log(`| --- | ---: | ---: | ---: |`);
for (const [name, r] of results) console.log(`| ${name} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.cpu, 0)} |`);

// What tracing costs per call (README, "Traces"): the production server (src/main.ts, as the
// platform bench runs it) with and without an OTLP exporter (telemetry.otlp.endpoint, to a
// receiver in this process that reads and drops every export), ghz on Health/Check at
// concurrency 50, rounds alternating between the two. Prints a markdown table.
//
//   flock /tmp/openloop-bench.lock node --import tsx bench/support/tracing-cost.ts [--rounds 5] [--seconds 5]
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { spawnServer, type SpawnedServer } from "../../test/support/spawn.js";
import { HEALTH_PROTO } from "./bare-grpc-js.js";
import { ghz, type GhzResult } from "./ghz.js";
import { median, settle } from "./proc.js";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg("rounds", 5);
const SECONDS = arg("seconds", 5);
const CONCURRENCY = 50;

let exports = 0;
const receiver = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    exports++;
    res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
  });
});
receiver.listen(0, "127.0.0.1");
await once(receiver, "listening");
const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

const servers: Record<"off" | "on", SpawnedServer> = {
  off: await spawnServer(),
  on: await spawnServer({ env: { OPENLOOP_OTLP_ENDPOINT: endpoint } }),
};
const load = (s: SpawnedServer, seconds: number, pid?: number) =>
  ghz(s.port, { call: "grpc.health.v1.Health/Check", data: '{"service":""}', proto: HEALTH_PROTO }, { seconds, concurrency: CONCURRENCY, pid });
try {
  await Promise.all([settle(servers.off.pid), settle(servers.on.pid)]);
  for (const s of Object.values(servers)) await load(s, 2);
  const runs: Record<"off" | "on", GhzResult[]> = { off: [], on: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // The order alternates, so neither side always runs second.
    const order = round % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const);
    for (const name of order) runs[name].push(await load(servers[name], SECONDS, servers[name].pid));
  }
  const cpuRatios = runs.on.map((r, i) => r.cpuUsPerCall / runs.off[i].cpuUsPerCall);
  const rpsRatios = runs.on.map((r, i) => r.rps / runs.off[i].rps);
  const f = (x: number, d = 0) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  console.log(`Health/Check, ghz at concurrency ${CONCURRENCY}, ${ROUNDS} alternated rounds of ${SECONDS} s (medians; exports received: ${exports})\n`);
  console.log("| tracing | req/s | server CPU µs/call | errors |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const name of ["off", "on"] as const) {
    const rs = runs[name];
    console.log(`| ${name} | ${f(median(rs.map((r) => r.rps)))} | ${f(median(rs.map((r) => r.cpuUsPerCall)), 1)} | ${rs.reduce((n, r) => n + r.errors, 0)} |`);
  }
  console.log(`\nOn / off per round: CPU per call ${cpuRatios.map((x) => f(x, 2)).join(", ")} (median ${f(median(cpuRatios), 2)}×); throughput ${rpsRatios.map((x) => f(x, 2)).join(", ")} (median ${f(median(rpsRatios), 2)}×)`);
} finally {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  receiver.close();
}

// A measuring device, not a server: the production bindings of health only, served by our own
// gRPC transport (src/platform/grpc/native-server.ts) on a bare port, with no listener in
// front, so that an HTTP/2 conformance checker (h2spec) speaks to the transport itself.
//
//   node --import tsx bench/support/own-h2-only.ts   (prints its port)
//   h2spec -p PORT -h 127.0.0.1 --strict
import net from "node:net";
import { pino } from "pino";
import { createNativeGrpcServer } from "../../src/platform/grpc/native-server.js";
import { HealthState, healthService } from "../../src/platform/health.js";
import { createRpcObserver } from "../../src/platform/observe.js";
import { Registry } from "prom-client";

const log = pino({ level: "silent" });
const grpc = createNativeGrpcServer({
  bindings: [healthService(new HealthState([]))],
  observer: createRpcObserver(new Registry(), log),
  auth: undefined,
  maxMessageBytes: 4 << 20,
  defaultDeadlineMs: 0,
  keepalive: { timeMs: 0, timeoutMs: 20_000, minClientPingIntervalMs: 0 },
  shutdown: new AbortController().signal,
  log,
});
const server = net.createServer({ noDelay: true }, (socket) => grpc.inject(socket));
server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));

// Vitest global setup: a private Redis for the whole run, unless OPENLOOP_TEST_REDIS_URL
// already points at one. Workers inherit the variable.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import net from "node:net";

export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.OPENLOOP_TEST_REDIS_URL) return async () => {};
  if (spawnSync("redis-server", ["--version"], { stdio: "ignore" }).error) {
    throw new Error(
      "redis-server is not installed: tests need it (run `npm test`, which installs it, or `apt-get install redis-server`), " +
        "or set OPENLOOP_TEST_REDIS_URL to a Redis to use",
    );
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    try {
      await waitForPong(port, child);
    } catch (err) {
      lastError = err;
      child.kill("SIGKILL");
      continue;
    }
    process.env.OPENLOOP_TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
    return async () => {
      delete process.env.OPENLOOP_TEST_REDIS_URL;
      await stop(child);
    };
  }
  throw new Error(`could not start a private redis-server: ${String(lastError)}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPong(port: number, child: ChildProcess): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr.trim()}`);
    if (await ping(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within 10 s: ${stderr.trim()}`);
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let data = "";
    socket.setTimeout(1000, () => socket.destroy());
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      data += d.toString();
      if (data.includes("\r\n")) {
        socket.end();
        resolve(data.startsWith("+PONG"));
      }
    });
    socket.on("error", () => resolve(false));
    socket.on("close", () => resolve(false));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

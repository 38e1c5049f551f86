// Every accepted socket has TCP_NODELAY: without it, the last small write of a response can
// wait ~40 ms for the client's delayed ACK (Nagle's algorithm). The server runs in this
// process, so the test finds the server's end of a connection among its own file
// descriptors and asks the kernel for the option through a Python child that inherits it.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";

/** The fd of this process's socket whose local port is `local` and remote port `remote` (IPv4 loopback). */
function serverSideFd(local: number, remote: number): number {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, "0");
  const line = readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[1]?.endsWith(`:${hex(local)}`) && f[2]?.endsWith(`:${hex(remote)}`));
  if (!line) throw new Error(`no TCP socket ${local} <- ${remote} in /proc/net/tcp`);
  const target = `socket:[${line[9]}]`;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === target) return Number(fd);
    } catch {
      // closed meanwhile
    }
  }
  throw new Error(`socket inode ${line[9]} is not open in this process`);
}

/** TCP_NODELAY of a socket of this process, read by a child that inherits it as fd 3. */
function noDelay(fd: number): Promise<number> {
  const script = "import socket; s = socket.socket(fileno=3); print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)); s.detach()";
  return new Promise((resolve, reject) => {
    const child = spawn("python3", ["-c", script], { stdio: ["ignore", "pipe", "inherit", fd] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`python3 exited with ${code}`))));
  });
}

const fixtures = path.join(import.meta.dirname, "../support/fixtures");
const tlsFiles = { certFile: path.join(fixtures, "tls-cert.pem"), keyFile: path.join(fixtures, "tls-key.pem") };

/** Opens a connection (over TLS with `alpn`), sends `first` so the server routes it, and returns the server's fd for it. */
async function accepted(port: number, first: Buffer | string, alpn?: string): Promise<{ fd: number; socket: net.Socket }> {
  const socket = alpn
    ? tls.connect({ port, host: "127.0.0.1", ca: readFileSync(tlsFiles.certFile), servername: "localhost", ALPNProtocols: [alpn] })
    : net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once(alpn ? "secureConnect" : "connect", resolve).once("error", reject));
  socket.on("error", () => {});
  socket.write(first);
  await new Promise((resolve) => socket.once("data", resolve)); // the server answered: it holds the connection
  return { fd: serverSideFd(port, socket.localPort!), socket };
}

const HTTP1_GET = "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n";
// The client preface and an empty SETTINGS: the server answers with its SETTINGS.
const H2_PREFACE = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

describe("TCP_NODELAY on accepted sockets", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s?.close());

  it("is set on an HTTP/1.1 connection", async () => {
    const { fd, socket } = await accepted(s.port, HTTP1_GET);
    try {
      expect(await noDelay(fd)).not.toBe(0);
    } finally {
      socket.destroy();
    }
  });

  it("is set on an HTTP/2 connection", async () => {
    const { fd, socket } = await accepted(s.port, H2_PREFACE);
    try {
      expect(await noDelay(fd)).not.toBe(0);
    } finally {
      socket.destroy();
    }
  });
});

describe("TCP_NODELAY on accepted TLS sockets", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { tls: tlsFiles } });
  });
  afterAll(() => s?.close());

  it.each([
    ["http/1.1", HTTP1_GET],
    ["h2", H2_PREFACE],
  ] as const)("is set on a connection that chose %s by ALPN", async (alpn, first) => {
    const { fd, socket } = await accepted(s.port, first, alpn);
    try {
      expect(await noDelay(fd)).not.toBe(0);
    } finally {
      socket.destroy();
    }
  });
});

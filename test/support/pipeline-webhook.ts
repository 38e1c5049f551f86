// A real HTTP receiver on loopback for pipeline webhooks: records every POST and answers with
// scripted statuses (or holds the answer until a test releases it).
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedHook {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** `location` is sent as the Location header (for redirects). */
export type HookReply = { status: number; location?: string } | { hold: Promise<void>; status: number };

export class WebhookReceiver {
  readonly received: ReceivedHook[] = [];
  /** Answers for the next requests, in order; 200 when empty. */
  readonly replies: HookReply[] = [];
  private readonly waiters: Array<() => void> = [];
  private readonly sockets = new Set<import("node:net").Socket>();
  private port = 0;

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<WebhookReceiver> {
    let receiver!: WebhookReceiver;
    const server = http.createServer((req, res) => void receiver.handle(req, res));
    receiver = new WebhookReceiver(server);
    server.on("connection", (s) => {
      receiver.sockets.add(s);
      s.on("close", () => receiver.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    receiver.port = (server.address() as AddressInfo).port;
    return receiver;
  }

  url(path = "/hook"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Resolves once `predicate` holds (checked after each request). */
  async until(predicate: () => boolean): Promise<void> {
    while (!predicate()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reply = this.replies.shift() ?? { status: 200 };
    this.received.push({ path: req.url ?? "/", headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown> });
    for (const w of this.waiters.splice(0)) w();
    if ("hold" in reply) await reply.hold;
    res.writeHead(reply.status, { "content-type": "text/plain", ...("location" in reply && reply.location ? { location: reply.location } : {}) });
    res.end("ok");
  }
}

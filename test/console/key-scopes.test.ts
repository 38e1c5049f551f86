// The Connection page shows what the current API key may do (GET /auth/whoami), in a real
// headless Chromium against the real server: same origin over Connect, and from another
// origin over gRPC-Web (CORS preflight for the authorization header).
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { startStaticServer, type StaticServer } from "./static-server.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIST = path.join(ROOT, "console/dist");
const ADMIN = "console-admin-key-0123456789";
const READER = "console-reader-key-0123456789";

let server: TestServer;
let other: StaticServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  execFileSync("bash", [path.join(ROOT, "scripts/build-console.sh")], { stdio: ["ignore", "ignore", "inherit"] });
  other = await startStaticServer(DIST);
  server = await startTestServer(
    {
      server: {
        apiKeys: [ADMIN, { name: "reader", key: READER, scopes: ["features:read", "registry:read"], limits: { requestsPerSecond: 20, burst: 40 } }],
        corsOrigins: [`http://127.0.0.1:${other.port}`],
        consoleDir: DIST,
      },
    },
    { cwd: ROOT },
  );
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"] });
  page = await (await browser.newContext()).newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await other?.close();
});

async function saveConnection(p: Page, key: string, opts: { baseUrl?: string; transport?: "Connect" | "gRPC-Web" } = {}): Promise<void> {
  await p.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Connection", exact: true }).click();
  if (opts.baseUrl) await p.getByLabel("Server URL").fill(opts.baseUrl);
  await p.getByLabel(opts.transport ?? "Connect", { exact: true }).check();
  await p.getByLabel("API key").fill(key);
  await p.getByRole("button", { name: "Save and test" }).click();
}

const keyPanel = (p: Page) => p.getByRole("region", { name: "This key" });

describe("the key panel of the Connection page", () => {
  test("shows a scoped key's name, scopes and limits, and that the connection works without llm:read", async () => {
    await page.goto(`${server.baseUrl}/#/settings`);
    await saveConnection(page, READER);
    await expect.poll(() => page.getByRole("status").filter({ hasText: "Connected" }).count()).toBe(1);
    expect(await page.getByRole("status").filter({ hasText: "Connected" }).textContent()).toBe("Connected. This key may not list models.");
    const panel = keyPanel(page);
    expect(await panel.locator("dd code").textContent()).toBe("reader");
    expect(await panel.getByRole("list", { name: "Scopes" }).getByRole("listitem").allTextContents()).toEqual(["features:read", "registry:read"]);
    expect(await panel.locator("dd").last().textContent()).toBe("20 requests/s (bursts of 40)");
  });

  test("shows it again when the page is opened later, from the key kept for the tab", async () => {
    await page.goto(`${server.baseUrl}/#/chat`);
    await page.goto(`${server.baseUrl}/#/settings`);
    await keyPanel(page).locator("dd code").waitFor();
    expect(await keyPanel(page).locator("dd code").textContent()).toBe("reader");
  });

  test("shows a plain key as admin, from another origin over gRPC-Web", async () => {
    const p = await browser.newPage();
    try {
      await p.goto(`http://127.0.0.1:${other.port}/#/settings`);
      await saveConnection(p, ADMIN, { baseUrl: server.baseUrl, transport: "gRPC-Web" });
      await p.getByRole("status").filter({ hasText: "Connected: the server lists" }).waitFor();
      expect(await keyPanel(p).locator("dd code").textContent()).toBe("key-1");
      expect(await keyPanel(p).getByRole("list", { name: "Scopes" }).getByRole("listitem").allTextContents()).toEqual(["admin"]);
      expect(await keyPanel(p).textContent()).toContain("admin allows every call.");
    } finally {
      await p.close();
    }
  });

  test("says that a wrong key grants nothing, beside the UNAUTHENTICATED error", async () => {
    await page.goto(`${server.baseUrl}/#/settings`);
    await saveConnection(page, "not-a-key-0123456789");
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.locator(".code").textContent()).toBe("UNAUTHENTICATED");
    expect(await keyPanel(page).textContent()).toContain("The server did not accept this key");
  });
});

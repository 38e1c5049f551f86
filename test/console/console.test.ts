// The web console in a real headless Chromium (Debian's, driven by playwright-core),
// against the real server: served by openloop itself, and from another origin over
// Connect and gRPC-Web. Every page is audited with axe-core and
// screenshotted at laptop and phone widths into test-output/console/.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LLMService } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { startStaticServer, type StaticServer } from "./static-server.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIST = path.join(ROOT, "console/dist");
const SHOTS = path.join(ROOT, "test-output/console");
const API_KEY = "console-test-key-0123456789";
const MODEL = "smollm2-135m-instruct";
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let server: TestServer;
let other: StaticServer;
let otherOrigin: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  // Idempotent: a no-op when console/dist is already built from the current sources.
  execFileSync("bash", [path.join(ROOT, "scripts/build-console.sh")], { stdio: ["ignore", "ignore", "inherit"] });
  mkdirSync(SHOTS, { recursive: true });
  other = await startStaticServer(DIST);
  otherOrigin = `http://127.0.0.1:${other.port}`;
  server = await startTestServer(
    { server: { apiKeys: [API_KEY], corsOrigins: [otherOrigin], consoleDir: DIST } },
    { apiKey: API_KEY, cwd: ROOT },
  );
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  context = await browser.newContext({ viewport: LAPTOP });
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await other?.close();
});

/** Opens the Connection page, fills it in and saves; returns the result line's text. */
async function connect(p: Page, opts: { key: string; baseUrl?: string; transport?: "Connect" | "gRPC-Web" }): Promise<void> {
  await navigate(p, "Connection");
  if (opts.baseUrl) await p.getByLabel("Server URL").fill(opts.baseUrl);
  await p.getByLabel(opts.transport ?? "Connect", { exact: true }).check();
  await p.getByLabel("API key").fill(opts.key);
  await p.getByRole("button", { name: "Save and test" }).click();
}

/** Follows a link of the top navigation. */
async function navigate(p: Page, name: string): Promise<void> {
  await p.getByRole("navigation", { name: "Pages" }).getByRole("link", { name, exact: true }).click();
}

/**
 * Checks the current page with axe-core (WCAG 2.1 A/AA and best practices) at laptop
 * and phone widths and in the dark scheme, and saves a screenshot of each.
 */
async function inspect(p: Page, name: string): Promise<void> {
  await p.evaluate(() => window.scrollTo(0, 0));
  if (!(await p.evaluate(() => "axe" in window))) await p.addScriptTag({ path: AXE });
  const audit = () =>
    p.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: { id: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
      const res = await axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] });
      return res.violations.map((v) => `${v.id} (${v.help}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    });
  expect(await audit()).toEqual([]);
  await p.screenshot({ path: path.join(SHOTS, `${name}-laptop.png`), fullPage: true });
  await p.setViewportSize(PHONE);
  expect(await audit()).toEqual([]);
  await p.screenshot({ path: path.join(SHOTS, `${name}-phone.png`), fullPage: true });
  await p.setViewportSize(LAPTOP);
  // The dark scheme has its own colours: contrast is checked there too.
  await p.emulateMedia({ colorScheme: "dark" });
  expect(await audit()).toEqual([]);
  await p.screenshot({ path: path.join(SHOTS, `${name}-dark.png`), fullPage: true });
  await p.emulateMedia({ colorScheme: "light" });
}

/** The value shown for `label` in a figures panel of the chat page. */
function statValue(p: Page, label: string, panel = "Last answer") {
  return p.getByRole("region", { name: panel }).locator("dt", { hasText: new RegExp(`^${label}$`) }).locator("xpath=following-sibling::dd[1]");
}

describe("the console served by openloop", () => {
  test("is served at / and shows UNAUTHENTICATED for a wrong API key", async () => {
    await page.goto(`${server.baseUrl}/`);
    await expect(page.title()).resolves.toContain("openloop console");
    await connect(page, { key: "not-the-right-key-42" });
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.locator(".code").textContent()).toBe("UNAUTHENTICATED");
    expect(await alert.textContent()).toContain("invalid API key");
    await inspect(page, "connection-error");
  });

  test("connects with the right API key, kept for the session", async () => {
    await connect(page, { key: API_KEY });
    await page.getByText(/^Connected: the server lists \d+ models?\.$/).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem("openloop.apiKey"))).toBe(API_KEY);
    expect(await page.evaluate(() => localStorage.getItem("openloop.server") ?? "")).not.toContain(API_KEY);
    await expect(page.locator("#conn-status").textContent()).resolves.toContain("key set");
    await inspect(page, "connection");
  });

  test("can be used from the keyboard, with the focus always visible", async () => {
    await page.goto(`${server.baseUrl}/#/chat`);
    await page.reload(); // a fresh document: nothing focused yet
    const active = () => page.evaluate(() => ({ id: document.activeElement?.id ?? "", text: document.activeElement?.textContent?.trim() ?? "", outline: getComputedStyle(document.activeElement!).outlineStyle }));
    await page.keyboard.press("Tab");
    expect(await active()).toMatchObject({ text: "Skip to content", outline: "solid" });
    await page.keyboard.press("Enter");
    expect((await active()).id).toBe("main");
    // Following a link moves the focus to the new page's heading, so screen readers announce it.
    await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Registry" }).focus();
    expect((await active()).outline).toBe("solid");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement?.id === "page-title");
    expect((await active()).text).toBe("Model registry");
    await page.keyboard.press("Tab");
    expect((await active()).outline).toBe("solid");
  });

  test("streams a chat answer from the local model token by token and shows its usage", async () => {
    await navigate(page, "Chat");
    await page.getByLabel("Model", { exact: true }).selectOption(MODEL);
    await page.getByLabel("Max tokens").fill("24");
    await page.getByLabel("Seed").fill("7");
    await page.getByLabel("Cache").selectOption({ label: "Use the cache" });
    await page.getByLabel("Message").fill("Name three colours.");
    // Record the answer's text each time it changes while the stream is still open.
    await page.evaluate(() => {
      const w = window as unknown as { partials: string[] };
      w.partials = [];
      new MutationObserver(() => {
        const answer = document.querySelector(".turn.assistant .content");
        if (answer?.getAttribute("aria-busy") === "true") w.partials.push(answer.textContent ?? "");
      }).observe(document.querySelector(".transcript")!, { childList: true, subtree: true, characterData: true });
    });
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator('.turn.assistant .content[aria-busy="false"]').waitFor();

    const answer = (await page.locator(".turn.assistant .content").textContent()) ?? "";
    expect(answer.length).toBeGreaterThan(0);
    const partials = await page.evaluate(() => (window as unknown as { partials: string[] }).partials.filter(Boolean));
    expect(partials.length).toBeGreaterThan(1); // more than one state before the end: it streamed
    expect(answer.startsWith(partials[0])).toBe(true);
    expect(Number(await statValue(page, "Text pieces streamed").textContent())).toBeGreaterThan(1);
    const output = Number(await statValue(page, "Output tokens").textContent());
    expect(output).toBeGreaterThan(0);
    expect(output).toBeLessThanOrEqual(24);
    expect(Number(await statValue(page, "Input tokens").textContent())).toBeGreaterThan(0);
    expect(await page.getByRole("region", { name: "Last answer" }).locator(".model-line").textContent()).toContain(MODEL);
    expect(await statValue(page, "Time to first token").textContent()).toMatch(/\d+(\.\d+)? m?s$/);
    expect(await statValue(page, "Latency").textContent()).toMatch(/\d+(\.\d+)? m?s$/);
    expect(await statValue(page, "Cached").textContent()).toBe("no");
    // The gateway's own figures for the model (GetMetrics) are shown beside the client's.
    await page.getByRole("region", { name: "On the server" }).waitFor();
    expect(Number(await statValue(page, "Requests", "On the server").textContent())).toBeGreaterThanOrEqual(1);
    await inspect(page, "chat");

    // The same request again in a new conversation is answered from the cache, with the same text.
    await page.getByRole("button", { name: "New conversation" }).click();
    await page.getByLabel("Message").fill("Name three colours.");
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator('.turn.assistant .content[aria-busy="false"]').waitFor();
    expect(await statValue(page, "Cached").textContent()).toBe("yes");
    await expect.poll(async () => Number(await statValue(page, "Cache hits", "On the server").textContent())).toBeGreaterThanOrEqual(1);
    expect(await page.locator(".turn.assistant .content").textContent()).toBe(answer);
  });

  test("stops a streaming answer with Stop and keeps what arrived", async () => {
    const llm = createClient(LLMService, server.connect);
    const outputTokens = async () => (await llm.getMetrics({ model: MODEL })).models[0]?.outputTokens ?? 0n;
    const tokensBefore = await outputTokens();
    await page.getByRole("button", { name: "New conversation" }).click();
    await page.getByLabel("Max tokens").fill("2000");
    await page.getByLabel("Cache").selectOption({ label: "Bypass the cache" });
    await page.getByLabel("Message").fill("Count from 1 to 1000, separated by commas.");
    await page.getByRole("button", { name: "Send" }).click();
    const answer = page.locator(".turn.assistant .content");
    await answer.filter({ hasText: /\S/ }).waitFor(); // the first tokens are in
    await page.getByRole("button", { name: "Stop" }).click();
    await page.locator(".turn.assistant").getByText("Stopped.").waitFor();
    expect(await answer.getAttribute("aria-busy")).toBe("false");
    expect(((await answer.textContent()) ?? "").length).toBeGreaterThan(0);
    expect(await statValue(page, "Finish reason").textContent()).toBe("did not finish");
    expect(await page.getByRole("button", { name: "Send" }).isEnabled()).toBe(true);
    expect(await page.locator(".turn.assistant [role=alert]").count()).toBe(0);
    // Stopping closed the call: the server's generation ended too, long before 2000 tokens.
    // (Generous wait: on a loaded 2-core machine the stop reaches llama.cpp between tokens.)
    await expect.poll(async () => (await llm.getMetrics({ model: MODEL })).models[0]?.inFlight, { timeout: 45_000 }).toBe(0n);
    expect(Number((await outputTokens()) - tokensBefore)).toBeLessThan(1500);
  }, 90_000);

  test("lists a version registered through the API, with its digest, metadata and a verified download", async () => {
    const registry = createClient(RegistryService, server.connect);
    const data = new TextEncoder().encode("weights of a very small model\n");
    const sha256 = createHash("sha256").update(data).digest("hex");
    await registry.registerModelVersionUnary({
      header: { name: "console-demo", version: "1.2.0", type: "onnx", metadata: { team: "web" }, tags: ["demo"], description: "registered by the console test" },
      artifacts: [{ name: "model.onnx", data }],
    });
    await registry.setAlias({ name: "console-demo", alias: "champion", version: "1.2.0" });

    await navigate(page, "Registry");
    const row = page.getByRole("row", { name: /console-demo/ });
    await row.waitFor();
    expect(await row.textContent()).toContain("1.2.0");
    expect(await row.textContent()).toContain("champion → 1.2.0");
    await row.getByRole("link", { name: "console-demo" }).click();

    const card = page.locator("article.version", { hasText: "Version 1.2.0" });
    await card.waitFor();
    expect(await card.locator("code.digest").textContent()).toBe(sha256);
    expect(await card.textContent()).toContain("team");
    expect(await card.textContent()).toContain("champion");
    const download = page.waitForEvent("download");
    await card.getByRole("button", { name: "Download model.onnx of version 1.2.0" }).click();
    await card.getByText("SHA-256 verified").waitFor();
    expect((await download).suggestedFilename()).toBe("model.onnx");
    await inspect(page, "registry-model");
  });

  test("registers a version from the form with a file and lists it", async () => {
    await navigate(page, "Registry");
    await page.getByLabel("Name", { exact: true }).fill("console-upload");
    await page.getByLabel("Type", { exact: true }).fill("linear");
    await page.getByLabel("Metadata").fill("source=browser");
    await page.getByLabel("Artifacts").setInputFiles({ name: "weights.json", mimeType: "application/json", buffer: Buffer.from('{"w":[1,2]}') });
    await page.getByRole("button", { name: "Register version" }).click();
    await page.getByRole("status").getByText("Registered console-upload version 1").waitFor();
    await page.getByRole("row", { name: /console-upload/ }).waitFor();
    await inspect(page, "registry");

    const got = await createClient(RegistryService, server.connect).getModelVersion({ name: "console-upload" });
    expect(got.modelVersion?.metadata).toEqual({ source: "browser" });
    expect(got.modelVersion?.artifacts[0]?.sha256).toBe(createHash("sha256").update('{"w":[1,2]}').digest("hex"));
  });

  test("registers a version with one file by an HTTP PUT of the file, which the browser streams", async () => {
    await navigate(page, "Registry");
    await page.getByLabel("Name", { exact: true }).fill("console-put");
    await page.getByLabel("Version", { exact: true }).fill("2.0.0");
    await page.getByLabel("Type", { exact: true }).fill("onnx");
    await page.getByLabel("Tags").fill("big");
    const bytes = randomBytes(3 * 1024 * 1024 + 5);
    await page.getByLabel("Artifacts").setInputFiles({ name: "model.onnx", mimeType: "application/octet-stream", buffer: bytes });
    const put = page.waitForRequest((r) => r.method() === "PUT" && r.url().endsWith("/registry/v1/models/console-put/versions/2.0.0/artifacts/model.onnx"));
    await page.getByRole("button", { name: "Register version" }).click();
    expect(JSON.parse((await put).headers()["openloop-model-version"]!)).toMatchObject({ name: "console-put", version: "2.0.0", type: "onnx", tags: ["big"] });
    await page.getByRole("status").getByText("Registered console-put version 2.0.0").waitFor();

    const got = await createClient(RegistryService, server.connect).getModelVersion({ name: "console-put" });
    expect(got.modelVersion?.tags).toEqual(["big"]);
    expect(got.modelVersion?.artifacts[0]).toMatchObject({ name: "model.onnx", sizeBytes: BigInt(bytes.length), sha256: createHash("sha256").update(bytes).digest("hex") });
  });

  test("runs a pipeline and shows its stage events as they stream", async () => {
    await createClient(PipelineService, server.connect).createPipeline({
      name: "console-greeter",
      description: "template, then the local model",
      spec: {
        inputVariables: ["topic"],
        preprocess: [{ kind: { case: "template", value: { template: "Write one short sentence about {{topic}}." } } }],
        generate: [{ kind: { case: "llmGenerate", value: { model: MODEL, maxTokens: 16, seed: 3n } } }],
        postprocess: [{ kind: { case: "trim", value: {} } }],
      },
    });
    await navigate(page, "Pipelines");
    await page.getByRole("link", { name: "console-greeter" }).click();
    await page.getByLabel("topic").fill("the sea");
    await page.getByRole("button", { name: "Run" }).click();
    const log = page.getByRole("log", { name: "Events" });
    await log.getByText("run finished").waitFor();

    const events = (await log.locator("li strong").allTextContents()).map((s) => s.trim());
    expect(events[0]).toBe("run started");
    expect(events.at(-1)).toBe("run finished");
    const order = ["preprocess started", "preprocess finished", "generate started", "generate finished", "postprocess started", "postprocess finished"];
    const positions = order.map((e) => events.indexOf(e));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(((await page.getByLabel("Generated text").textContent()) ?? "").length).toBeGreaterThan(0);
    expect(await page.locator("pre.output").textContent()).toMatch(/^".+"$/s);
    await inspect(page, "pipeline");
  });

  test("validates features typed into the form with ProcessFeatures and lists violations", async () => {
    await createClient(FeatureService, server.connect).createFeatureSet({
      featureSet: {
        name: "console-users",
        description: "a small set for the console test",
        features: [
          { name: "age", type: FeatureType.INT64, required: true, validators: [{ kind: { case: "range", value: { min: 0, max: 130 } } }] },
          { name: "income", type: FeatureType.DOUBLE, transformers: [{ kind: { case: "log1p", value: {} } }] },
          { name: "country", type: FeatureType.STRING, validators: [{ kind: { case: "pattern", value: { regex: "[A-Z]{2}" } } }] },
        ],
      },
    });
    await navigate(page, "Features");
    await page.getByRole("link", { name: "console-users" }).click();
    await page.getByLabel("age (int64, required)").fill("200");
    await page.getByLabel("country (string)").fill("france");
    await page.getByRole("button", { name: "Process features" }).click();
    const alert = page.locator(".process-result [role=alert]");
    await alert.waitFor();
    expect(await alert.locator(".code").textContent()).toBe("INVALID_ARGUMENT");
    const violations = await alert.locator(".violations li").allTextContents();
    expect(violations.some((v) => v.startsWith("age"))).toBe(true);
    expect(violations.some((v) => v.startsWith("country"))).toBe(true);

    await page.getByLabel("age (int64, required)").fill("42");
    await page.getByLabel("income (double)").fill("0");
    await page.getByLabel("country (string)").fill("FR");
    await page.getByRole("button", { name: "Process features" }).click();
    const processed = page.getByRole("region", { name: "Processed features" });
    await processed.waitFor();
    expect(await processed.getByRole("row", { name: /income/ }).textContent()).toContain("double");
    expect(await processed.getByRole("row", { name: /age/ }).textContent()).toContain("42");
    await inspect(page, "features");
  });

  test("shows an online model's learner status, its versions over time and performance per version", async () => {
    const feedback = createClient(FeedbackService, server.connect);
    const model = "console-price";
    // No warm-up: version 1 serves until three samples have arrived.
    await feedback.createOnlineModel({ name: model, task: Task.REGRESSION, updateThreshold: 3, warmUp: false });
    const feed = async (x: number, y: number) => {
      const p = await feedback.predict({ model, features: { x: { kind: { case: "doubleValue", value: x } } } });
      await feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "value", value: y } } });
      return p.modelVersion;
    };
    for (const x of [1, 2, 3]) expect(await feed(x, 2 * x)).toBe("1");
    // Three outcomes fill the buffer: the learner trains in the background and serves version 2.
    let status = await feedback.getLearnerStatus({ model });
    for (let i = 0; i < 600 && (status.trainings < 1n || status.training); i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await feedback.getLearnerStatus({ model });
    }
    expect(status.currentVersion).toBe("2");
    expect(await feed(4, 8)).toBe("2");

    await navigate(page, "Online models");
    await page.getByRole("link", { name: model }).click();
    const learner = page.locator("section", { has: page.getByRole("heading", { name: "Learner" }) });
    await learner.waitFor();
    expect(await learner.textContent()).toContain("registered version 2");
    const perf = page.locator("figure.perf");
    await perf.nth(1).waitFor();
    const titles = await perf.locator("svg[role=img] title").allTextContents();
    expect(titles).toHaveLength(2);
    expect(titles[0]).toMatch(/^Version 2: MAE [\d.e+-]+, RMSE [\d.e+-]+$/);
    expect(titles[1]).toMatch(/^Version 1: MAE [\d.e+-]+, RMSE [\d.e+-]+$/);
    expect(await page.locator("svg.line-chart title").first().textContent()).toBe("MAE by version, oldest first");
    const versions = page.getByRole("region", { name: "Versions, newest first" });
    expect(await versions.getByRole("row").count()).toBe(3); // header + 2 versions
    expect(await versions.getByRole("row").nth(1).textContent()).toMatch(/^2.+1\s*3/); // version 2, parent 1, 3 samples
    await inspect(page, "online");
  });
});

describe("the console served from another origin", () => {
  let remote: BrowserContext;
  let rp: Page;

  beforeAll(async () => {
    remote = await browser.newContext({ viewport: LAPTOP });
    rp = await remote.newPage();
  });
  afterAll(async () => {
    await remote?.close();
  });

  for (const transport of ["Connect", "gRPC-Web"] as const) {
    test(`streams a chat answer over ${transport} from an allowed origin`, async () => {
      await rp.goto(`${otherOrigin}/#/settings`);
      await connect(rp, { key: API_KEY, baseUrl: server.baseUrl, transport });
      await rp.getByText(/^Connected: the server lists \d+ models?\.$/).waitFor();
      await expect(rp.locator("#conn-status").textContent()).resolves.toContain(`${transport} · ${server.baseUrl}`);
      await navigate(rp, "Chat");
      await rp.getByLabel("Model", { exact: true }).selectOption(MODEL);
      await rp.getByLabel("Max tokens").fill("8");
      await rp.getByLabel("Cache").selectOption({ label: "Bypass the cache" });
      await rp.getByLabel("Message").fill(`Say hi over ${transport}.`);
      await rp.getByRole("button", { name: "Send" }).click();
      await rp.locator('.turn.assistant .content[aria-busy="false"]').last().waitFor();
      expect(await rp.locator(".turn.assistant.failed").count()).toBe(0);
      expect(Number(await statValue(rp, "Output tokens").textContent())).toBeGreaterThan(0);
      expect(await statValue(rp, "Cached").textContent()).toBe("no");
    });
  }

  test("reports that the server could not be reached from an origin it does not allow", async () => {
    // localhost is another origin than 127.0.0.1, and only the latter is in corsOrigins.
    await rp.goto(`http://localhost:${other.port}/#/settings`);
    await connect(rp, { key: API_KEY, baseUrl: server.baseUrl });
    const alert = rp.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toContain("could not reach the server");
    expect(await alert.textContent()).toContain("server.corsOrigins");
  });
});

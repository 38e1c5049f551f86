// deploy/kubernetes/ is checked two ways: kubeconform validates every manifest against the
// Kubernetes v1.32 schemas (made offline from the official OpenAPI document, strict: unknown
// fields fail), and the settings the manifests hand to openloop (ConfigMap, Secret, the config
// file they mount) are loaded by openloop's own config loader, as a pod would.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/config.js";
import { kubernetesOpenApi, writeKubeconformSchemas } from "../support/kubernetes-schemas.js";
import { runtimeSettings } from "../support/runtime-env.js";

const run = promisify(execFile);
const DIR = path.resolve(import.meta.dirname, "../../deploy/kubernetes");
const MANIFESTS = ["configmap.yaml", "secret.yaml", "deployment.yaml", "service.yaml", "migrate-job.yaml"];
const KINDS = ["v1 ConfigMap", "v1 Secret", "apps/v1 Deployment", "v1 Service", "batch/v1 Job"];

type Doc = { kind: string; metadata: { name: string }; [k: string]: unknown };
let tmp: string;
let docs: Doc[];

function kubeconform(): string {
  const gopathBin = path.join(process.env.GOPATH ?? path.join(os.homedir(), "go"), "bin", "kubeconform");
  if (existsSync(gopathBin)) return gopathBin;
  return "kubeconform"; // on PATH (scripts/test.sh installs it with go install)
}

async function validate(files: string[]): Promise<{ code: number; out: string }> {
  const args = ["-strict", "-summary", "-output", "json", "-schema-location", path.join(tmp, "schemas", "{{ .ResourceKind }}{{ .KindSuffix }}.json"), ...files];
  try {
    const { stdout } = await run(kubeconform(), args);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw new Error(`kubeconform could not run (${String(e.code)}): install it with go install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0`);
    return { code: e.code, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-k8s-"));
  await writeKubeconformSchemas(await kubernetesOpenApi(), path.join(tmp, "schemas"), KINDS);
  docs = [];
  for (const f of MANIFESTS) {
    for (const d of parseAllDocuments(await readFile(path.join(DIR, f), "utf8"))) docs.push(d.toJS() as Doc);
  }
}, 300_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;

describe("deploy/kubernetes", () => {
  it("every manifest is valid against the Kubernetes schemas (kubeconform, strict)", async () => {
    const { code, out } = await validate(MANIFESTS.map((f) => path.join(DIR, f)));
    expect(code, out).toBe(0);
    const summary = JSON.parse(out) as { summary: { valid: number; invalid: number; errors: number; skipped: number } };
    expect(summary.summary).toEqual({ valid: 6, invalid: 0, errors: 0, skipped: 0 });
  });

  it("the check fails on a misspelt field and on a probe port of the wrong type", async () => {
    const text = await readFile(path.join(DIR, "deployment.yaml"), "utf8");
    const broken = path.join(tmp, "broken.yaml");
    await writeFile(broken, text.replace("terminationGracePeriodSeconds", "terminationGracePeriodSecond").replace("grpc: { port: 50051 }", 'grpc: { port: "grpc" }'));
    const { code, out } = await validate([broken]);
    expect(code).not.toBe(0);
    expect(out).toContain("terminationGracePeriodSecond");
    expect(out).toMatch(/port/);
  });

  it("runs three replicas with gRPC probes on the serving port, and a migration Job", () => {
    const deployment = find("Deployment", "openloop") as unknown as {
      spec: { replicas: number; template: { spec: { containers: Array<Record<string, any>> } } };
    };
    expect(deployment.spec.replicas).toBe(3);
    const container = deployment.spec.template.spec.containers[0]!;
    const port = container.ports[0].containerPort as number;
    for (const probe of ["readinessProbe", "livenessProbe"]) expect(container[probe].grpc.port).toBe(port);
    expect(container.env).toContainEqual({ name: "OPENLOOP_PORT", value: String(port) });
    expect(container.resources.requests).toBeDefined();
    expect(container.envFrom).toEqual([{ configMapRef: { name: "openloop" } }, { secretRef: { name: "openloop" } }]);
    // The server process runs with production's settings (deploy/runtime.env).
    for (const [name, value] of runtimeSettings()) expect(container.env).toContainEqual({ name, value });
    const job = find("Job", "openloop-migrate") as unknown as { spec: { template: { spec: { containers: Array<{ command: string[] }> } } } };
    expect(job.spec.template.spec.containers[0]!.command).toEqual(["node", "dist/src/main.js", "migrate"]);
  });

  it("the ConfigMap, Secret and mounted config file make a valid shared-storage config for openloop", async () => {
    const configMap = find("ConfigMap", "openloop") as unknown as { data: Record<string, string> };
    const secret = find("Secret", "openloop") as unknown as { stringData: Record<string, string> };
    const { ["openloop.yaml"]: file, ...configEnv } = configMap.data;
    const configPath = path.join(tmp, "openloop.yaml");
    await writeFile(configPath, file!);
    const env = { ...configEnv, ...secret.stringData, OPENLOOP_CONFIG: configPath, OPENLOOP_HOST: "0.0.0.0", OPENLOOP_PORT: "50051" };
    const config = loadConfig(env);
    expect(config.storage).toBe("shared");
    expect(config.postgres?.url).toBe(secret.stringData.OPENLOOP_POSTGRES_URL);
    expect(config.objectStore).toMatchObject({ endpoint: configEnv.OPENLOOP_S3_ENDPOINT, bucket: configEnv.OPENLOOP_S3_BUCKET, credentials: { accessKeyId: secret.stringData.OPENLOOP_S3_ACCESS_KEY_ID } });
    expect(config.redis?.url).toBe(configEnv.OPENLOOP_REDIS_URL);
    expect(config.server.apiKeys).toEqual([secret.stringData.OPENLOOP_API_KEYS]);
    expect(config.llm.providers?.openai?.apiKey).toBe(secret.stringData.OPENAI_API_KEY);
    expect(config.llm.limits.scope).toBe("global");
  });
});

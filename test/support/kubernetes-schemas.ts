// JSON schemas for kubeconform, made offline from Kubernetes' own OpenAPI document: the
// k8s.io/kubernetes module (from the Go module proxy, cached by `go mod download`) carries
// api/openapi-spec/swagger.json. kubeconform's default schema source (GitHub) is not needed.
//
// One file per kind, named as kubeconform looks them up ({kind}-{group}-{version}.json, core
// kinds {kind}-{version}.json), holding the kind's definition and every definition it reaches.
// Objects are closed (additionalProperties: false), so a misspelt field is an error, as
// kubeconform's -strict schemas do; int-or-string fields take either.
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

export const KUBERNETES_VERSION = "v1.32.4";

type Schema = Record<string, unknown>;

/** Downloads (or finds cached) the Kubernetes module and returns its swagger.json path. */
export async function kubernetesOpenApi(): Promise<string> {
  const { stdout } = await promisify(execFile)("go", ["mod", "download", "-json", `k8s.io/kubernetes@${KUBERNETES_VERSION}`], { maxBuffer: 1 << 20 });
  const dir = (JSON.parse(stdout) as { Dir?: string; Error?: string }).Dir;
  if (!dir) throw new Error(`go mod download k8s.io/kubernetes@${KUBERNETES_VERSION} failed: ${stdout}`);
  return path.join(dir, "api", "openapi-spec", "swagger.json");
}

/** Writes schemas for the given kinds ("apps/v1 Deployment", "v1 Service") into `dir`. */
export async function writeKubeconformSchemas(swaggerPath: string, dir: string, kinds: readonly string[]): Promise<void> {
  const definitions = (JSON.parse(await readFile(swaggerPath, "utf8")) as { definitions: Record<string, Schema> }).definitions;
  await mkdir(dir, { recursive: true });
  for (const spec of kinds) {
    const [apiVersion, kind] = spec.split(" ") as [string, string];
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    const root = Object.entries(definitions).find(([, d]) =>
      ((d["x-kubernetes-group-version-kind"] as { group: string; kind: string; version: string }[] | undefined) ?? []).some(
        (g) => g.group === group && g.kind === kind && g.version === version,
      ),
    )?.[0];
    if (!root) throw new Error(`no definition of ${spec} in ${swaggerPath}`);
    const reached: Record<string, Schema> = {};
    const visit = (name: string) => {
      if (reached[name]) return;
      reached[name] = {};
      reached[name] = close(definitions[name]!, visit);
    };
    visit(root);
    const file = `${kind.toLowerCase()}${group ? `-${group.split(".")[0]}` : ""}-${version}.json`;
    await writeFile(path.join(dir, file), JSON.stringify({ $ref: `#/definitions/${root}`, definitions: reached }));
  }
}

/** A copy of `schema` with objects closed and int-or-string opened; `visit` is told each $ref. */
function close(schema: unknown, visit: (name: string) => void): Schema {
  if (Array.isArray(schema)) return schema.map((s) => close(s, visit)) as unknown as Schema;
  if (!schema || typeof schema !== "object") return schema as Schema;
  const s = schema as Schema;
  if (s.format === "int-or-string") return { oneOf: [{ type: "string" }, { type: "integer" }] };
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === "$ref" && typeof v === "string") {
      visit(v.replace("#/definitions/", ""));
      out[k] = v;
    } else if (k === "description" || k.startsWith("x-")) {
      continue;
    } else if (k === "properties") {
      out[k] = Object.fromEntries(Object.entries(v as Schema).map(([p, ps]) => [p, close(ps, visit)]));
    } else {
      out[k] = close(v, visit);
    }
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

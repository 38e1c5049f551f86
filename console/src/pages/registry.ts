// Model registry: models, versions, aliases, metadata, artifacts with digests and
// downloads (DownloadArtifact streamed into a Blob), and a form to register a version.
import { ModelRuntimeSchema, type ArtifactInfo, type ModelVersion } from "../../../clients/typescript/src/gen/openloop/registry/v1/registry_service_pb.js";
import type { Api } from "../api.js";
import { facts, field, h, replace, table } from "../dom.js";
import type { Page } from "../page.js";
import { breadcrumb, busy, enumLabel, errorBox, formatBytes, loading, pageHeading, parseKeyValueLines, splitList, timeEl } from "../ui.js";

export const registryPage: Page = (main, ctx) => {
  const [name] = ctx.params;
  if (name) modelView(main, ctx.api, name, ctx.signal);
  else listView(main, ctx.api, ctx.signal);
};

function listView(main: HTMLElement, api: Api, signal: AbortSignal): void {
  const list = h("section", { "aria-labelledby": "models-title" }, h("h2", { id: "models-title" }, "Models"), loading("models"));
  replace(
    main,
    pageHeading("Model registry", "Versioned models with their artifacts, digests, metadata and aliases."),
    h("div", { class: "two-col" }, list, registerForm(api, signal, () => void refresh())),
  );

  async function refresh(): Promise<void> {
    const body: HTMLElement[] = [];
    try {
      let pageToken = "";
      const rows = [];
      do {
        const res = await api.registry.listModels({ pageSize: 200, pageToken }, { signal });
        rows.push(...res.models);
        pageToken = res.nextPageToken;
      } while (pageToken && rows.length < 2000);
      body.push(
        rows.length === 0
          ? h("p", { class: "muted" }, "No models yet. Register one with the form.")
          : table(
              "Registered models",
              ["Name", "Latest", "Versions", "Type", "Aliases", "Updated"],
              rows.map((m) => [
                h("a", { href: `#/registry/${encodeURIComponent(m.name)}` }, m.name),
                m.latestVersion,
                String(m.versionCount),
                m.type,
                Object.entries(m.aliases)
                  .sort(([a], [b]) => a.localeCompare(b))
                  .map(([alias, version]) => h("span", { class: "tag" }, `${alias} → ${version}`)),
                timeEl(m.updateTime),
              ]),
            ),
      );
    } catch (err) {
      body.push(errorBox(err, "Listing models"));
    }
    replace(list, h("h2", { id: "models-title" }, "Models"), body);
  }
  void refresh();
}

function registerForm(api: Api, signal: AbortSignal, onRegistered: () => void): HTMLElement {
  const name = h("input", { name: "name", required: true, pattern: "[a-z0-9][a-z0-9._\\-]{0,63}", autocomplete: "off", spellcheck: "false" });
  const version = h("input", { name: "version", placeholder: "next integer", autocomplete: "off", spellcheck: "false" });
  const type = h("input", { name: "type", list: "model-types", placeholder: "gguf, linear, onnx…", autocomplete: "off" });
  const description = h("input", { name: "description" });
  const tags = h("input", { name: "tags", placeholder: "comma, separated" });
  const metadata = h("textarea", { name: "metadata", rows: 3, placeholder: "key=value, one a line" });
  const files = h("input", { type: "file", name: "files", multiple: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Register version");
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "register-title" },
    h("h2", { id: "register-title" }, "Register a version"),
    h(
      "p",
      { class: "hint" },
      "One file with a version goes as an HTTP PUT of the file, of any size. Several files, or no version, go whole in one RegisterModelVersionUnary call, so keep those small (the server's message limit applies).",
    ),
    field("Name", name, "1–64 of a-z 0-9 . _ -"),
    field("Version", version, "An integer or semantic version; empty for the next integer"),
    field("Type", type),
    h("datalist", { id: "model-types" }, ["gguf", "linear", "onnx", "pytorch", "tensorflow"].map((t) => h("option", { value: t }))),
    field("Description", description),
    field("Tags", tags),
    field("Metadata", metadata),
    field("Artifacts", files, "One or more files"),
    h("div", { class: "actions" }, submit),
    result,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(submit, async () => {
      replace(result);
      try {
        const header = {
          name: name.value.trim(),
          version: version.value.trim(),
          type: type.value.trim(),
          description: description.value.trim(),
          tags: splitList(tags.value),
          metadata: parseKeyValueLines(metadata.value),
        };
        const chosen = [...(files.files ?? [])];
        let mv: ModelVersion | undefined;
        if (chosen.length === 1 && header.version !== "") {
          // Streamed from disk by the browser: a model of any size.
          mv = await api.putArtifact({ header, artifact: chosen[0]!.name, body: chosen[0]! }, signal);
        } else {
          const artifacts = await Promise.all(
            chosen.map(async (f) => {
              const data = new Uint8Array(await f.arrayBuffer());
              return { name: f.name, data, sha256: await sha256Hex(data) };
            }),
          );
          mv = (await api.registry.registerModelVersionUnary({ header, artifacts }, { signal })).modelVersion;
        }
        if (!mv) throw new Error("the server returned no version");
        replace(
          result,
          h("p", { class: "ok", role: "status" }, "Registered ", h("a", { href: `#/registry/${encodeURIComponent(mv.name)}` }, `${mv.name} version ${mv.version}`), "."),
        );
        form.reset();
        onRegistered();
      } catch (err) {
        replace(result, errorBox(err, "Registering"));
      }
    });
  });
  return form;
}

function modelView(main: HTMLElement, api: Api, name: string, signal: AbortSignal): void {
  const versions = h("div", { class: "versions" }, loading("versions"));
  const more = h("div");
  replace(
    main,
    breadcrumb("#/registry", "Registry", name),
    pageHeading(name),
    versions,
    more,
  );
  void loadPage("");

  async function loadPage(pageToken: string): Promise<void> {
    try {
      const res = await api.registry.listModelVersions({ name, pageSize: 20, pageToken }, { signal });
      if (!pageToken) replace(versions); // the loading line
      if (!pageToken && res.modelVersions.length === 0) versions.append(h("p", { class: "muted" }, "No versions."));
      for (const mv of res.modelVersions) versions.append(versionCard(api, mv, signal));
      replace(more);
      if (res.nextPageToken) {
        const btn = h("button", { type: "button" }, "Show older versions");
        btn.addEventListener("click", () => void busy(btn, () => loadPage(res.nextPageToken)));
        more.append(btn);
      }
    } catch (err) {
      if (!pageToken) replace(versions);
      replace(more, errorBox(err, "Listing versions"));
    }
  }
}

function versionCard(api: Api, mv: ModelVersion, signal: AbortSignal): HTMLElement {
  const meta = Object.entries(mv.metadata).sort(([a], [b]) => a.localeCompare(b));
  const details = mv.lineage ? Object.entries(mv.lineage.details).sort(([a], [b]) => a.localeCompare(b)) : [];
  return h(
    "article",
    { class: "card version", "aria-labelledby": `v-${cssId(mv.version)}` },
    h("h2", { id: `v-${cssId(mv.version)}` }, `Version ${mv.version}`, mv.aliases.map((a) => [" ", h("span", { class: "tag alias" }, a)])),
    facts([
      ["Type", mv.type],
      ["Runtime", enumLabel(ModelRuntimeSchema, mv.runtime)],
      ["Registered", timeEl(mv.createTime)],
      ["Tags", mv.tags.map((t) => [h("span", { class: "tag" }, t), " "])],
      ["Description", mv.description],
      ...lineageFacts(mv),
    ]),
    meta.length ? [h("h3", null, "Metadata"), facts(meta.map(([k, v]) => [k, v] as const), "facts compact")] : null,
    details.length ? [h("h3", null, "Lineage details"), facts(details.map(([k, v]) => [k, v] as const), "facts compact")] : null,
    h("h3", null, "Artifacts"),
    mv.artifacts.length === 0
      ? h("p", { class: "muted" }, "No artifacts.")
      : table(
          `Artifacts of version ${mv.version}`,
          ["Name", "Size", "SHA-256", "Download"],
          mv.artifacts.map((a) => [a.name, formatBytes(a.sizeBytes), h("code", { class: "digest" }, a.sha256), downloadControl(api, mv, a, signal)]),
        ),
  );
}

function downloadControl(api: Api, mv: ModelVersion, artifact: ArtifactInfo, signal: AbortSignal): HTMLElement {
  const button = h("button", { type: "button", class: "small" }, "Download");
  button.setAttribute("aria-label", `Download ${artifact.name} of version ${mv.version}`);
  const progress = h("span", { class: "progress", "aria-live": "polite" });
  const box = h("div", { class: "download" }, button, progress);
  button.addEventListener("click", () =>
    void busy(button, async () => {
      replace(progress, "starting…");
      try {
        const chunks: Uint8Array<ArrayBuffer>[] = [];
        let received = 0;
        let total = Number(artifact.sizeBytes);
        let expected = artifact.sha256;
        for await (const res of api.registry.downloadArtifact({ name: mv.name, selector: { case: "version", value: mv.version }, artifactName: artifact.name }, { signal })) {
          if (res.part.case === "header") {
            total = Number(res.part.value.artifact?.sizeBytes ?? total);
            expected = res.part.value.artifact?.sha256 ?? expected;
          } else if (res.part.case === "data") {
            chunks.push(new Uint8Array(res.part.value));
            received += res.part.value.byteLength;
            progress.textContent = `${formatBytes(received)} of ${formatBytes(total)}`;
          }
        }
        const blob = new Blob(chunks, { type: "application/octet-stream" });
        const digest = await sha256Hex(new Uint8Array(await blob.arrayBuffer()));
        const url = URL.createObjectURL(blob);
        const link = h("a", { href: url, download: artifact.name }, `Save ${artifact.name}`);
        const verdict =
          digest === undefined
            ? h("span", { class: "muted" }, " (digest not checked: needs a secure context)")
            : digest === expected
              ? h("span", { class: "ok" }, " SHA-256 verified")
              : h("span", { class: "error-text" }, ` SHA-256 mismatch: got ${digest}`);
        replace(progress, link, verdict);
        signal.addEventListener("abort", () => URL.revokeObjectURL(url), { once: true });
        link.click();
      } catch (err) {
        replace(progress, errorBox(err, "Download"));
      }
    }),
  );
  return box;
}

/** Lowercase hex SHA-256, or undefined where WebCrypto is unavailable (plain http on a non-local host). */
async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string | undefined> {
  if (!globalThis.crypto?.subtle) return undefined;
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Only the lineage facts a version has: most versions registered by hand have none. */
function lineageFacts(mv: ModelVersion): [string, string][] {
  const l = mv.lineage;
  if (!l) return [];
  const rows: [string, string][] = [];
  if (l.parentVersion) rows.push(["Parent version", l.parentVersion]);
  if (l.producer) rows.push(["Producer", l.producer]);
  if (l.samplesUsed > 0n) rows.push(["Samples used", String(l.samplesUsed)]);
  return rows;
}

function cssId(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, "_");
}

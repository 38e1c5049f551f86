// What the Stainless-generated SDKs (openai, @anthropic-ai/sdk) put on the wire and in their
// error messages, for providers that send those SDKs' requests themselves (test/llm/wire.test.ts
// compares both against the SDKs).

/** X-Stainless-Lang ... X-Stainless-Runtime-Version, in the SDKs' order, for `packageVersion`. */
export function platformHeaders(packageVersion: string): Record<string, string> {
  return {
    "X-Stainless-Lang": "js",
    "X-Stainless-Package-Version": packageVersion,
    "X-Stainless-OS": platformName(process.platform),
    "X-Stainless-Arch": archName(process.arch),
    "X-Stainless-Runtime": "node",
    "X-Stainless-Runtime-Version": process.version,
  };
}

// As the SDKs' internal/detect-platform normalizes them.
function platformName(platform: string): string {
  const p = platform.toLowerCase();
  if (p.includes("ios")) return "iOS";
  if (p === "android") return "Android";
  if (p === "darwin") return "MacOS";
  if (p === "win32") return "Windows";
  if (p === "freebsd") return "FreeBSD";
  if (p === "openbsd") return "OpenBSD";
  if (p === "linux") return "Linux";
  return p ? `Other:${p}` : "Unknown";
}

function archName(arch: string): string {
  if (arch === "x32") return "x32";
  if (arch === "x86_64" || arch === "x64") return "x64";
  if (arch === "arm") return "arm";
  if (arch === "aarch64" || arch === "arm64") return "arm64";
  return arch ? `other:${arch}` : "unknown";
}

/** APIError.makeMessage of the SDKs: `error` is what they pass (OpenAI: the body's `error`; Anthropic: the whole body). */
export function apiMessage(status: number | undefined, error: unknown, text: string | undefined): string {
  const inner = (error as { message?: unknown } | undefined)?.message;
  const msg = inner ? (typeof inner === "string" ? inner : JSON.stringify(inner)) : error ? JSON.stringify(error) : text;
  if (status && msg) return `${status} ${msg}`;
  if (status) return `${status} status code (no body)`;
  return msg || "(no status code or body)";
}

/** An HTTP error status, or an error event in a stream, worded as the SDK's APIError. */
export class UpstreamError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    readonly headers?: { get(name: string): string | null },
  ) {
    super(message);
    this.name = "UpstreamError";
  }
}

// The console's only way to the server: the TypeScript client package (clients/typescript,
// its browser entry) over Connect or gRPC-Web, with the API key.
import { Code, ConnectError, createOpenloopClient, type OpenloopClient } from "../../clients/typescript/src/browser.js";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import { create, fromJson, toJsonString, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ModelVersionHeaderSchema,
  RegisterModelVersionResponseSchema,
  type ModelVersion,
} from "../../clients/typescript/src/gen/openloop/registry/v1/registry_service_pb.js";

/** The transports a browser can use. */
export type TransportKind = "connect" | "grpc-web";

export interface Settings {
  /** Server base URL, such as https://openloop.example:50051; defaults to the page's origin. */
  readonly baseUrl: string;
  readonly transport: TransportKind;
  /** The API key; kept in sessionStorage only, so it is gone when the tab closes. */
  readonly apiKey: string;
}

const KEY_STORAGE = "openloop.apiKey";
const SERVER_STORAGE = "openloop.server";

export function defaultBaseUrl(): string {
  return location.origin;
}

export function loadSettings(): Settings {
  let saved: { baseUrl?: unknown; transport?: unknown } = {};
  try {
    saved = JSON.parse(localStorage.getItem(SERVER_STORAGE) ?? "{}") as typeof saved;
  } catch {
    saved = {};
  }
  return {
    baseUrl: typeof saved.baseUrl === "string" && saved.baseUrl ? saved.baseUrl : defaultBaseUrl(),
    transport: saved.transport === "grpc-web" ? "grpc-web" : "connect",
    apiKey: sessionStorage.getItem(KEY_STORAGE) ?? "",
  };
}

export function saveSettings(s: Settings): void {
  // The server choice is not secret and survives the tab; the key does not.
  const baseUrl = s.baseUrl === defaultBaseUrl() ? "" : s.baseUrl;
  localStorage.setItem(SERVER_STORAGE, JSON.stringify({ baseUrl, transport: s.transport }));
  if (s.apiKey) sessionStorage.setItem(KEY_STORAGE, s.apiKey);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** Checks a base URL typed by a person; returns it normalised (no trailing slash) or throws. */
export function normaliseBaseUrl(raw: string): string {
  const url = new URL(raw.trim());
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("the server URL must start with http:// or https://");
  return url.href.replace(/\/+$/, "");
}

export interface Api extends OpenloopClient {
  readonly settings: Settings;
  /** The current key's name, scopes and limits (GET /auth/whoami); undefined when the server does not say. */
  keyInfo(signal?: AbortSignal): Promise<KeyInfo | undefined>;
  /** Registers a version with one artifact by an HTTP PUT of the file, of any size (README: artifacts by plain HTTP). */
  putArtifact(put: ArtifactPut, signal?: AbortSignal): Promise<ModelVersion>;
}

export interface ArtifactPut {
  readonly header: MessageInitShape<typeof ModelVersionHeaderSchema> & { name: string; version: string };
  readonly artifact: string;
  readonly body: Blob;
}

/** What the server says about the key this console sends. */
export interface KeyInfo {
  /** False when the server runs without keys: every call is allowed. */
  readonly authRequired: boolean;
  readonly key: string | null;
  readonly scopes: readonly string[];
  readonly limits: { readonly requestsPerSecond?: number; readonly burst?: number; readonly concurrentStreams?: number };
}

/** A refusal of the server's plain HTTP routes: Connect's JSON error, as a ConnectError. */
function refusal(res: Response, body: { code?: string; message?: string }): ConnectError {
  return new ConnectError(body.message ?? `HTTP ${res.status}`, codeFromString(body.code ?? "") ?? Code.Unknown);
}

/** Asks the server about the key: refusals come back as ConnectErrors, as RPC errors do. */
async function fetchKeyInfo(settings: Settings, signal?: AbortSignal): Promise<KeyInfo | undefined> {
  let res: Response;
  try {
    res = await fetch(`${settings.baseUrl}/auth/whoami`, { headers: settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {}, signal });
  } catch (err) {
    throw ConnectError.from(err);
  }
  if (res.status === 404) return undefined; // a server from before scoped keys
  const body = (await res.json().catch(() => ({}))) as Partial<KeyInfo> & { code?: string; message?: string };
  if (!res.ok) throw refusal(res, body);
  return { authRequired: body.authRequired !== false, key: body.key ?? null, scopes: body.scopes ?? [], limits: body.limits ?? {} };
}

/** The file goes as the body, which the browser streams from disk: no message holds it whole. */
async function putArtifact(settings: Settings, put: ArtifactPut, signal?: AbortSignal): Promise<ModelVersion> {
  const { name, version } = put.header;
  const path = ["registry/v1/models", name, "versions", version, "artifacts", put.artifact].map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join("/");
  const header = toJsonString(ModelVersionHeaderSchema, create(ModelVersionHeaderSchema, put.header));
  let res: Response;
  try {
    res = await fetch(`${settings.baseUrl}/${path}`, {
      method: "PUT",
      body: put.body,
      headers: { "openloop-model-version": header, ...(settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {}) },
      signal,
    });
  } catch (err) {
    throw ConnectError.from(err);
  }
  const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!res.ok) throw refusal(res, body);
  const mv = fromJson(RegisterModelVersionResponseSchema, body as JsonValue).modelVersion;
  if (!mv) throw new ConnectError("the server returned no version", Code.Internal);
  return mv;
}

export function createApi(settings: Settings): Api {
  const { baseUrl, apiKey, transport } = settings;
  return {
    settings,
    ...createOpenloopClient({ baseUrl, apiKey, transport }),
    keyInfo: (signal) => fetchKeyInfo(settings, signal),
    putArtifact: (put, signal) => putArtifact(settings, put, signal),
  };
}

/** "UNAUTHENTICATED", "NOT_FOUND"...: the gRPC name of a code, as people see it in docs and logs. */
export function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export interface ShownError {
  readonly code: string;
  readonly message: string;
}

export function describeError(err: unknown): ShownError {
  if (err instanceof Error && err.name === "AbortError") return { code: "CANCELED", message: "stopped" };
  const ce = ConnectError.from(err);
  let message = ce.rawMessage;
  // A fetch that never reached the server (wrong URL, CORS refused) surfaces as a TypeError.
  if (ce.code === Code.Unknown && ce.cause instanceof TypeError) {
    message = `could not reach the server (${ce.cause.message}); check the server URL and that it allows this origin (server.corsOrigins)`;
  }
  return { code: codeName(ce.code), message: message || "no message" };
}

// Errors of the OpenAI-compatible API: OpenAI's JSON error shape and HTTP statuses, mapped
// from the gRPC codes the LLM domain throws in one table.
import { Code, ConnectError } from "@connectrpc/connect";

/** A request the adapter itself refuses, naming the OpenAI field at fault. */
export class OpenAIRequestError extends ConnectError {
  constructor(
    message: string,
    readonly param: string | null,
    code = Code.InvalidArgument,
  ) {
    super(message, code);
  }
}

interface Mapping {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
}

/** gRPC code -> what OpenAI answers for the same case (the SDKs pick their error class by status). */
const BY_CODE: Readonly<Partial<Record<Code, Mapping>>> = {
  [Code.InvalidArgument]: { status: 400, type: "invalid_request_error", code: null },
  [Code.OutOfRange]: { status: 400, type: "invalid_request_error", code: null },
  [Code.FailedPrecondition]: { status: 400, type: "invalid_request_error", code: null },
  [Code.Unauthenticated]: { status: 401, type: "invalid_request_error", code: "invalid_api_key" },
  [Code.PermissionDenied]: { status: 403, type: "permission_error", code: null },
  [Code.NotFound]: { status: 404, type: "invalid_request_error", code: null },
  [Code.AlreadyExists]: { status: 409, type: "invalid_request_error", code: null },
  [Code.Aborted]: { status: 409, type: "invalid_request_error", code: null },
  [Code.ResourceExhausted]: { status: 429, type: "rate_limit_exceeded", code: "rate_limit_exceeded" },
  [Code.Canceled]: { status: 499, type: "invalid_request_error", code: "cancelled" },
  [Code.Unimplemented]: { status: 404, type: "invalid_request_error", code: "unknown_url" },
  [Code.Unavailable]: { status: 503, type: "server_error", code: "service_unavailable" },
  [Code.DeadlineExceeded]: { status: 504, type: "server_error", code: "timeout" },
};
const INTERNAL: Mapping = { status: 500, type: "server_error", code: null };

/** Seconds a client waits before retrying a 429 when upstream named no time. */
const DEFAULT_RETRY_AFTER_S = "1";

export interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The HTTP answer for a failure; errors that are not ConnectErrors are bugs and say nothing of themselves. */
export function errorReply(err: unknown): ErrorReply {
  const ce = err instanceof ConnectError ? err : new ConnectError("internal error (details in the server log)", Code.Internal);
  const m = BY_CODE[ce.code] ?? INTERNAL;
  // Not instanceof: ConnectError's own instanceof check accepts every ConnectError.
  const own = (ce as Partial<OpenAIRequestError>).param;
  let param = own !== undefined ? own : m.status === 400 ? paramOf(ce.rawMessage) : null;
  let code = m.code;
  if (ce.code === Code.NotFound && ce.rawMessage.startsWith("unknown model")) {
    param = "model";
    code = "model_not_found";
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (m.status === 429) headers["retry-after"] = ce.metadata.get("retry-after") ?? DEFAULT_RETRY_AFTER_S;
  return { status: m.status, headers, body: errorBody(ce.rawMessage, m.type, param, code) };
}

/** The error object OpenAI sends, as a JSON text (also the data of a failed stream's last event). */
export function errorBody(message: string, type: string, param: string | null, code: string | null): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

// The domain's messages start with the field at fault ("temperature must be 0-2, got 3").
const LEADING_FIELD = /^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?) (?:must|is|are)\b/;
const FIELD_NAMES: Record<string, string> = { inputs: "input" };

function paramOf(message: string): string | null {
  const field = LEADING_FIELD.exec(message)?.[1];
  if (!field) return null;
  const head = field.replace(/[[.].*$/, "");
  return (FIELD_NAMES[head] ?? head) + field.slice(head.length);
}

// What each call grpc-js serves ended with, recorded once, with the status its client received.
//
// grpc-js answers some calls itself, without our handlers: a message over
// server.maxMessageBytes, a body it cannot decompress, a malformed grpc-timeout, a unary
// call with no message or two, the client's deadline. So the record is taken where every
// status is sent: the call's own sendStatus, which our handlers reach through the
// interceptor chain and grpc-js calls directly. A call that ends without a status (the
// client cancelled, or went away) is recorded when grpc-js reports it cancelled.
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ServerInterceptingCall, type Metadata, type ServerInterceptingCallInterface, type ServerInterceptor } from "@grpc/grpc-js";
import type { RpcObserver } from "../observe.js";

type SentStatus = Parameters<ServerInterceptingCallInterface["sendStatus"]>[0];

interface CallRecord {
  readonly method: DescMethod;
  readonly started: number;
  /** The handler's error, logged when the status sent is its code. */
  err: unknown;
  done: boolean;
}

export interface CallOutcomes {
  /** Records every call of a method in `methods` as it ends; the first interceptor of the server. */
  readonly interceptor: ServerInterceptor;
  /** Hands over the handler's error of the call with these request headers, for its log line. */
  failed(requestMetadata: Metadata, err: unknown): void;
}

// grpc-js's own answers to a client's mistakes, which it sends as INTERNAL.
const CLIENT_FAULTS = /^(Failed to decompress message|Invalid grpc-timeout value)/;

/** `methods` by path (/package.Service/Method). */
export function createCallOutcomes(methods: ReadonlyMap<string, DescMethod>, observer: RpcObserver): CallOutcomes {
  // Handlers know their call by its request metadata: grpc-js hands them the very object our listener saw.
  const byMetadata = new WeakMap<Metadata, CallRecord>();

  const interceptor: ServerInterceptor = (definition, call) => {
    const method = methods.get(definition.path);
    if (!method) return new ServerInterceptingCall(call);
    const rec: CallRecord = { method, started: observer.begin(), err: undefined, done: false };
    const send = call.sendStatus.bind(call);
    call.sendStatus = (status: SentStatus) => {
      if (!rec.done && !cancelled(call)) {
        rec.done = true;
        if ((status.code as number) === Code.Internal && rec.err === undefined && CLIENT_FAULTS.test(status.details ?? "")) {
          status = { ...status, code: Code.InvalidArgument as number };
        }
        observer.finish(method, rec.started, errorFor(status, rec.err));
      }
      send(status);
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            byMetadata.set(metadata, rec);
            nextMetadata(metadata);
          },
          onCancel() {
            // grpc-js reports every call that ends as cancelled: only one without a status counts.
            if (rec.done) return;
            rec.done = true;
            const reason = expired(call) ? new ConnectError("the call's deadline was exceeded", Code.DeadlineExceeded) : new ConnectError("the client cancelled the call", Code.Canceled);
            observer.finish(method, rec.started, reason);
          },
        }),
    });
  };

  return {
    interceptor,
    failed(requestMetadata, err) {
      const rec = byMetadata.get(requestMetadata);
      if (rec && rec.err === undefined) rec.err = err;
    },
  };
}

/** What to record for a status: nothing for OK, else the handler's error when it is what was sent. */
function errorFor(status: SentStatus, err: unknown): unknown {
  const code = status.code as number as Code | 0;
  if (code === 0) return undefined;
  const handlerCode = err === undefined ? undefined : err instanceof ConnectError ? err.code : Code.Internal;
  return handlerCode === code ? err : new ConnectError(status.details ?? "", code);
}

/**
 * True when the client is gone and a status would not be sent. grpc-js checks the same
 * before sending (checkCancelled, not part of its typed API; without it, assume sent).
 */
function cancelled(call: ServerInterceptingCallInterface): boolean {
  const check = (call as unknown as { checkCancelled?: () => boolean }).checkCancelled;
  return typeof check === "function" ? check.call(call) : false;
}

function expired(call: ServerInterceptingCallInterface): boolean {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  return Date.now() >= ms;
}

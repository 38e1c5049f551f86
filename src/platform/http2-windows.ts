// HTTP/2 flow control of the server's connections (the gRPC server's and connect-node's alike).
//
// Node's defaults, 64 KiB of receive window per stream and per connection, make a client
// streaming a large body (an artifact upload) stop every 64 KiB until the server's
// WINDOW_UPDATE comes back: on loopback the server sat idle half of an upload. The
// stream window in SETTINGS does not widen the connection's own window (it stays 64 KiB
// unless the server sends a WINDOW_UPDATE on stream 0): both are set here.
//
// Memory stays bounded: a window is what a client may send before the server has read it.
// Once a handler stops taking messages (an upload waits for the disk past a few MiB, see
// src/registry/artifact-io.ts) and the transport's own message queue is full, the server
// stops reading and stops granting window, so a connection adds at most
// CONNECTION_WINDOW_BYTES of unread body to what the handlers hold.
import type http2 from "node:http2";

/** Receive window of each stream: what one call may have in flight to the server. */
export const STREAM_WINDOW_BYTES = 2 << 20;
/** Receive window of each connection, shared by its streams. */
export const CONNECTION_WINDOW_BYTES = 4 << 20;

/**
 * The largest request header list the server decodes (the gRPC transport's limit, and the
 * first-request sniffer's): gRPC's clients send at most 8 KiB of metadata by default.
 */
export const MAX_HEADER_LIST_BYTES = 64 * 1024;

/**
 * The SETTINGS every server session advertises. The frame size stays at the default 16 KiB:
 * advertising 1 MiB frames made no upload faster (Python grpcio and connect-node clients)
 * and downloads no faster either.
 */
export const SERVER_HTTP2_SETTINGS: http2.Settings = { initialWindowSize: STREAM_WINDOW_BYTES };

/** Widens a new session's connection-level receive window (sends one WINDOW_UPDATE on stream 0). */
export function widenConnectionWindow(session: http2.Http2Session): void {
  if (session.destroyed) return;
  try {
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
  } catch {
    // The session ended meanwhile; nothing to widen.
  }
}

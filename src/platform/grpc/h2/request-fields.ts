// The rules an HTTP/2 request's header list must keep (RFC 9113 §8.2, §8.3): a list that
// breaks one is malformed, a stream error of type PROTOCOL_ERROR.

const REQUEST_PSEUDO = new Set([":method", ":scheme", ":path", ":authority"]);
// Fields of HTTP/1.1's connection management, which HTTP/2 forbids (§8.2.2).
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/**
 * Whether `fields` (names and values alternating) are malformed: upper-case names, unknown,
 * repeated, late or missing pseudo-headers (none at all in trailers), connection-specific
 * fields, a `te` other than "trailers", an empty `:path`.
 */
export function malformedFields(fields: readonly string[], trailers: boolean): boolean {
  let regularSeen = false;
  let pseudo = 0;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    if (hasUpperCase(name)) return true;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (trailers || regularSeen || !REQUEST_PSEUDO.has(name)) return true;
      const bit = name === ":method" ? 1 : name === ":scheme" ? 2 : name === ":path" ? 4 : 8;
      if (pseudo & bit) return true;
      pseudo |= bit;
      if (bit === 4 && fields[i + 1] === "") return true;
      continue;
    }
    regularSeen = true;
    if (CONNECTION_SPECIFIC.has(name)) return true;
    if (name === "te" && fields[i + 1] !== "trailers") return true;
  }
  return !trailers && (pseudo & 7) !== 7;
}

/** The request's content-length, -1 when it has none; NaN when it is not a number. */
export function contentLength(fields: readonly string[]): number {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === "content-length") return /^\d{1,15}$/.test(fields[i + 1]) ? Number(fields[i + 1]) : NaN;
  }
  return -1;
}

function hasUpperCase(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

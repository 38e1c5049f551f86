// Preloaded into peers that listen on every interface with no option to choose (Portkey):
// a listen() given only a port binds to loopback instead. Plain JavaScript apart from type
// annotations, so that plain Node 24 runs it (`node --import ./bench/peers-loopback.ts`).
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    if (typeof args[1] !== "string") args.splice(1, args[1] === undefined ? 1 : 0, "127.0.0.1");
  } else if (args[0] && typeof args[0] === "object" && !("host" in (args[0] as object))) {
    args[0] = { ...(args[0] as object), host: "127.0.0.1" };
  }
  return listen.apply(this, args as Parameters<typeof listen>);
} as typeof listen;

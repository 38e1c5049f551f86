// A Connect interceptor that sends an API key as a bearer token, as clients of scoped keys do.
import type { Interceptor } from "@connectrpc/connect";

export const bearer =
  (key: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };

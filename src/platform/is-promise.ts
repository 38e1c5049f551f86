// Whether a value that may or may not be a promise is one: paths that answer synchronously when
// they can (the auth gate, spans around synchronous work) check this instead of always awaiting.
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === "function";
}

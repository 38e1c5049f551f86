// Entry point: the V8 heap settings, then the server's command line (cli.ts).
// cli.ts is imported dynamically: a static import graph is parsed whole before any of its
// modules runs, and parsing the server's modules first would grow V8's young generation
// before v8-heap.ts keeps it at its initial size.
import "./platform/v8-heap.js";

await import("./cli.js");

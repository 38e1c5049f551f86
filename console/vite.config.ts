// Builds the web console into console/dist; scripts/build-console.sh runs it.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here("."),
  // Relative asset URLs: the same build works at / on openloop and under any path on another host.
  base: "./",
  build: {
    outDir: here("dist"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: true,
    // One small script and one stylesheet: nothing to split for a console this size.
    modulePreload: false,
  },
  // The generated types are imported from ../gen by relative paths.
  server: { fs: { allow: [here("..")] } },
});

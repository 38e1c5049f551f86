// The part of hpack.js (no bundled types) that src/platform/h2-first-request.ts uses.
declare module "hpack.js" {
  interface Header {
    name: string;
    value: string;
  }
  interface Decompressor {
    write(block: Buffer): void;
    execute(): void;
    read(): Header | null;
  }
  const hpack: { decompressor: { create(options: { table: { size: number } }): Decompressor } };
  export default hpack;
}

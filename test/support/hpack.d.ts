// The part of hpack.js (no bundled types) declared for test/platform/grpc/hpack.test.ts, which uses it as an oracle.
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

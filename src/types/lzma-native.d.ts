// lzma-native ships no type declarations; only the streaming decoder is used.
declare module 'lzma-native' {
  import type { Transform } from 'node:stream';
  const lzma: {
    createDecompressor(options?: { memlimit?: number }): Transform;
    createCompressor(options?: { preset?: number; threads?: number }): Transform;
  };
  export default lzma;
}

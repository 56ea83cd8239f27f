import { sha256, type Digest } from '../digest.js';

/**
 * ChainIDs as the OCI image-spec defines them: ChainID(L0) = DiffID(L0) and
 * ChainID(L0|...|Ln) = sha256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln)). They name a layer stack.
 */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffID of diffIDs) {
    const previous = out[out.length - 1];
    out.push(previous === undefined ? diffID : sha256(`${previous} ${diffID}`));
  }
  return out;
}

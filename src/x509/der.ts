import * as asn1js from 'asn1js';

/** One DER element: its tag, its whole encoding, its contents, and its elements if constructed. */
export interface DerNode {
  /** 0 universal, 1 application, 2 context-specific, 3 private (the bits of the identifier octet). */
  tagClass: number;
  tagNumber: number;
  constructed: boolean;
  /** The element as encoded (tag, length and contents). */
  tlv: Uint8Array;
  contents: Uint8Array;
  children: DerNode[];
}

export const UNIVERSAL = 0;
export const CONTEXT = 2;

/** Decodes one DER element that must fill `der` exactly; asn1js reads the encoding, this keeps its bytes. */
export function parseDer(der: Uint8Array): DerNode {
  const { offset, result } = asn1js.fromBER(der);
  if (offset === -1 || result.error) throw new Error(`not valid DER: ${result.error || 'unreadable'}`);
  if (offset !== der.length) throw new Error(`not valid DER: ${der.length - offset} bytes after the element`);
  return convert(result);
}

function convert(block: asn1js.BaseBlock): DerNode {
  const { idBlock, lenBlock } = block;
  if (lenBlock.isIndefiniteForm) throw new Error('not valid DER: indefinite length');
  const tlv = block.valueBeforeDecodeView;
  const header = idBlock.blockLength + lenBlock.blockLength;
  const constructed = idBlock.isConstructed;
  if (constructed && !(block instanceof asn1js.Constructed)) throw new Error('not valid DER: constructed string');
  return {
    tagClass: idBlock.tagClass - 1, // asn1js counts the classes from 1
    tagNumber: idBlock.tagNumber,
    constructed,
    tlv,
    contents: tlv.subarray(header),
    children: block instanceof asn1js.Constructed ? block.valueBlock.value.map(convert) : [],
  };
}

/** A DER element with the given identifier octet (low tag numbers only) and contents. */
export function encodeDer(identifier: number, contents: Uint8Array): Buffer {
  const n = contents.length;
  let length: number[];
  if (n < 0x80) length = [n];
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    length = [0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from([identifier, ...length]), contents]);
}

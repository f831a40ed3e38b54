// A guarded reader for the ZIP containers of OOXML files (docx, pptx, xlsx). The central directory is read by hand
// so that every entry's declared size is known before inflating, and entries are inflated in small steps with
// fflate while counting the real output: an entry that inflates past its declared size or past the archive's
// budget (zip bombs) stops at once with a DocumentError. Encrypted entries, ZIP64 archives and absurd entry counts
// are refused.
import { Inflate } from "fflate";
import { DocumentError, formatBytes, NotOoxmlError, type Pacer } from "./limits.ts";

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const MAX_ENTRIES = 20_000;
/** Compressed bytes handed to the inflater per step: at most ~1032x that comes out of one step. */
const INFLATE_STEP = 8 * 1024;

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

export interface ZipLimits {
  /** Inflated bytes allowed for the whole archive (every entry read counts). */
  maxTotalBytes: number;
  /** Inflated bytes allowed for one entry. */
  maxEntryBytes: number;
}

/** First bytes of an OLE compound file: password-protected OOXML and legacy .doc/.xls/.ppt. */
export function isCompoundFile(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0xd0 && bytes[1] === 0xcf && bytes[2] === 0x11 && bytes[3] === 0xe0 &&
    bytes[4] === 0xa1 && bytes[5] === 0xb1 && bytes[6] === 0x1a && bytes[7] === 0xe1;
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private inflatedTotal = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array, private readonly limits: ZipLimits, private readonly what: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readCentralDirectory();
  }

  private fail(cause: string): never {
    throw new DocumentError(`${this.what}: ${cause}`);
  }

  private u16(at: number): number {
    if (at + 2 > this.bytes.length) this.fail("truncated ZIP structure");
    return this.view.getUint16(at, true);
  }

  private u32(at: number): number {
    if (at + 4 > this.bytes.length) this.fail("truncated ZIP structure");
    return this.view.getUint32(at, true);
  }

  private readCentralDirectory(): void {
    const n = this.bytes.length;
    if (n < 22) {
      throw new NotOoxmlError(`${this.what}: not a ZIP archive (file too small; not an Office Open XML file)`);
    }
    let eocd = -1;
    for (let i = n - 22; i >= Math.max(0, n - 22 - 65535); i--) {
      if (this.view.getUint32(i, true) === EOCD_SIGNATURE) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      throw new NotOoxmlError(
        `${this.what}: not a ZIP archive (no end of central directory; truncated or not an Office Open XML file)`,
      );
    }
    const count = this.u16(eocd + 10);
    const cdSize = this.u32(eocd + 12);
    const cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdOffset === 0xffffffff) this.fail("ZIP64 archives are not supported");
    if (count > MAX_ENTRIES) this.fail(`ZIP archive has ${count} entries, more than ${MAX_ENTRIES}`);
    if (cdOffset + cdSize > n) this.fail("truncated ZIP archive (central directory beyond the end of the file)");
    let at = cdOffset;
    let declaredTotal = 0;
    const decoder = new TextDecoder();
    for (let i = 0; i < count; i++) {
      if (this.u32(at) !== CENTRAL_SIGNATURE) this.fail("corrupt ZIP central directory");
      const flags = this.u16(at + 8);
      const method = this.u16(at + 10);
      const compressedSize = this.u32(at + 20);
      const size = this.u32(at + 24);
      const nameLength = this.u16(at + 28);
      const extraLength = this.u16(at + 30);
      const commentLength = this.u16(at + 32);
      const localOffset = this.u32(at + 42);
      if (at + 46 + nameLength > n) this.fail("truncated ZIP central directory");
      const name = decoder.decode(this.bytes.subarray(at + 46, at + 46 + nameLength));
      at += 46 + nameLength + extraLength + commentLength;
      if (flags & 1) this.fail(`ZIP entry '${name}' is encrypted (password-protected document)`);
      if (compressedSize === 0xffffffff || size === 0xffffffff) this.fail("ZIP64 archives are not supported");
      declaredTotal += size;
      this.entries.set(name.replace(/^\//, ""), { name, method, compressedSize, size, localOffset });
    }
    if (declaredTotal > this.limits.maxTotalBytes) {
      this.fail(
        `ZIP archive declares ${formatBytes(declaredTotal)} uncompressed, more than the limit of ` +
          formatBytes(this.limits.maxTotalBytes) + " (zip bomb?)",
      );
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Inflates an entry step by step, handing each piece to `onChunk`; `pacer.tick()` runs between steps. */
  async stream(name: string, pacer: Pacer, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`missing part '${name}'`);
    if (entry.size > this.limits.maxEntryBytes) {
      this.fail(
        `part '${name}' declares ${formatBytes(entry.size)} uncompressed, more than the limit of ` +
          formatBytes(this.limits.maxEntryBytes),
      );
    }
    if (this.u32(entry.localOffset) !== LOCAL_SIGNATURE) this.fail(`corrupt ZIP local header of '${name}'`);
    const start = entry.localOffset + 30 + this.u16(entry.localOffset + 26) + this.u16(entry.localOffset + 28);
    const end = start + entry.compressedSize;
    if (end > this.bytes.length) this.fail(`truncated ZIP archive (part '${name}' runs past the end of the file)`);
    const data = this.bytes.subarray(start, end);
    let produced = 0;
    const count = (length: number) => {
      produced += length;
      this.inflatedTotal += length;
      if (produced > entry.size) {
        this.fail(`part '${name}' inflates beyond its declared size of ${formatBytes(entry.size)} (zip bomb?)`);
      }
      if (this.inflatedTotal > this.limits.maxTotalBytes) {
        this.fail(`ZIP archive inflates beyond the limit of ${formatBytes(this.limits.maxTotalBytes)} (zip bomb?)`);
      }
    };
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.size) this.fail(`corrupt ZIP entry '${name}' (stored sizes differ)`);
      for (let i = 0; i < data.length; i += INFLATE_STEP * 4) {
        const piece = data.subarray(i, i + INFLATE_STEP * 4);
        count(piece.length);
        onChunk(piece);
        await pacer.tick();
      }
      return;
    }
    if (entry.method !== 8) this.fail(`ZIP entry '${name}' uses unsupported compression method ${entry.method}`);
    let failure: unknown;
    const inflater = new Inflate((chunk) => {
      if (failure) return;
      try {
        count(chunk.length);
        onChunk(chunk);
      } catch (err) {
        failure = err;
      }
    });
    for (let i = 0; i < data.length && !failure; i += INFLATE_STEP) {
      const last = i + INFLATE_STEP >= data.length;
      try {
        inflater.push(data.subarray(i, i + INFLATE_STEP), last);
      } catch (err) {
        if (failure) break;
        this.fail(`corrupt ZIP entry '${name}' (${(err as Error).message || "invalid deflate data"})`);
      }
      if (!failure) await pacer.tick();
    }
    if (failure) throw failure;
    if (produced !== entry.size) {
      this.fail(`corrupt ZIP entry '${name}' (${produced} bytes inflated, ${entry.size} declared)`);
    }
  }

  /** The whole entry as bytes (images, small parts). */
  async read(name: string, pacer: Pacer): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let length = 0;
    await this.stream(name, pacer, (chunk) => {
      chunks.push(chunk.slice());
      length += chunk.length;
    });
    const out = new Uint8Array(length);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

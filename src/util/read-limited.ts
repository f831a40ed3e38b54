// Reading a body from outside with a size limit: stops (and cancels the source) as soon as more than the limit has
// arrived, so a huge or endless body cannot fill the memory. Works on web streams (fetch) and Node streams (the
// Azure SDKs' readableStreamBody).

export class ResponseTooLargeError extends Error {
  constructor(readonly what: string, readonly maxBytes: number, limitSetting?: string) {
    super(
      `${what} is larger than ${maxBytes} bytes${limitSetting ? ` (the limit set by ${limitSetting})` : ""}; ` +
        "stopped reading",
    );
    this.name = "ResponseTooLargeError";
  }
}

export interface ReadLimitedOptions {
  /** Setting that raises the limit, named in the error. */
  limitSetting?: string;
  /** Size announced up front (Content-Length, blob properties): refused before reading when over the limit. */
  declaredBytes?: number;
}

type Source = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

function isWebStream(source: Source): source is ReadableStream<Uint8Array> {
  return typeof (source as ReadableStream).getReader === "function";
}

async function closeSource(source: Source): Promise<void> {
  try {
    if (isWebStream(source)) return;
    const s = source as { destroy?: () => void };
    s.destroy?.();
  } catch {
    // Closing is best effort; the error we throw is what matters.
  }
}

export async function readStreamLimited(
  source: Source,
  maxBytes: number,
  what: string,
  opts: ReadLimitedOptions = {},
): Promise<Uint8Array> {
  if (opts.declaredBytes !== undefined && opts.declaredBytes > maxBytes) {
    if (isWebStream(source)) await source.cancel().catch(() => undefined);
    else await closeSource(source);
    throw new ResponseTooLargeError(what, maxBytes, opts.limitSetting);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const add = (chunk: Uint8Array | string): boolean => {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    total += bytes.byteLength;
    if (total > maxBytes) return false;
    chunks.push(bytes);
    return true;
  };
  if (isWebStream(source)) {
    const reader = source.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!add(value)) {
        await reader.cancel().catch(() => undefined);
        throw new ResponseTooLargeError(what, maxBytes, opts.limitSetting);
      }
    }
  } else {
    for await (const chunk of source) {
      if (!add(chunk)) {
        await closeSource(source);
        throw new ResponseTooLargeError(what, maxBytes, opts.limitSetting);
      }
    }
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

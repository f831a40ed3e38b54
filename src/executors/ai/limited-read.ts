// Reading answers of outside services with a size limit: stop and fail past it instead of buffering anything.
import { AiServiceError } from "./service-error.ts";

function tooLarge(what: string, maxBytes: number): AiServiceError {
  return new AiServiceError(`${what} is larger than the limit of ${maxBytes} bytes`);
}

/** Reads a Node.js readable stream up to `maxBytes`; destroys it and throws past the limit. */
export async function readNodeStreamLimited(
  stream: NodeJS.ReadableStream,
  maxBytes: number,
  what: string,
  declaredLength = NaN,
): Promise<Uint8Array> {
  const destroy = () => (stream as unknown as { destroy?: () => void }).destroy?.();
  if (Number.isFinite(declaredLength) && declaredLength > maxBytes) {
    destroy();
    throw tooLarge(what, maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    total += bytes.byteLength;
    if (total > maxBytes) {
      destroy();
      throw tooLarge(what, maxBytes);
    }
    chunks.push(bytes);
  }
  return concat(chunks, total);
}

/** Reads a fetch Response body up to `maxBytes`; cancels it and throws past the limit. */
export async function readResponseLimited(res: Response, maxBytes: number, what: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(what, maxBytes);
  }
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(what, maxBytes);
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

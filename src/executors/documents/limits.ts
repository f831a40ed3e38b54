// Limits and pacing shared by the document extractors: an error type that names the file and the cause, the
// per-item size limit, and a pacer that lets CPU-bound parsing give the event loop a turn and notice an abort.

/** A document that cannot be extracted (corrupt, encrypted, too large, over a page/row cap). */
export class DocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DocumentError";
  }
}

/**
 * The file is not an Office Open XML package at all (another format, or not a ZIP archive). ContentFlow's Word,
 * PowerPoint and Excel extractors pass such an item on with `<kind>_extraction_status: "invalid_file"`, which lets
 * a template run every extractor on every file (see invalidFileItem in ooxml.ts).
 */
export class NotOoxmlError extends DocumentError {
  constructor(message: string) {
    super(message);
    this.name = "NotOoxmlError";
  }
}

export const MIB = 1024 * 1024;

/** The smaller of the executor's max_file_size_mb and the worker-wide MAX_DOCUMENT_MB, in bytes. */
export function maxDocumentBytes(settingMb: number | undefined, workerMb: number): number {
  const mb = settingMb === undefined || settingMb <= 0 ? workerMb : Math.min(settingMb, workerMb);
  return Math.floor(mb * MIB);
}

export function formatBytes(n: number): string {
  if (n >= MIB) return `${(n / MIB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/**
 * Parsing runs on the main thread; `tick()` is called often (per row, per XML chunk, per page) and yields to the
 * event loop once `sliceMs` of work has passed, then throws if the task's signal was aborted meanwhile.
 */
export class Pacer {
  private last = performance.now();
  constructor(readonly signal: AbortSignal, private readonly sliceMs = 50) {}

  async tick(): Promise<void> {
    if (performance.now() - this.last < this.sliceMs) return;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.signal.throwIfAborted();
    this.last = performance.now();
  }

  /** Yields now (between pages or sheets, where there is a natural break). */
  async yieldNow(): Promise<void> {
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.signal.throwIfAborted();
    this.last = performance.now();
  }
}

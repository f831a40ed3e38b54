// Pipeline and vault documents a processing worker reads for every task, kept for a short while: without it a
// pass-through task made five Cosmos calls, two of them for documents that change a few times a day. A document
// found is reused for at most `maxAgeMs`, then read again (a change made in Cosmos reaches tasks that start after
// that bound); "not found" and "malformed" are never kept, so those are read every time. The compiled pipeline is
// cached separately by _etag (pipelines.ts), so a re-read with an unchanged _etag does not compile again.
import type { DocRead } from "./read-doc.ts";

interface Entry<T> {
  read: DocRead<T>;
  at: number;
}

export class DocumentCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly maxAgeMs: number,
    private readonly maxEntries = 500,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The document `id` as `load` reads it, or as it was read within the last `maxAgeMs`. */
  async read(id: string, load: () => Promise<DocRead<T>>): Promise<DocRead<T>> {
    const hit = this.entries.get(id);
    if (hit && this.clock() - hit.at < this.maxAgeMs) return hit.read;
    const read = await load();
    this.entries.delete(id);
    if (read.kind === "found" && this.maxAgeMs > 0) {
      this.entries.set(id, { read, at: this.clock() });
      // Oldest first in insertion order: drop it when full.
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    }
    return read;
  }
}

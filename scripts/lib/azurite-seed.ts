// Large containers for the crawl benchmark, written into Azurite's own metadata store before Azurite starts.
// Uploading through the REST API is too slow for a vault of 200,000 blobs: Azurite's blob store (LokiJS) looks each
// new blob up with a query whose first field is the account name, so every upload scans all blobs already there
// (60,000 uploads took 23 minutes on the 2-core VM, 200,000 would take about 3 hours). Here one real blob per
// container is uploaded through Azurite (so every field of its record is Azurite's own), Azurite is stopped
// gracefully (it saves its store), and LokiJS itself (the copy Azurite ships with, so the file format is the one
// Azurite reads) adds the other blobs as copies of that record with their own name, time and ETag. The copies share
// the first blob's stored bytes; the crawl only lists names, sizes and times. The caller then starts Azurite on the
// same directory and checks the count by listing.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { startEmulators } from "../../tests/helpers/emulators.ts";
import { ROOT } from "../../tests/helpers/binary.ts";
import { progress } from "./bench-kit.ts";

export interface SeedContainer {
  name: string;
  blobs: number;
}

/** The name of blob `i` of a benchmark vault: 1,000 per folder, sorted as numbered. */
export function seededBlobName(i: number): string {
  return `docs/${String(Math.floor(i / 1000)).padStart(4, "0")}/doc-${String(i).padStart(7, "0")}.txt`;
}

/** The body of every seeded blob (the copies share the first blob's bytes). */
const BODY = "benchmark document";

/** Azurite's blob metadata file under its `--location` directory, and its blobs collection. */
const LOKI_FILE = "__azurite_db_blob__.json";
const BLOBS_COLLECTION = "$BLOBS_COLLECTION$";

interface LokiCollection {
  findOne(query: Record<string, unknown>): Record<string, unknown> | null;
  insert(docs: Record<string, unknown>[]): unknown;
  count(query?: Record<string, unknown>): number;
}
interface LokiDb {
  loadDatabase(opts: object, done: (err?: unknown) => void): void;
  saveDatabase(done: (err?: unknown) => void): void;
  getCollection(name: string): LokiCollection | null;
}

/**
 * Fills `dir/blob` (the blob directory startEmulators uses for `dir`) with the containers, each holding `blobs`
 * blobs named by seededBlobName. `dir` must not hold Azurite data yet.
 */
export async function seedBlobContainers(dir: string, containers: SeedContainer[]): Promise<void> {
  const t0 = performance.now();
  progress(`writing ${containers.map((c) => `${c.blobs} blobs into ${c.name}`).join(", ")} (Azurite's store)`);
  // One real blob per container, through a short-lived Azurite on the same directory.
  const emu = await startEmulators({ dir, queue: false, cosmos: false });
  try {
    const service = BlobServiceClient.fromConnectionString(emu.blobConnectionString);
    for (const c of containers) {
      const container = service.getContainerClient(c.name);
      await container.createIfNotExists();
      await container.getBlockBlobClient(seededBlobName(0)).upload(BODY, BODY.length);
    }
  } finally {
    await emu.blob.stop("SIGTERM");
    await emu.stop();
  }
  const file = join(dir, "blob", LOKI_FILE);
  if (!existsSync(file)) throw new Error(`Azurite left no metadata file at ${file} after a graceful stop`);

  // Azurite's own LokiJS, so the file is written in the format Azurite reads.
  const requireFromAzurite = createRequire(join(ROOT, "node_modules", "azurite", "package.json"));
  const Loki = requireFromAzurite("lokijs") as new (path: string, opts: object) => LokiDb;
  const db = new Loki(file, { autosave: false });
  await new Promise<void>((resolve, reject) => db.loadDatabase({}, (err) => (err ? reject(err) : resolve())));
  const blobs = db.getCollection(BLOBS_COLLECTION);
  if (!blobs) throw new Error(`${file} has no ${BLOBS_COLLECTION}: has Azurite's store format changed?`);
  for (const c of containers) {
    const first = blobs.findOne({ containerName: c.name, name: seededBlobName(0) });
    if (!first) throw new Error(`${file}: the first blob of ${c.name} is missing`);
    const { $loki: _id, meta: _meta, ...record } = first;
    const properties = record.properties as Record<string, unknown>;
    const firstModified = new Date(String(properties.lastModified)).getTime();
    const copies: Record<string, unknown>[] = [];
    for (let i = 1; i < c.blobs; i++) {
      // One millisecond apart (uploads on the real service differ in time too), each with its own ETag.
      const modified = new Date(firstModified + i).toISOString();
      copies.push({
        ...structuredClone(record),
        name: seededBlobName(i),
        properties: {
          ...structuredClone(properties),
          lastModified: modified,
          createdOn: modified,
          etag: `"0x8DC${i.toString(16).toUpperCase().padStart(12, "0")}"`,
        },
      });
      if (copies.length === 20_000 || i === c.blobs - 1) blobs.insert(copies.splice(0));
    }
    const count = blobs.count({ containerName: c.name });
    if (count !== c.blobs) throw new Error(`${c.name}: ${count} blob records written, ${c.blobs} wanted`);
  }
  await new Promise<void>((resolve, reject) => db.saveDatabase((err) => (err ? reject(err) : resolve())));
  progress(`  written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// The crawl benchmark's measurements: a vault of N blobs in Azurite (written into its store before it starts), the first crawl of it by a bare SDK loop (list
// 5,000 per call; per 100 blobs one execution record in Cosmos and one queue message) and by the compiled binary's
// `worker --role=source --once` (batch_size 100, pass-through pipeline, a vault of its own per run so its
// checkpoint is fresh), with blobs per second, CPU and the worker's peak resident memory. Used by
// scripts/bench-crawl.ts and scripts/bench.ts.
import process from "node:process";
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { CosmosClient } from "@azure/cosmos";
import { QueueClient } from "@azure/storage-queue";
import { sdkHttpClient, storageHttpClient } from "../../src/net/sdk-http-client.ts";
import { basicEnv, startBinary } from "../../tests/helpers/binary.ts";
import { createVault, upsertPipeline } from "../../tests/helpers/seeded-store.ts";
import { uniqueName } from "../../tests/helpers/wait.ts";
import { sleep } from "../../src/util/sleep.ts";
import { type Bench, freshStore } from "./bench-measure.ts";
import { cpuSeconds, median, procStatusKiB, progress } from "./bench-kit.ts";
import { seedBlobContainers } from "./azurite-seed.ts";

/** Blobs per list call of the bare loop (the service's maximum). */
export const BARE_PAGE = 5000;
/** Blobs per task message (the pipeline's batch_size and the bare loop's group). */
export const CRAWL_BATCH = 100;

export interface CrawlVault {
  container: string;
  pipelineId: string;
  /** The pipeline's YAML (each run writes it into a database of its own). */
  pipelineYaml: string;
  blobs: number;
}

/**
 * The vault of `n` blobs and its pipeline. Azurite's blob store is replaced by one holding just this vault's container
 * (written into Azurite's store while it is stopped, see azurite-seed.ts; checked here by listing it), so that a
 * larger vault measured before does not slow the listing of a smaller one.
 */
export async function crawlVault(bench: Bench, n: number): Promise<CrawlVault> {
  const container = `bench-crawl-${n}`;
  await bench.emu.blob.stop("SIGTERM");
  const blobDir = join(bench.emu.dir, "blob");
  const seedDir = mkdtempSync(join(bench.emu.dir, "seed-"));
  try {
    await seedBlobContainers(seedDir, [{ name: container, blobs: n }]);
    rmSync(blobDir, { recursive: true, force: true });
    renameSync(join(seedDir, "blob"), blobDir);
  } finally {
    rmSync(seedDir, { recursive: true, force: true });
  }
  await bench.emu.blob.start();
  const client = BlobServiceClient.fromConnectionString(bench.emu.blobConnectionString).getContainerClient(container);
  const t0 = performance.now();
  const have = await countBlobs(client);
  if (have !== n) throw new Error(`${container} lists ${have} blobs after ${n} were written into Azurite's store`);
  progress(`${container}: ${n} blobs listed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const pipelineId = `bench-crawl-${n}`;
  const pipelineYaml = `pipeline:
  name: ${pipelineId}
  executors:
    - id: discover
      type: azure_blob_input_discovery
      settings: {blob_storage_account: devstoreaccount1, blob_container_name: ${container}, batch_size: ${CRAWL_BATCH}}
    - {id: pass, type: pass_through}
  execution_sequence: [discover, pass]
`;
  return { container, pipelineId, pipelineYaml, blobs: n };
}

async function countBlobs(client: ContainerClient): Promise<number> {
  let n = 0;
  for await (const page of client.listBlobsFlat().byPage({ maxPageSize: BARE_PAGE })) {
    n += page.segment.blobItems.length;
  }
  return n;
}

export interface CrawlRun {
  /** "bare loop" or the binary's label. */
  who: string;
  blobs: number;
  tasks: number;
  seconds: number;
  blobsPerSecond: number;
  /** CPU ms per 1,000 blobs of the crawling process (the bare loop: this process while it ran). */
  cpuMsPer1000?: number;
  /** The binary only: spawn to exit, and the most resident memory (VmHWM) in MiB. */
  processSeconds?: number;
  peakRssMiB?: number;
}

/** CPU seconds of this process so far. */
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * The bare SDK loop: lists the container 5,000 blobs per call and, per 100 blobs, creates an execution record in
 * Cosmos and sends one queue message (both awaited before the next group, as a plain loop would), over the fetch
 * transport our worker uses for Cosmos and the queue. The record and message carry each blob's name, size and
 * time, not our Content envelope.
 */
export async function bareCrawl(bench: Bench, vault: CrawlVault): Promise<CrawlRun> {
  const store = await freshStore(bench);
  const { config } = store;
  const cosmos = new CosmosClient({
    endpoint: bench.emu.cosmosEndpoint,
    key: bench.emu.env.COSMOS_DB_KEY,
    connectionPolicy: { enableEndpointDiscovery: false },
    httpClient: sdkHttpClient(),
  });
  const executions = cosmos.database(config.COSMOS_DB_NAME).container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
  const queue = new QueueClient(bench.emu.queueConnectionString, uniqueName("bench-crawl-bare"), {
    httpClient: storageHttpClient(),
  });
  await queue.create();
  const blobs = BlobServiceClient.fromConnectionString(bench.emu.blobConnectionString)
    .getContainerClient(vault.container);
  const vaultId = uniqueName("bare-vault");
  let listed = 0;
  let tasks = 0;
  const cpu0 = ownCpuSeconds();
  const t0 = performance.now();
  for await (const page of blobs.listBlobsFlat().byPage({ maxPageSize: BARE_PAGE })) {
    const items = page.segment.blobItems;
    for (let i = 0; i < items.length; i += CRAWL_BATCH) {
      const group = items.slice(i, i + CRAWL_BATCH).map((b) => ({
        name: b.name,
        size: b.properties.contentLength ?? 0,
        last_modified: b.properties.lastModified.toISOString(),
      }));
      const id = `exec_${vaultId}_${tasks}`;
      await executions.items.create({
        id,
        vault_id: vaultId,
        pipeline_id: vault.pipelineId,
        status: "pending",
        number_of_items: group.length,
        content: group.map((g) => g.name),
        created_at: new Date().toISOString(),
      });
      await queue.sendMessage(JSON.stringify({ task_type: "content_processing", execution_id: id, content: group }));
      tasks++;
    }
    listed += items.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = ownCpuSeconds() - cpu0;
  await queue.delete().catch(() => {});
  await store.db.delete().catch(() => {});
  return {
    who: "bare loop",
    blobs: listed,
    tasks,
    seconds,
    blobsPerSecond: listed / seconds,
    cpuMsPer1000: cpu * 1000 / (listed / 1000),
  };
}

/**
 * `binary worker --role=source --once --vault <new vault>` over the vault's container (a fresh database, queue and
 * vault each run: no checkpoint yet). Blobs per second over the crawl itself (its "crawl finished" log line's
 * duration: from the checkpoint read to the last message, start-up excluded), and spawn-to-exit besides; peak RSS
 * from /proc/<pid>/status VmHWM (sampled every 100 ms, the last sample just before exit).
 */
export async function workerCrawl(
  bench: Bench,
  vault: CrawlVault,
  binary: string,
  who: string,
  env: Record<string, string> = {},
): Promise<CrawlRun> {
  const store = await freshStore(bench);
  await upsertPipeline(store, vault.pipelineId, vault.pipelineYaml);
  const vaultId = uniqueName("crawl-vault");
  await createVault(store, vaultId, { pipelineId: vault.pipelineId });
  const queueName = uniqueName("bench-crawl-q");
  const cwd = mkdtempSync(join(tmpdir(), "cfw-bench-crawl-"));
  const t0 = performance.now();
  const child = startBinary(binary, ["worker", "--role=source", "--once", "--vault", vaultId], {
    cwd,
    env: {
      ...basicEnv(),
      ...bench.emu.env,
      COSMOS_DB_NAME: store.config.COSMOS_DB_NAME,
      STORAGE_WORKER_QUEUE_NAME: queueName,
      WORKER_NAME: uniqueName("bench-source"),
      LOG_LEVEL: "info",
      ...env,
    },
    timeoutMs: 30 * 60_000,
  });
  let hwmKiB = 0;
  let cpu = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      hwmKiB = Math.max(hwmKiB, procStatusKiB(child.pid, "VmHWM") ?? 0);
      cpu = cpuSeconds(child.pid) ?? cpu;
      await sleep(100);
    }
  })();
  const finished = await child.finished.finally(() => (running = false));
  await sampler;
  const processSeconds = (performance.now() - t0) / 1000;
  rmSync(cwd, { recursive: true, force: true });
  if (finished.code !== 0) throw new Error(`${who}: source --once exited with ${finished.code}\n${finished.output}`);
  const queued = Number(/^tasks queued: (\d+)$/m.exec(finished.stdout)?.[1] ?? NaN);
  const discovered = Number(/^items discovered: (\d+)$/m.exec(finished.stdout)?.[1] ?? NaN);
  const done = finished.output.split("\n").filter((l) => l.includes('"crawl finished"')).map((l) => JSON.parse(l));
  const durationMs = Number(done.at(-1)?.duration_ms ?? NaN);
  const seconds = Number.isFinite(durationMs) ? durationMs / 1000 : processSeconds;
  await new QueueClient(bench.emu.queueConnectionString, queueName).delete().catch(() => {});
  await store.db.delete().catch(() => {});
  return {
    who,
    blobs: discovered,
    tasks: queued,
    seconds,
    blobsPerSecond: discovered / seconds,
    cpuMsPer1000: cpu > 0 ? cpu * 1000 / (discovered / 1000) : undefined,
    processSeconds,
    peakRssMiB: hwmKiB ? Math.round(hwmKiB / 1024 * 10) / 10 : undefined,
  };
}

export interface CrawlComparison {
  size: number;
  bare: CrawlRun[];
  /** Per binary label, its runs. */
  ours: Map<string, CrawlRun[]>;
}

/**
 * For each size: the vault, then `repeat` rounds, each running the bare loop and every binary once, alternately
 * (the order turns each round, so a noisy moment on a shared machine hits them alike).
 */
export async function compareCrawls(
  bench: Bench,
  sizes: number[],
  repeat: number,
  binaries: { label: string; path: string }[],
  env: Record<string, string> = {},
): Promise<CrawlComparison[]> {
  const out: CrawlComparison[] = [];
  for (const size of sizes) {
    const vault = await crawlVault(bench, size);
    const result: CrawlComparison = { size, bare: [], ours: new Map(binaries.map((b) => [b.label, []])) };
    for (let rep = 1; rep <= repeat; rep++) {
      const steps: (() => Promise<CrawlRun>)[] = [
        async () => {
          const run = await bareCrawl(bench, vault);
          result.bare.push(run);
          return run;
        },
        ...binaries.map((b) => async () => {
          const run = await workerCrawl(bench, vault, b.path, b.label, env);
          result.ours.get(b.label)!.push(run);
          return run;
        }),
      ];
      for (const step of rep % 2 === 1 ? steps : [...steps].reverse()) {
        progress(`crawl of ${size} blobs, round ${rep}/${repeat}: ${describeRun(await step())}`);
      }
    }
    out.push(result);
  }
  return out;
}

export function describeRun(r: CrawlRun): string {
  const f = (n: number | undefined, d = 1) => (n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(d));
  return `${r.who}: ${r.blobs} blobs, ${r.tasks} tasks in ${f(r.seconds, 2)} s = ${f(r.blobsPerSecond, 0)} blobs/s` +
    (r.cpuMsPer1000 !== undefined ? `, ${f(r.cpuMsPer1000, 0)} ms CPU per 1,000 blobs` : "") +
    (r.processSeconds !== undefined ? `, ${f(r.processSeconds, 2)} s spawn to exit` : "") +
    (r.peakRssMiB !== undefined ? `, peak RSS ${f(r.peakRssMiB)} MiB` : "");
}

/** Median blobs/s of runs, and the most peak RSS among them. */
export function summarize(runs: CrawlRun[]) {
  return {
    blobsPerSecond: median(runs.map((r) => r.blobsPerSecond)),
    processBlobsPerSecond: median(runs.map((r) => r.blobs / (r.processSeconds ?? r.seconds))),
    cpuMsPer1000: median(runs.map((r) => r.cpuMsPer1000 ?? NaN)),
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB ?? NaN)),
    tasks: runs[0]?.tasks,
  };
}

/** A Markdown table of the comparisons, ready to paste into BENCHMARKS.md. */
export function crawlTable(results: CrawlComparison[]): string {
  const f = (n: number | undefined, d = 1) => (n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(d));
  const rows: string[] = [];
  for (const c of results) {
    const bare = summarize(c.bare);
    for (const [label, runs] of c.ours) {
      const s = summarize(runs);
      rows.push(
        `| ${c.size.toLocaleString("en-US")} | ${label} | ${f(bare.blobsPerSecond, 0)} | ${f(s.blobsPerSecond, 0)} | ${
          f(s.blobsPerSecond / bare.blobsPerSecond, 2)
        } (${runs.map((r, i) => f(r.blobsPerSecond / c.bare[i]?.blobsPerSecond, 2)).join(", ")}) | ${
          f(s.processBlobsPerSecond, 0)
        } | ${f(bare.cpuMsPer1000, 0)} / ${f(s.cpuMsPer1000, 0)} | ${s.tasks} / ${bare.tasks} | ${f(s.peakRssMiB)} |`,
      );
    }
  }
  return [
    "| blobs | build | bare loop, blobs/s | worker crawl, blobs/s | ratio (median; each round) | worker spawn to exit, blobs/s | CPU ms per 1,000 blobs, bare / worker | messages, worker / bare | worker peak RSS (VmHWM), MiB |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

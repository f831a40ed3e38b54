// azure_blob_input_discovery against Azurite: Content shape, filters, paging, checkpoint, settings validation.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as v from "valibot";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import { Logger } from "../../src/log/logger.ts";
import { type Content, ContentSchema } from "../../src/model/content.ts";
import type { CrawlBatch, ExecutorRunContext, InputExecutorInstance } from "../../src/executors/types.ts";
import { isInputExecutor } from "../../src/executors/types.ts";
import {
  azureBlobInputDiscovery,
  AzureBlobInputDiscoverySettingsSchema,
} from "../../src/executors/builtin/azure-blob-input-discovery.ts";
import { blobService, sleep, testConfig, uniqueName, uploadBlobs, withTimeout } from "../helpers/source-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

let emu: Emulators;
let config: Config;
let container: string;

const BLOBS = [
  { name: "a.pdf", body: "x".repeat(100), metadata: { owner: "ann" }, contentType: "application/pdf" },
  { name: "b.DOCX", body: "x".repeat(2000) },
  { name: "c.txt", body: "x".repeat(10) },
  { name: "docs/d.pdf", body: "x".repeat(300) },
  { name: "docs/2024/e.pdf", body: "x".repeat(400) },
  { name: "docs/2024/q1/f.pdf", body: "x".repeat(500) },
  { name: "noext", body: "x" },
];

before(async () => {
  emu = await startEmulators({ queue: false, cosmos: false });
  config = await testConfig(emu);
  container = uniqueName("disc");
  await uploadBlobs(emu, container, BLOBS);
});

after(async () => {
  await emu?.stop();
});

function runCtx(signal = new AbortController().signal): ExecutorRunContext {
  return { executorId: "discover", pipelineName: "test", signal, logger: new Logger() };
}

function discovery(settings: Record<string, unknown>): InputExecutorInstance {
  const parsed = v.parse(AzureBlobInputDiscoverySettingsSchema, { blob_container_name: container, ...settings });
  const instance = azureBlobInputDiscovery.create("discover", parsed, { config, logger: new Logger() });
  assert.ok(isInputExecutor(instance));
  return instance;
}

async function crawlAll(
  e: InputExecutorInstance,
  checkpoint?: Date,
  isDone?: (c: Content) => boolean,
): Promise<CrawlBatch[]> {
  const batches: CrawlBatch[] = [];
  await withTimeout(
    (async () => {
      for await (const b of e.crawl(checkpoint, runCtx(), { isDone })) batches.push(b);
    })(),
    20_000,
    "crawl",
  );
  return batches;
}

async function names(settings: Record<string, unknown>, checkpoint?: Date): Promise<string[]> {
  const batches = await crawlAll(discovery(settings), checkpoint);
  return batches.flatMap((b) => b.items.map((c) => String(c.id.path)));
}

describe("azure_blob_input_discovery", () => {
  test("one Content per blob, exactly in the ContentFlow shape", async () => {
    const batches = await crawlAll(discovery({ blob_storage_account: "devstoreaccount1" }));
    const items = batches.flatMap((b) => b.items);
    assert.deepEqual(items.map((c) => c.id.path), BLOBS.map((b) => b.name).sort());
    const a = items.find((c) => c.id.path === "a.pdf");
    assert.ok(a);
    assert.ok(v.is(ContentSchema, a), "valid Content");
    const props = await blobService(emu).getContainerClient(container).getBlobClient("a.pdf").getProperties();
    assert.deepEqual(a.id, {
      canonical_id: `https://devstoreaccount1.blob.core.windows.net/${container}/a.pdf`,
      unique_id: createHash("sha1").update(`devstoreaccount1/${container}/a.pdf`).digest("hex"),
      source_name: "devstoreaccount1",
      source_type: "azure_blob",
      container,
      path: "a.pdf",
      filename: "a.pdf",
      metadata: {
        size: 100,
        last_modified: props.lastModified?.toISOString(),
        content_type: "application/pdf",
        blob_metadata: { owner: "ann" },
      },
    });
    assert.match(String(a.id.metadata?.last_modified), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(a.data, {});
    assert.deepEqual(a.summary_data, {});
    assert.equal(a.executor_logs?.length, 1);
    const log = a.executor_logs?.[0];
    assert.equal(log?.executor_id, "discover");
    assert.equal(log?.status, "completed");
    assert.deepEqual(log?.details, { blob_discovered: "a.pdf", container });
    assert.deepEqual(log?.errors, []);
    const f = items.find((c) => c.id.path === "docs/2024/q1/f.pdf");
    assert.equal(f?.id.filename, "f.pdf");
    // include_metadata: only blobs with metadata get blob_metadata.
    assert.equal(items.find((c) => c.id.path === "c.txt")?.id.metadata?.blob_metadata, undefined);
  });

  test("the account defaults to the connection string's (Azurite)", async () => {
    const items = (await crawlAll(discovery({}))).flatMap((b) => b.items);
    assert.equal(items[0].id.source_name, "devstoreaccount1");
  });

  test("file_extensions: comma string or YAML list, trimmed, with or without dot, case-insensitive", async () => {
    const expected = ["a.pdf", "b.DOCX", "docs/2024/e.pdf", "docs/2024/q1/f.pdf", "docs/d.pdf"];
    assert.deepEqual((await names({ file_extensions: " pdf , .DOCX " })).sort(), expected);
    assert.deepEqual((await names({ file_extensions: [".pdf", " docx"] })).sort(), expected);
    assert.deepEqual(await names({ file_extensions: "txt" }), ["c.txt"]);
    assert.equal((await names({ file_extensions: "" })).length, BLOBS.length, "empty = all");
  });

  test("prefix and max_depth (relative to the prefix; 0 = unlimited)", async () => {
    assert.deepEqual(await names({ prefix: "docs/" }), ["docs/2024/e.pdf", "docs/2024/q1/f.pdf", "docs/d.pdf"]);
    assert.deepEqual(await names({ prefix: "docs/", max_depth: 1 }), ["docs/2024/e.pdf", "docs/d.pdf"]);
    assert.deepEqual(await names({ max_depth: "1" }), ["a.pdf", "b.DOCX", "c.txt", "docs/d.pdf", "noext"]);
  });

  test("size and modification-time filters", async () => {
    assert.deepEqual(await names({ min_size_bytes: 300, max_size_bytes: "500" }), [
      "docs/2024/e.pdf",
      "docs/2024/q1/f.pdf",
      "docs/d.pdf",
    ]);
    assert.equal((await names({ modified_after: "2000-01-01" })).length, BLOBS.length);
    assert.deepEqual(await names({ modified_before: "2000-01-01T00:00:00" }), []);
    assert.deepEqual(await names({ modified_after: "2999-01-01T00:00:00+02:00" }), []);
  });

  test("batch_size pages the listing; in a pipeline (process) max_results caps the blobs listed, as in Python", async () => {
    const batches = await crawlAll(discovery({ batch_size: 2 }));
    assert.deepEqual(batches.map((b) => b.items.length), [2, 2, 2, 1]);
    for (const b of batches) {
      const newest = Math.max(...b.items.map((c) => Date.parse(String(c.id.metadata?.last_modified))));
      assert.equal(b.maxModified?.getTime(), newest);
    }
    const processed = await discovery({ batch_size: 2, max_results: 3 }).process([], runCtx());
    assert.deepEqual(processed.map((c) => c.id.path), ["a.pdf", "b.DOCX", "c.txt"]);
  });

  test("crawl with max_results yields the oldest new blobs (not the first names), skipping those already done", async () => {
    const own = uniqueName("cap");
    await uploadBlobs(emu, own, [{ name: "y-old.txt" }, { name: "z-old.txt" }]);
    await sleep(1100); // blob times have one-second resolution
    await uploadBlobs(emu, own, [{ name: "a-new.txt" }, { name: "b-new.txt" }]);
    const capped = (isDone?: (c: Content) => boolean) =>
      crawlAll(discovery({ blob_container_name: own, max_results: 2, batch_size: 1 }), undefined, isDone);
    const first = await capped();
    assert.deepEqual(first.flatMap((b) => b.items.map((c) => c.id.path)), ["y-old.txt", "z-old.txt"]);
    assert.deepEqual(first.map((b) => b.items.length), [1, 1], "yielded in batch_size chunks, oldest first");
    const done = new Set(["y-old.txt", "a-new.txt"]);
    const second = await capped((c) => done.has(String(c.id.path)));
    assert.deepEqual(second.flatMap((b) => b.items.map((c) => c.id.path)), ["z-old.txt", "b-new.txt"]);
  });

  test("sort_by / sort_ascending apply within a batch", async () => {
    assert.deepEqual(await names({ sort_by: "size", sort_ascending: "false", prefix: "docs/" }), [
      "docs/2024/q1/f.pdf",
      "docs/2024/e.pdf",
      "docs/d.pdf",
    ]);
  });

  test("crawl(checkpoint) returns only blobs modified strictly after it (new and modified ones)", async () => {
    const own = uniqueName("chk");
    await uploadBlobs(emu, own, [{ name: "old-1.txt" }, { name: "old-2.txt" }]);
    const e = discovery({ blob_container_name: own });
    const first = (await crawlAll(e)).flatMap((b) => b.items);
    const checkpoint = new Date(Math.max(...first.map((c) => Date.parse(String(c.id.metadata?.last_modified)))));
    assert.deepEqual(await names({ blob_container_name: own }, checkpoint), [], "same second is not newer");
    await sleep(1100); // blob times have one-second resolution
    await uploadBlobs(emu, own, [{ name: "new.txt" }, { name: "old-2.txt", body: "changed" }]);
    assert.deepEqual(await names({ blob_container_name: own }, checkpoint), ["new.txt", "old-2.txt"]);
  });

  test("the listing stops when the signal is aborted", async () => {
    const controller = new AbortController();
    const e = discovery({ batch_size: 1 });
    const seen: string[] = [];
    await assert.rejects(
      withTimeout(
        (async () => {
          for await (const b of e.crawl(undefined, runCtx(controller.signal))) {
            seen.push(...b.items.map((c) => String(c.id.path)));
            controller.abort(new Error("stop"));
          }
        })(),
        20_000,
        "aborted crawl",
      ),
    );
    assert.equal(seen.length, 1);
  });

  test("a missing container fails the crawl with the storage error", async () => {
    await assert.rejects(crawlAll(discovery({ blob_container_name: "no-such-container" })), (err: unknown) => {
      return (err as { statusCode?: number }).statusCode === 404;
    });
  });

  test("process() returns every blob (in-pipeline use)", async () => {
    const out = await discovery({}).process([], runCtx());
    assert.equal(out.length, BLOBS.length);
  });
});

describe("azure_blob_input_discovery settings", () => {
  const parse = (s: Record<string, unknown>) => v.safeParse(AzureBlobInputDiscoverySettingsSchema, s);
  const message = (s: Record<string, unknown>) => {
    const r = parse(s);
    return r.success ? "" : r.issues.map((i) => i.message).join("; ");
  };

  test("defaults as in the catalog; numbers and booleans may be strings", () => {
    const r = parse({
      blob_container_name: " c ",
      batch_size: "50",
      include_metadata: "no",
      polling_interval_seconds: "600",
    });
    assert.ok(r.success);
    assert.equal(r.output.blob_container_name, "c");
    assert.equal(r.output.batch_size, 50);
    assert.equal(r.output.include_metadata, false);
    assert.equal(r.output.polling_interval_seconds, 600);
    assert.equal(r.output.max_results, 0);
    assert.equal(r.output.max_depth, 0);
    assert.equal(r.output.sort_by, "name");
    assert.equal(r.output.sort_ascending, true);
    assert.equal(r.output.blob_storage_credential_type, "default_azure_credential");
    assert.deepEqual(r.output.file_extensions, []);
  });

  test("unknown keys (common executor settings) are ignored", () => {
    assert.ok(parse({ blob_container_name: "c", enabled: true, condition: "x", debug_mode: true }).success);
  });

  test("clear errors for bad settings", () => {
    assert.match(message({}), /blob_container_name is required/);
    assert.match(message({ blob_container_name: "c", sort_by: "date" }), /sort_by must be name, last_modified or size/);
    assert.match(message({ blob_container_name: "c", batch_size: "many" }), /batch_size must be a whole number/);
    assert.match(message({ blob_container_name: "c", batch_size: 0 }), /batch_size must be a whole number >= 1/);
    assert.match(
      message({ blob_container_name: "c", blob_storage_credential_type: "azure_key_credential" }),
      /blob_storage_account_key is required/,
    );
    assert.match(
      message({ blob_container_name: "c", modified_after: "yesterday" }),
      /modified_after must be an ISO date/,
    );
    assert.match(message({ blob_container_name: "c", file_extensions: 5 }), /file_extensions must be/);
  });
});

// azure_blob_content_retriever and azure_blob_output against Azurite, alone and in a pipeline run.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { randomUUID } from "node:crypto";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { AZURITE_ACCOUNT, type Emulators, startEmulators } from "../helpers/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { ExecutorRunContext } from "../../src/executors/types.ts";
import { claimCheckAccess, readClaimCheck } from "../../src/queue/claim-check.ts";
import {
  compilePipeline,
  createExecutor,
  defaultRegistry,
  parsePipelineYaml,
  PipelineError,
  runPipeline,
} from "../../src/pipeline/index.ts";

configureLogging({ level: "error" });
const logger = new Logger();
const registry = defaultRegistry();
let emu: Emulators;
let config: Config;
let service: BlobServiceClient;
let source: ContainerClient;
let output: ContainerClient;

const CSV = "name,qty\nAnn,2\nBob,3\n";

function blobItem(name: string): Content {
  return {
    id: {
      canonical_id: `https://${AZURITE_ACCOUNT}.blob.core.windows.net/${source.containerName}/${name}`,
      unique_id: `uid-${name.replace(/\W/g, "_")}`,
      source_name: AZURITE_ACCOUNT,
      source_type: "azure_blob",
      container: source.containerName,
      path: name,
      filename: name.split("/").pop(),
    },
    data: {},
    summary_data: {},
    executor_logs: [],
  };
}

const ctx = (): ExecutorRunContext => ({
  executorId: "x",
  pipelineName: "blob-test",
  signal: new AbortController().signal,
  logger,
});

async function download(container: ContainerClient, path: string): Promise<Buffer> {
  return await container.getBlobClient(path).downloadToBuffer();
}

before(async () => {
  emu = await startEmulators({ queue: false, cosmos: false });
  ({ config } = await loadConfig({ env: emu.env, dotenvPath: false }));
  service = BlobServiceClient.fromConnectionString(emu.blobConnectionString);
  source = service.getContainerClient(`src-${randomUUID().slice(0, 8)}`);
  output = service.getContainerClient(`out-${randomUUID().slice(0, 8)}`);
  await source.create();
  await output.create();
  await source.getBlockBlobClient("tables/orders.csv").upload(CSV, CSV.length);
  const bytes = Uint8Array.from([0, 1, 2, 250, 255]);
  await source.getBlockBlobClient("bin/raw.dat").upload(bytes, bytes.length);
});

after(async () => {
  await emu?.stop();
});

describe("azure_blob_content_retriever (Azurite)", () => {
  test("downloads into data.content as text, or base64", async () => {
    const text = createExecutor(
      {
        id: "get",
        type: "azure_blob_content_retriever",
        settings: { include_content_bytes_as_field: true, use_temp_file_for_content: false },
      },
      registry,
      { config, logger },
    );
    const [t] = await text.process([blobItem("tables/orders.csv")], ctx());
    assert.equal(t.data?.content, CSV);
    assert.equal(t.data?.temp_file_path, undefined);
    const b64 = createExecutor(
      {
        id: "get",
        type: "azure_blob_content_retriever",
        settings: {
          include_content_bytes_as_field: "true",
          content_encoding: "base64",
          use_temp_file_for_content: false,
        },
      },
      registry,
      { config, logger },
    );
    const [b] = await b64.process([blobItem("bin/raw.dat")], ctx());
    assert.deepEqual([...Buffer.from(b.data?.content as string, "base64")], [0, 1, 2, 250, 255]);
  });

  test("only azure_blob items; a missing blob is an error", async () => {
    const get = createExecutor({ id: "get", type: "azure_blob_content_retriever" }, registry, { config, logger });
    await assert.rejects(
      get.process([{ ...blobItem("x"), id: { ...blobItem("x").id, source_type: "local_file" } }], ctx()),
      /unsupported source type 'local_file'/,
    );
    await assert.rejects(
      get.process([blobItem("nope/missing.csv")], ctx()),
      /blob src-.*\/nope\/missing.csv not found/,
    );
  });
});

describe("size limits on downloads (Azurite)", () => {
  test("azure_blob_content_retriever reads at most MAX_DOCUMENT_MB: a larger blob fails its item, naming the limit", async () => {
    const big = new Uint8Array(1024 * 1024 + 10).fill(65);
    await source.getBlockBlobClient("big/large.bin").upload(big, big.length);
    const small = { ...config, MAX_DOCUMENT_MB: 1 };
    const get = createExecutor(
      { id: "get", type: "azure_blob_content_retriever", settings: { use_temp_file_for_content: false } },
      registry,
      { config: small, logger },
    );
    await assert.rejects(
      get.process([blobItem("big/large.bin")], ctx()),
      /blob src-[^/]+\/big\/large\.bin is larger than 1048576 bytes \(the limit set by MAX_DOCUMENT_MB\); stopped reading/,
    );
    const [ok] = await get.process([blobItem("tables/orders.csv")], ctx());
    assert.equal(ok.id.path, "tables/orders.csv");
  });

  test("a claim-check blob over MAX_CLAIM_CHECK_BYTES is refused as a problem (poison), not downloaded whole", async () => {
    const claims = service.getContainerClient(`claims-${randomUUID().slice(0, 8)}`);
    await claims.create();
    const text = JSON.stringify({ task_type: "content_processing", payload: { pad: "x".repeat(200_000) } });
    await claims.getBlockBlobClient("tasks/t.json").upload(text, text.length);
    const pointer = {
      task_type: "content_processing" as const,
      claim_check: { container: claims.containerName, blob: "tasks/t.json", task_id: "t", execution_id: "e", bytes: 1 },
    };
    const signal = new AbortController().signal;
    const refused = await readClaimCheck(service, pointer, signal, 100_000);
    assert.deepEqual(refused, {
      found: false,
      problem: `claim-check blob ${claims.containerName}/tasks/t.json is larger than 100000 bytes ` +
        "(the limit set by MAX_CLAIM_CHECK_BYTES); stopped reading",
    });
    const read = await readClaimCheck(service, pointer, signal, 1_000_000);
    assert.equal(read.found && read.text.length, text.length);
    assert.deepEqual(
      await readClaimCheck(service, { ...pointer, claim_check: { ...pointer.claim_check, blob: "gone" } }, signal),
      {
        found: false,
      },
    );
  });

  test("a queue message cannot make a worker read or delete a blob outside CLAIM_CHECK_CONTAINER_NAME", async () => {
    const access = claimCheckAccess(() => service, { container: "contentflow-claim-checks", maxBytes: 1_000_000 });
    const foreign = {
      task_type: "content_processing" as const,
      claim_check: { container: source.containerName, blob: "tables/orders.csv", task_id: "t", execution_id: "e" },
    };
    const signal = new AbortController().signal;
    assert.deepEqual(await access.read(foreign, signal), {
      found: false,
      problem: `claim-check container '${source.containerName}' is not CLAIM_CHECK_CONTAINER_NAME ` +
        "('contentflow-claim-checks'); refused",
    });
    await access.delete(foreign, signal);
    assert.ok(await source.getBlobClient("tables/orders.csv").exists(), "the foreign blob is still there");
    // Inside the container both work.
    const own = service.getContainerClient("contentflow-claim-checks");
    await own.createIfNotExists();
    await own.getBlockBlobClient("tasks/t.json").upload("{}", 2);
    const mine = {
      ...foreign,
      claim_check: { ...foreign.claim_check, container: own.containerName, blob: "tasks/t.json" },
    };
    assert.deepEqual(await access.read(mine, signal), { found: true, text: "{}" });
    await access.delete(mine, signal);
    assert.equal(await own.getBlobClient("tasks/t.json").exists(), false);
  });

  test("a blob name that climbs out of CLAIM_CHECK_CONTAINER_NAME is neither read nor deleted", async () => {
    const access = claimCheckAccess(() => service, { container: "contentflow-claim-checks", maxBytes: 1_000_000 });
    await service.getContainerClient("contentflow-claim-checks").createIfNotExists();
    const signal = new AbortController().signal;
    for (
      const blob of [
        `../${source.containerName}/tables/orders.csv`,
        `tasks/../../${source.containerName}/tables/orders.csv`,
        `%2e%2e/${source.containerName}/tables/orders.csv`,
        `..\\${source.containerName}\\tables\\orders.csv`,
      ]
    ) {
      const climbing = {
        task_type: "content_processing" as const,
        claim_check: { container: "contentflow-claim-checks", blob, task_id: "t", execution_id: "e" },
      };
      const read = await access.read(climbing, signal);
      assert.equal(read.found, false, blob);
      assert.match(read.found ? "" : read.problem ?? "", /is not tasks\/<task_id>\.json .*refused/, blob);
      await access.delete(climbing, signal);
      assert.ok(await source.getBlobClient("tables/orders.csv").exists(), `the foreign blob is still there (${blob})`);
    }
  });
});

describe("azure_blob_output (Azurite)", () => {
  test("writes each item as JSON at the templated path and records summary_data.blob_output", async () => {
    const out = createExecutor(
      {
        id: "save",
        type: "azure_blob_output",
        settings: {
          container_name: output.containerName,
          path_template: "runs/{pipeline_name}/{year}",
          filename_template: "{id.unique_id}-{kind}.json",
          metadata_fields: "kind,id.filename",
        },
      },
      registry,
      { config, logger },
    );
    const input = { ...blobItem("a/b.pdf"), data: { kind: "invoice/2024" } };
    const [written] = await out.process([input], ctx());
    const info = written.summary_data?.blob_output as Record<string, unknown>;
    const year = String(new Date().getUTCFullYear());
    assert.equal(info.blob_path, `runs/blob-test/${year}/uid-a_b_pdf-invoice_2024.json`);
    assert.equal(info.write_status, "success");
    assert.equal(info.container, output.containerName);
    assert.equal(typeof info.blob_etag, "string");
    const body = await download(output, info.blob_path as string);
    assert.equal(info.blob_size, body.length);
    assert.deepEqual(JSON.parse(body.toString("utf8")), input);
    assert.match(body.toString("utf8"), /\n {2}"id"/, "pretty printed by default");
    const props = await output.getBlobClient(info.blob_path as string).getProperties();
    assert.equal(props.metadata?.kind, "invoice/2024");
    assert.equal(props.metadata?.id_filename, "b.pdf");
    assert.ok(props.metadata?.written_at);
    assert.equal(props.contentType, "application/json");
  });

  test("gzip, content_field, and overwrite_existing false", async () => {
    const settings = {
      container_name: output.containerName,
      path_template: "gz/",
      filename_template: "{id.unique_id}.json",
      compression: "gzip",
      content_field: "result",
      overwrite_existing: false,
    };
    const out = createExecutor({ id: "save", type: "azure_blob_output", settings }, registry, { config, logger });
    const input = { ...blobItem("c.pdf"), data: { result: { score: 3 }, other: 1 } };
    const [written] = await out.process([input], ctx());
    const path = (written.summary_data?.blob_output as { blob_path: string }).blob_path;
    assert.equal(path, "gz/uid-c_pdf.json.gz");
    assert.deepEqual(JSON.parse(gunzipSync(await download(output, path)).toString("utf8")), { score: 3 });
    await assert.rejects(out.process([input], ctx()), /already exists and overwrite_existing is false/);
  });

  test("settings are checked when the pipeline is compiled", async () => {
    const bad = (settings: Record<string, unknown>, cfg: Config, message: RegExp) =>
      assert.throws(
        () => createExecutor({ id: "save", type: "azure_blob_output", settings }, registry, { config: cfg, logger }),
        (err: unknown) => err instanceof PipelineError && message.test(err.message),
      );
    bad({}, config, /container_name/);
    bad({ container_name: "c", compression: "zip" }, config, /compression zip is not supported; use gzip/);
    bad({ container_name: "c", credential_type: "azure_key_credential" }, config, /credential_key is required/);
    const { config: bare } = await loadConfig({ env: {}, dotenvPath: false });
    bad({ container_name: "c" }, bare, /storage_account_name is required/);
  });
});

describe("blob executors in a pipeline run (Azurite)", () => {
  test("discovery excluded → retrieve to a temp file → CSV → write JSON; the temp file is gone afterwards", async () => {
    const yaml = `pipeline:
  name: csv-to-json
  executors:
    - {id: discover, type: azure_blob_input_discovery, settings: {blob_container_name: "${source.containerName}"}}
    - {id: get, type: azure_blob_content_retriever, settings: {use_temp_file_for_content: true, fail_pipeline_on_error: false}}
    - {id: check, type: http, settings: {url: "http://127.0.0.1:9/unused", enabled: false}}
    - {id: csv, type: csv_extractor, settings: {infer_types: true, fail_pipeline_on_error: false}}
    - {id: save, type: azure_blob_output, settings: {container_name: "\${OUT}", path_template: "pipeline/", filename_template: "{id.filename}.json"}}
  edges:
    - {from: discover, to: get, type: sequential}
    - {from: get, to: check, type: sequential}
    - {from: check, to: csv, type: sequential}
    - {from: csv, to: save, type: sequential}
`;
    const def = parsePipelineYaml(yaml, { env: { OUT: output.containerName } });
    const p = compilePipeline(def, { registry, deps: { config, logger }, excludeExecutor: "discover" });
    const r = await runPipeline(p, [blobItem("tables/orders.csv"), blobItem("tables/missing.csv")], {
      signal: new AbortController().signal,
      logger,
    });
    await p.close();
    assert.equal(r.status, "completed", r.error);
    assert.deepEqual(Object.keys(r.executor_outputs), ["get", "csv", "save"]);
    const [ok, missing] = r.content;
    assert.deepEqual((ok.data?.csv_output as { rows: unknown[] }).rows, [{ name: "Ann", qty: 2 }, {
      name: "Bob",
      qty: 3,
    }]);
    const tempFile = ok.data?.temp_file_path as string;
    assert.ok(tempFile, "the retriever recorded its temp file");
    assert.equal(existsSync(tempFile), false, "temp files are deleted when the run ends");
    const saved = JSON.parse((await download(output, "pipeline/orders.csv.json")).toString("utf8"));
    assert.deepEqual(saved.data.csv_output.rows, [{ name: "Ann", qty: 2 }, { name: "Bob", qty: 3 }]);
    assert.deepEqual(ok.executor_logs?.map((l) => [l.executor_id, l.status]), [["get", "completed"], [
      "csv",
      "completed",
    ], ["save", "completed"]]);
    // The missing blob failed in `get` and then in `csv` (no content); fail_pipeline_on_error: false let the batch
    // finish (as in ContentFlow: the failed item passes on with a failed log entry).
    assert.deepEqual(missing.executor_logs?.map((l) => [l.executor_id, l.status]), [["get", "failed"], [
      "csv",
      "failed",
    ], ["save", "completed"]]);
    assert.equal(r.executor_outputs.get.items_failed, 1);
  });
});

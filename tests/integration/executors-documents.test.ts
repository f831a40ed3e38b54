// content_retriever against Azurite feeding the document extractors, alone and in a pipeline run.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { AZURITE_ACCOUNT, type Emulators, startEmulators } from "../helpers/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import {
  compilePipeline,
  createExecutor,
  defaultRegistry,
  parsePipelineYaml,
  runPipeline,
} from "../../src/pipeline/index.ts";
import { makeDocx, makePdf, makeXlsx } from "../helpers/documents.ts";

configureLogging({ level: "error" });
const logger = new Logger();
const registry = defaultRegistry();
let emu: Emulators;
let config: Config;
let docs: ContainerClient;

function blobItem(path: string, container = docs.containerName): Content {
  return {
    id: {
      canonical_id: `https://${AZURITE_ACCOUNT}.blob.core.windows.net/${container}/${path}`,
      unique_id: `uid-${path.replace(/\W/g, "_")}`,
      source_name: AZURITE_ACCOUNT,
      source_type: "azure_blob",
      container,
      path,
      filename: path.split("/").pop(),
    },
    data: {},
    summary_data: {},
    executor_logs: [],
  };
}

before(async () => {
  emu = await startEmulators({ queue: false, cosmos: false });
  ({ config } = await loadConfig({ env: emu.env, dotenvPath: false }));
  const service = BlobServiceClient.fromConnectionString(emu.blobConnectionString);
  docs = service.getContainerClient(`docs-${randomUUID().slice(0, 8)}`);
  await docs.create();
  for (
    const [name, bytes] of [["in/report.pdf", await makePdf()], ["in/memo.docx", await makeDocx()], [
      "in/sales.xlsx",
      await makeXlsx(),
    ], ["in/big.bin", new Uint8Array(1024 * 1024 + 1)]] as const
  ) {
    await docs.getBlockBlobClient(name).upload(bytes, bytes.length);
  }
});

after(async () => {
  await emu?.stop();
});

describe("content_retriever (Azurite)", () => {
  test("downloads a blob to a temp file and data.content, with data.metadata", async () => {
    const get = createExecutor(
      {
        id: "get",
        type: "content_retriever",
        settings: {
          blob_storage_account: AZURITE_ACCOUNT,
          include_content_bytes_as_field: true,
          content_encoding: "base64",
        },
      },
      registry,
      { config, logger },
    );
    const [r] = await get.process([blobItem("in/memo.docx")], {
      executorId: "get",
      pipelineName: "t",
      signal: new AbortController().signal,
      logger,
    });
    const expected = await docs.getBlobClient("in/memo.docx").downloadToBuffer();
    assert.deepEqual(Buffer.from(r.data?.content as string, "base64"), expected);
    assert.deepEqual(r.data?.metadata, {
      source: "blob",
      container: docs.containerName,
      path: "in/memo.docx",
      size: expected.length,
    });
    assert.ok(existsSync(r.data?.temp_file_path as string));
    // blob_container_name is the fallback when the item names no container.
    const [noContainer] = await createExecutor(
      {
        id: "get",
        type: "content_retriever",
        settings: { blob_container_name: docs.containerName, use_temp_file_for_content: false },
      },
      registry,
      { config, logger },
    ).process([{ ...blobItem("in/memo.docx"), id: { ...blobItem("in/memo.docx").id, container: null } }], {
      executorId: "get",
      pipelineName: "t",
      signal: new AbortController().signal,
      logger,
    });
    assert.equal((noContainer.data?.metadata as { size: number }).size, expected.length);
  });

  test("retrieve → extract PDF, Word and Excel in one run; failures stay per item; temp files are removed", async () => {
    const yaml = `pipeline:
  name: documents
  executors:
    - {id: get, type: content_retriever, settings: {max_file_size_mb: 1, fail_pipeline_on_error: false}}
    - {id: pdf, type: pdf_extractor, settings: {condition: "id.filename ends_with '.pdf'", fail_pipeline_on_error: false}}
    - {id: word, type: word_extractor, settings: {condition: "id.filename ends_with '.docx'"}}
    - {id: excel, type: excel_extractor, settings: {condition: "id.filename ends_with '.xlsx'"}}
  execution_sequence: [get, pdf, word, excel]
`;
    const p = compilePipeline(parsePipelineYaml(yaml), { registry, deps: { config, logger } });
    const r = await runPipeline(p, [
      blobItem("in/report.pdf"),
      blobItem("in/memo.docx"),
      blobItem("in/sales.xlsx"),
      blobItem("in/big.bin"),
      blobItem("in/missing.pdf"),
    ], { signal: new AbortController().signal, logger });
    await p.close();
    assert.equal(r.status, "completed", r.error);
    const [pdf, word, excel, big, missing] = r.content;
    assert.equal((pdf.data?.pdf_output as { pages: unknown[] }).pages.length, 3);
    assert.match((pdf.data?.pdf_output as { text: string }).text, /^Page 1 heading\nBody text on page 1\./);
    assert.equal(pdf.summary_data?.pages_processed, 3);
    assert.equal((word.data?.word_output as { text: string }).text.split("\n")[0], "Quarterly Report");
    assert.deepEqual((excel.data?.excel_output as { tables: Array<{ data: unknown[][] }> }).tables[0].data[0], [
      "Name",
      "Amount",
      "Paid",
      "Date",
      null,
    ]);
    for (const item of [pdf, word, excel]) {
      assert.equal(existsSync(item.data?.temp_file_path as string), false, "temp files are deleted after the run");
    }
    const failure = (item: Content) => item.executor_logs?.find((l) => l.executor_id === "get");
    assert.equal(failure(big)?.status, "failed");
    assert.match(
      failure(big)?.errors?.[0] ?? "",
      /blob docs-.*\/in\/big.bin is larger than 1048576 bytes \(the limit set by max_file_size_mb or MAX_DOCUMENT_MB\); stopped reading/,
    );
    assert.match(failure(missing)?.errors?.[0] ?? "", /in\/missing.pdf not found/);
    // The missing PDF then also fails in pdf_extractor (no temp file), naming what is missing.
    const pdfLog = missing.executor_logs?.find((l) => l.executor_id === "pdf");
    assert.match(pdfLog?.errors?.[0] ?? "", /PDF missing required content for 'missing.pdf'/);
    assert.equal(r.executor_outputs.get.items_failed, 2);
  });
});

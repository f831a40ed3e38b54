// gptrag_search_index_document_generator: GPT-RAG search documents from chunks or the whole text, as ContentFlow.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger();

/** The RAG ingestion template's generator node. */
const TEMPLATE_SETTINGS = `
        enabled: true
        condition: ''
        fail_pipeline_on_error: true
        debug_mode: false
        chunk_field: chunks
        content_field: text
        max_chunk_size: 32766
        extract_title: true
        title_field: ''
        max_title_length: 50
        category_field: ''
        default_category: document
        summary_field: summary
        source_value: ''
        related_images_field: ''
        related_files_field: ''
        id_prefix: ''
        parent_id_field: ''
        url_field: ''
        output_field: search_documents
        add_output_metadata: true`;

async function run(input: Content[], settings = TEMPLATE_SETTINGS) {
  const yaml = `
pipeline:
  name: rag
  executors:
    - id: gptrag_search_index_document_generator-1
      type: gptrag_search_index_document_generator
      settings:${settings}
  edges: []
`;
  const compiled = compilePipeline(parsePipelineYaml(yaml, { env: {} }), {
    registry: defaultRegistry(),
    deps: { config, logger },
  });
  const result = await runPipeline(compiled, input, { signal: new AbortController().signal, logger });
  assert.equal(result.status, "completed", result.error);
  return result.content;
}

const item = (data: Record<string, unknown>): Content => ({
  id: {
    canonical_id: "https://acct.blob.core.windows.net/content/reports/Q1 report.pdf",
    unique_id: "u1",
    source_type: "azure_blob",
    container: "content",
    path: "reports/Q1 report.pdf",
    filename: "Q1 report.pdf",
    metadata: { last_modified: "2026-01-02T03:04:05+00:00" },
  },
  data,
  summary_data: {},
  executor_logs: [],
});

describe("gptrag_search_index_document_generator", () => {
  test("one document per chunk in the GPT-RAG schema (template settings)", async () => {
    const chunks = [
      { text: "First chunk", chunk_index: 0, page_number: 1, offset: 0 },
      { text: "Second chunk ünïcode", chunk_index: 1, page_number: 2, related_images: ["img/1.png"] },
    ];
    const [out] = await run([item({ chunks, summary: "A quarterly report." })]);
    const docs = out.data.search_documents as Record<string, unknown>[];
    assert.equal(docs.length, 2);
    assert.deepEqual(docs[0], {
      id: "https-acct-blob-core-windows-net-content-reports-Q1-report-pdf-c00000",
      parent_id: "/content/reports/Q1 report.pdf",
      metadata_storage_path: "/content/reports/Q1 report.pdf",
      metadata_storage_name: "Q1 report.pdf",
      metadata_storage_last_modified: "2026-01-02T03:04:05+00:00",
      metadata_security_group_ids: [],
      metadata_security_user_ids: [],
      metadata_security_rbac_scope: [],
      chunk_id: 0,
      content: "First chunk",
      imageCaptions: "",
      page: 1,
      offset: 0,
      length: 11,
      title: "Q1 report",
      category: "document",
      filepath: "/content/reports/Q1 report.pdf",
      url: "https://acct.blob.core.windows.net/content/reports/Q1 report.pdf",
      summary: "A quarterly report.",
      relatedImages: [],
      relatedFiles: [],
      source: "azure_blob",
    });
    assert.equal(docs[1].id, "https-acct-blob-core-windows-net-content-reports-Q1-report-pdf-c00001");
    assert.equal(docs[1].offset, 0);
    assert.equal(docs[1].length, 20);
    assert.deepEqual(docs[1].relatedImages, [], "related_images_field unset: none");
    assert.equal((out.summary_data.gptrag_search_index_documents as Record<string, unknown>).documents_generated, 2);
    assert.equal(out.executor_logs.at(-1)!.details?.documents_generated, 2);
    assert.equal((out.data.chunks as Record<string, unknown>[])[0].text, "First chunk", "input chunks untouched");
  });

  test("no chunks: one document from the whole text; title from its first heading; fields and prefix", async () => {
    const settings = `
        content_field: markdown
        max_chunk_size: 10
        id_prefix: "doc-"
        category_field: meta.kind
        url_field: link
        parent_id_field: parent
        related_files_field: files
        source_value: blob`;
    const [out] = await run([
      item({
        markdown: "intro\n# Big Title\nbody ééé",
        meta: { kind: "report" },
        link: "u",
        parent: "p",
        files: ["f"],
      }),
    ], settings);
    const [doc] = out.data.search_documents as Record<string, unknown>[];
    assert.equal(doc.id, "doc-https-acct-blob-core-windows-net-content-reports-Q1-report-pdf-c00000");
    assert.equal(doc.content, "intro\n# Bi", "truncated to 10 UTF-8 bytes");
    assert.equal(doc.title, "Big Title");
    assert.equal(doc.category, "report");
    assert.equal(doc.url, "u");
    assert.equal(doc.parent_id, "p");
    assert.deepEqual(doc.relatedFiles, ["f"]);
    assert.equal(doc.source, "blob");
    assert.equal(out.summary_data.gptrag_search_index_documents, undefined);
  });

  test("multi-byte characters are not split by max_chunk_size; long ids are hashed", async () => {
    const settings = `
        max_chunk_size: 4`;
    const long = item({ chunks: [{ text: "aéé" }] });
    long.id.canonical_id = "x".repeat(200);
    const [out] = await run([long], settings);
    const [doc] = out.data.search_documents as Record<string, unknown>[];
    assert.equal(doc.content, "aé");
    assert.match(doc.id as string, /^x{64}-[0-9a-f]{64}-c00000$/);
  });
});

// ai_search_index_output (behind gptrag_search_index_document_generator, as in the web UI's RAG ingestion template)
// against the local AI Search fake, through the official @azure/search-documents client.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import { type FakeAiSearch, startFakeAiSearch } from "../helpers/fake-ai-search.ts";

configureLogging({ level: "error" });
/** The fakes listen on loopback, which the outbound policy refuses unless allowed; the key variable must be listed. */
const LOOPBACK = {
  OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
  PIPELINE_ENV_ALLOWED_VARIABLES: "*,AZURE_AI_SEARCH_API_KEY",
};
const { config } = await loadConfig({ env: LOOPBACK, dotenvPath: false });
const logger = new Logger();
const KEY = "fake-search-admin-key-0123";
const GPT_RAG_FIELDS = [
  "id",
  "parent_id",
  "metadata_storage_path",
  "metadata_storage_name",
  "metadata_storage_last_modified",
  "metadata_security_group_ids",
  "metadata_security_user_ids",
  "metadata_security_rbac_scope",
  "chunk_id",
  "content",
  "imageCaptions",
  "page",
  "offset",
  "length",
  "title",
  "category",
  "filepath",
  "url",
  "summary",
  "relatedImages",
  "relatedFiles",
  "source",
];

let fake: FakeAiSearch;

before(async () => {
  fake = await startFakeAiSearch({ key: KEY, index: "gpt-rag-index", fields: GPT_RAG_FIELDS });
});

after(() => fake.close());

function reset(options: Partial<FakeAiSearch["options"]> = {}) {
  fake.requests.length = 0;
  fake.batches.length = 0;
  fake.documents.clear();
  Object.assign(fake.options, {
    rejectKeys: undefined,
    fields: GPT_RAG_FIELDS,
    schema: undefined,
    denyIndexRead: undefined,
  }, options);
}

const MAPPINGS = `|-
          { "id": "id",
            "parent_id": "parent_id",
            "metadata_storage_path": "metadata_storage_path",
            "metadata_storage_name": "metadata_storage_name",
            "metadata_storage_last_modified": "metadata_storage_last_modified",
            "metadata_security_group_ids": "metadata_security_group_ids",
            "metadata_security_user_ids": "metadata_security_user_ids",
            "metadata_security_rbac_scope": "metadata_security_rbac_scope",
            "chunk_id": "chunk_id",
            "content": "content",
            "imageCaptions": "imageCaptions",
            "page": "page",
            "offset": "offset",
            "length": "length",
            "title": "title",
            "category": "category",
            "filepath": "filepath",
            "url": "url",
            "summary": "summary",
            "relatedImages": "relatedImages",
            "relatedFiles": "relatedFiles",
            "source": "source"
          }`;

/** The RAG ingestion template's last two nodes; `overrides` replace lines of the index node's settings. */
function pipelineYaml(overrides: Record<string, string> = {}): string {
  const index: Record<string, string> = {
    enabled: "true",
    condition: "''",
    // The template says true; false lets a failed item pass on with its failed log entry, which the tests read.
    fail_pipeline_on_error: "false",
    ai_search_account: '"${AZURE_AI_SEARCH_SERVICE_ACCOUNT_NAME}"',
    ai_search_endpoint: '"${AZURE_AI_SEARCH_ENDPOINT}"',
    ai_search_credential_type: "azure_key_credential",
    ai_search_api_key: '"${AZURE_AI_SEARCH_API_KEY}"',
    ai_search_api_version: "2025-11-01-preview",
    ai_search_index: "gpt-rag-index",
    index_mode: "chunks",
    chunk_iterator_field: "search_documents",
    content_to_index_mappings: MAPPINGS,
    index_action_type: "mergeOrUpload",
    batch_size: "100",
    max_retries: "3",
    retry_delay: "0.01",
    max_concurrent: "3",
    timeout_secs: "30",
    continue_on_error: "true",
    ...overrides,
  };
  return `
pipeline:
  name: "GPT-RAG Document Ingestion"
  executors:
    - id: gptrag_search_index_document_generator-1
      type: gptrag_search_index_document_generator
      settings:
        default_category: document
        add_output_metadata: true
    - id: ai_search_index_output-1
      type: ai_search_index_output
      settings:
${Object.entries(index).filter(([, v]) => v !== "").map(([k, v]) => `        ${k}: ${v}`).join("\n")}
  edges:
    - from: gptrag_search_index_document_generator-1
      to: ai_search_index_output-1
      type: sequential
`;
}

async function run(input: Content[], overrides: Record<string, string> = {}) {
  const def = parsePipelineYaml(pipelineYaml(overrides), {
    env: {
      AZURE_AI_SEARCH_SERVICE_ACCOUNT_NAME: "enterprise-search",
      AZURE_AI_SEARCH_ENDPOINT: fake.endpoint,
      AZURE_AI_SEARCH_API_KEY: KEY,
    },
  });
  const compiled = compilePipeline(def, { registry: defaultRegistry(), deps: { config, logger } });
  return await runPipeline(compiled, input, { signal: new AbortController().signal, logger });
}

const item = (n: number, chunks = 2): Content => ({
  id: {
    canonical_id: `https://acct.blob.core.windows.net/content/doc${n}.pdf`,
    unique_id: `u${n}`,
    source_type: "azure_blob",
    container: "content",
    path: `doc${n}.pdf`,
    filename: `doc${n}.pdf`,
  },
  data: {
    chunks: Array.from({ length: chunks }, (_, i) => ({ text: `chunk ${i} of doc ${n}`, chunk_index: i })),
    summary: "short",
  },
  summary_data: {},
  executor_logs: [],
});

function indexLog(result: Awaited<ReturnType<typeof run>>, i = 0) {
  return result.content[i].executor_logs.find((l) => l.executor_id === "ai_search_index_output-1")!;
}

describe("ai_search_index_output", () => {
  test("indexes the generator's documents with the template's mappings, one batch per item", async () => {
    reset();
    const result = await run([item(1), item(2, 3)]);
    assert.equal(result.status, "completed", result.error);
    assert.equal(fake.batches.length, 2);
    // The index definition is read once (403 here: the index has no schema in this fake, as for a data-only role).
    assert.deepEqual(fake.requests.map((r) => r.route), ["definition", "index", "index"]);
    const request = fake.requests[1];
    assert.equal(request.path, "/indexes('gpt-rag-index')/docs/search.index");
    assert.equal(request.query.get("api-version"), "2025-11-01-preview");
    assert.equal(request.headers["api-key"], KEY);
    const first = fake.batches.find((b) => b.length === 2)!;
    assert.deepEqual(first[0], {
      "@search.action": "mergeOrUpload",
      id: "https-acct-blob-core-windows-net-content-doc1-pdf-c00000",
      parent_id: "/content/doc1.pdf",
      metadata_storage_path: "/content/doc1.pdf",
      metadata_storage_name: "doc1.pdf",
      metadata_storage_last_modified: "",
      metadata_security_group_ids: [],
      metadata_security_user_ids: [],
      metadata_security_rbac_scope: [],
      chunk_id: 0,
      content: "chunk 0 of doc 1",
      imageCaptions: "",
      page: 0,
      offset: 0,
      length: 16,
      title: "doc1",
      category: "document",
      filepath: "/content/doc1.pdf",
      url: "https://acct.blob.core.windows.net/content/doc1.pdf",
      summary: "short",
      relatedImages: [],
      relatedFiles: [],
      source: "azure_blob",
    });
    assert.equal(fake.documents.size, 5);
    assert.equal(result.content[0].summary_data.indexed_count, 2);
    assert.equal(result.content[0].summary_data.index_status, "success");
    assert.equal(result.content[1].summary_data.indexed_count, 3);
    assert.deepEqual(indexLog(result, 1).details, { indexed_count: 3, batches: 1 });
  });

  test("batch_size splits batches; document mode maps item fields and adds indexed_at", async () => {
    reset();
    const split = await run([item(1, 3)], { batch_size: "2" });
    assert.equal(indexLog(split).status, "completed");
    assert.deepEqual(fake.batches.map((b) => b.length), [2, 1]);

    reset({ fields: undefined });
    const doc = await run([item(7)], {
      index_mode: "document",
      index_action_type: "upload",
      content_to_index_mappings:
        `'{"id.unique_id": "id", "id.canonical_id": "url", "summary": "summary", "chunk.missing": "x"}'`,
    });
    assert.equal(indexLog(doc).status, "completed", indexLog(doc).errors[0]);
    const [action] = fake.batches[0];
    assert.equal(action["@search.action"], "upload");
    assert.equal(action.id, "u7");
    assert.equal(action.url, "https://acct.blob.core.windows.net/content/doc7.pdf");
    assert.equal(action.summary, "short");
    assert.equal("x" in action, false);
    assert.ok(!Number.isNaN(Date.parse(action.indexed_at as string)));
  });

  test("documents rejected with 503 are sent again alone; a 400 rejection fails the item with its key", async () => {
    reset({
      rejectKeys: {
        "https-acct-blob-core-windows-net-content-doc1-pdf-c00001": { statusCode: 503, message: "busy", times: 1 },
      },
    });
    const ok = await run([item(1)]);
    assert.equal(indexLog(ok).status, "completed", indexLog(ok).errors[0]);
    assert.deepEqual(fake.batches.map((b) => b.length), [2, 1]);
    assert.equal(fake.documents.size, 2);

    reset({
      rejectKeys: {
        "https-acct-blob-core-windows-net-content-doc1-pdf-c00000": { statusCode: 400, message: "Invalid document." },
      },
    });
    const bad = await run([item(1)]);
    const log = indexLog(bad);
    assert.equal(log.status, "failed");
    assert.match(
      log.errors[0],
      /^ai_search_index_output 'ai_search_index_output-1', item https:\/\/acct\.blob\.core\.windows\.net\/content\/doc1\.pdf: AI Search index gpt-rag-index: 1 of 2 documents rejected: https-acct-blob-core-windows-net-content-doc1-pdf-c00000 \(400: Invalid document\.\)/,
    );
    assert.equal(fake.batches.length, 1, "not retried");
  });

  test("whole-batch 429 (Retry-After) and 503 are retried; 503s past max_retries fail with the status", async () => {
    reset();
    fake.fault("index", { kind: "status", status: 429, retryAfter: "0" }, { kind: "status", status: 503 });
    const ok = await run([item(1)]);
    assert.equal(indexLog(ok).status, "completed", indexLog(ok).errors[0]);
    assert.equal(fake.requests.filter((r) => r.route !== "definition").length, 3);

    reset();
    fake.fault("index", ...Array.from({ length: 3 }, () => ({ kind: "status" as const, status: 503 })));
    const failed = indexLog(await run([item(1)]));
    assert.equal(failed.status, "failed");
    assert.match(failed.errors[0], /AI Search index gpt-rag-index: HTTP 503/);
    assert.ok(!failed.errors[0].includes(KEY));
    assert.equal(fake.requests.filter((r) => r.route !== "definition").length, 3);
  });

  test("the service's own errors: unknown fields, wrong key, non-JSON answers", async () => {
    reset();
    const unknown = await run([item(1)], {
      content_to_index_mappings: `'{"id": "id", "content": "body"}'`,
    });
    assert.match(indexLog(unknown).errors[0], /HTTP 400: .*The property 'body' does not exist/);
    reset();
    const wrong = await run([item(1)], { ai_search_api_key: "not-the-key-at-all" });
    assert.match(indexLog(wrong).errors[0], /HTTP 403/);
    reset();
    fake.fault("index", { kind: "not-json" });
    const notJson = indexLog(await run([item(1)]));
    assert.equal(notJson.status, "failed");
    assert.match(notJson.errors[0], /AI Search index gpt-rag-index: HTTP 200: the answer is not valid JSON$/);
  });

  test("ContentFlow's own example mapping (id.canonical_id → id): URL keys go base64url, objects to Edm.String as JSON text, indexed_at only where the index has it", async () => {
    const schema = [
      { name: "id", type: "Edm.String", key: true },
      { name: "content", type: "Edm.String" },
      { name: "doc_json", type: "Edm.String" },
      { name: "tags", type: "Collection(Edm.String)" },
      { name: "pages", type: "Edm.Int32" },
      { name: "modified", type: "Edm.DateTimeOffset" },
    ];
    const mappings =
      `'{"id.canonical_id": "id", "summary": "content", "extra.doc": "doc_json", "extra.tags": "tags", "extra.pages": "pages", "extra.modified": "modified"}'`;
    const input = () => {
      const it = item(3);
      it.data.extra = { doc: { text: "a", tables: [] }, tags: ["x", { y: 1 }], pages: 2, modified: "" };
      return [it];
    };
    const settings = { index_mode: "document", ai_search_api_version: "", content_to_index_mappings: mappings };
    reset({ fields: undefined, schema });
    const ok = await run(input(), settings);
    assert.equal(indexLog(ok).status, "completed", indexLog(ok).errors[0]);
    assert.equal(fake.requests.find((r) => r.route === "index")!.query.get("api-version"), "2024-07-01");
    const [doc] = fake.batches[0];
    const key = Buffer.from("https://acct.blob.core.windows.net/content/doc3.pdf").toString("base64url");
    assert.deepEqual(doc, {
      "@search.action": "mergeOrUpload",
      id: key,
      content: "short",
      doc_json: '{"text":"a","tables":[]}',
      tags: ["x", '{"y":1}'],
      pages: 2,
      modified: null,
    });
    assert.ok(fake.documents.has(key));

    reset({ fields: undefined, schema: [...schema, { name: "indexed_at", type: "Edm.DateTimeOffset" }] });
    const stamped = await run(input(), settings);
    assert.equal(indexLog(stamped).status, "completed", indexLog(stamped).errors[0]);
    assert.ok(!Number.isNaN(Date.parse(fake.batches[0][0].indexed_at as string)));

    // A value that cannot fit its field fails the item naming document and field, before anything is sent.
    reset({ fields: undefined, schema: schema.map((f) => (f.name === "pages" ? { ...f, type: "Edm.Boolean" } : f)) });
    const wrong = indexLog(await run(input(), settings));
    assert.equal(wrong.status, "failed");
    assert.match(
      wrong.errors[0],
      new RegExp(`document "${key}": field 'pages' is Edm.Boolean in the index, the mapped value is a number`),
    );
    assert.equal(fake.batches.length, 0);

    // Without the right to read the index definition the documents go as mapped (as ContentFlow sends them), keys
    // still encoded; Azure's 400 names the field it refused.
    reset({ fields: undefined, schema, denyIndexRead: true });
    const blind = indexLog(await run(input(), settings));
    assert.equal(blind.status, "failed");
    assert.match(blind.errors[0], /HTTP 400: .*property named 'doc_json'/);
    assert.equal(fake.batches[0][0].id, key);
  });

  test("the fake refuses what Azure refuses: bad keys and values of the wrong type fail the whole batch", async () => {
    reset({
      fields: undefined,
      schema: [{ name: "id", type: "Edm.String", key: true }, { name: "n", type: "Edm.Int32" }],
    });
    const send = (value: Record<string, unknown>[]) =>
      fetch(`${fake.endpoint}/indexes('gpt-rag-index')/docs/search.index?api-version=2024-07-01`, {
        method: "POST",
        headers: { "api-key": KEY, "content-type": "application/json" },
        body: JSON.stringify({ value }),
      });
    for (
      const bad of [{ id: "https://a/b" }, { id: "_x" }, { id: "a".repeat(1025) }, { id: "ok", n: "1" }, {
        id: "ok",
        n: { v: 1 },
      }]
    ) {
      const res = await send([{ "@search.action": "upload", ...bad }]);
      assert.equal(res.status, 400, JSON.stringify(bad).slice(0, 40));
    }
    assert.equal((await send([{ "@search.action": "upload", id: "a-b_c=", n: 3 }])).status, 200);
    const definition = await fetch(`${fake.endpoint}/indexes('gpt-rag-index')?api-version=2024-07-01`, {
      headers: { "api-key": KEY },
    });
    assert.equal(definition.status, 200);
    assert.equal(((await definition.json()) as { fields: { key: boolean }[] }).fields[0].key, true);
  });

  test("settings: the template's placeholder account and missing mappings are refused at compile time", () => {
    const compile = (overrides: Record<string, string>) =>
      compilePipeline(parsePipelineYaml(pipelineYaml(overrides), { env: { AZURE_AI_SEARCH_API_KEY: KEY } }), {
        registry: defaultRegistry(),
        deps: { config, logger },
      });
    assert.throws(
      () => compile({ ai_search_account: "<enterprise-search-service-name>", ai_search_endpoint: "" }),
      /ai_search_account must be a search service name/,
    );
    assert.throws(
      () =>
        compile({
          ai_search_account: "svc",
          ai_search_endpoint: "",
          content_to_index_mappings: "",
        }),
      /content_to_index_mappings/,
    );
  });
});

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createExecutor, defaultRegistry, PipelineError } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { ExecutorRunContext } from "../../src/executors/types.ts";
import { parseCsv } from "../../src/executors/csv.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger();
const deps = { config, logger };
const registry = defaultRegistry();
const ctx: ExecutorRunContext = { executorId: "x", pipelineName: "p", signal: new AbortController().signal, logger };

const item = (n: number | string, data: Record<string, unknown> = {}, extra: Partial<Content> = {}): Content => ({
  id: {
    canonical_id: `c${n}`,
    unique_id: `u${n}`,
    filename: `f${n}.txt`,
    source_name: "acct",
    source_type: "azure_blob",
    container: "box",
    path: `dir/f${n}.txt`,
  },
  data,
  summary_data: {},
  executor_logs: [],
  ...extra,
});

function make(type: string, settings: Record<string, unknown> = {}) {
  return createExecutor({ id: "x", type, settings }, registry, deps);
}

async function one(type: string, settings: Record<string, unknown>, input: Content): Promise<Content[]> {
  return await make(type, settings).process([input], ctx);
}

function rejects(type: string, settings: Record<string, unknown>, message: RegExp) {
  assert.throws(() => make(type, settings), (err: unknown) => {
    assert.ok(err instanceof PipelineError, String(err));
    assert.match(err.message, message);
    return true;
  });
}

describe("registry", () => {
  test("built-in types and categories", () => {
    const types = Object.fromEntries(registry.list().map((d) => [d.type, d.category]));
    assert.deepEqual(types, {
      pass_through: "utility",
      fan_in_aggregator: "transform",
      field_mapper: "transform",
      field_selector: "transform",
      recursive_text_chunker: "transform",
      csv_extractor: "extract",
      table_row_splitter: "transform",
      azure_blob_content_retriever: "input",
      azure_blob_output: "output",
      azure_document_intelligence_extractor: "extract",
      azure_content_understanding_extractor: "extract",
      gptrag_search_index_document_generator: "transform",
      ai_search_index_output: "output",
      http: "transform",
      azure_blob_input_discovery: "input",
      word_extractor: "extract",
      pdf_extractor: "extract",
      powerpoint_extractor: "extract",
      excel_extractor: "extract",
      content_retriever: "input",
      azure_openai_agent: "transform",
      azure_openai_embeddings: "transform",
      text_summarizer: "transform",
      entity_extractor: "transform",
      sentiment_analyser: "transform",
      content_classifier: "transform",
      pii_detector: "transform",
      keyword_extractor: "transform",
      language_detector: "transform",
      content_translator: "transform",
      subpipeline: "utility",
      for_each_content: "utility",
      document_set_initializer: "utility",
      document_set_collector: "utility",
      cross_document_field_aggregator: "utility",
      cosmos_db_lookup: "transform",
      web_scraper: "input",
      cross_document_comparison: "utility",
    });
    assert.deepEqual(registry.list().filter((d) => d.crawls).map((d) => d.type), ["azure_blob_input_discovery"]);
  });
});

describe("pass_through and fan_in_aggregator", () => {
  test("pass_through returns the items unchanged", async () => {
    const input = [item(1, { a: 1 }), item(2)];
    assert.deepEqual(await make("pass_through").process(structuredClone(input), ctx), input);
  });

  test("fan_in_aggregator merges by canonical_id; the first occurrence wins per key", async () => {
    const out = await make("fan_in_aggregator").process([
      item(1, { a: "left", only_left: 1 }, { summary_data: { s: "left" } }),
      item(2, { a: "other" }),
      item(1, { a: "right", only_right: 2 }, { summary_data: { s: "right", t: 1 } }),
    ], ctx);
    assert.deepEqual(out.map((c) => c.id.canonical_id), ["c1", "c2"]);
    assert.deepEqual(out[0].data, { a: "left", only_left: 1, only_right: 2 });
    assert.deepEqual(out[0].summary_data, { s: "left", t: 1 });
  });
});

describe("field_mapper", () => {
  test("mappings as a JSON string (the catalog's form), copy by default", async () => {
    const [out] = await one(
      "field_mapper",
      { mappings: '{"customer_name": "name", "a.b": "x.y"}' },
      item(1, { customer_name: "Ann", a: { b: 2 } }),
    );
    assert.deepEqual(out.data, { customer_name: "Ann", a: { b: 2 }, name: "Ann", x: { y: 2 } });
  });

  test("mappings as a YAML map with move, remove_empty_objects and case_transform", async () => {
    const [out] = await one("field_mapper", {
      mappings: { "user.firstName": "author.firstName" },
      copy_mode: "move",
      remove_empty_objects: true,
      case_transform: "snake",
    }, item(1, { user: { firstName: "Ann" } }));
    assert.deepEqual(out.data, { author: { first_name: "Ann" } });
  });

  test("templates from data, list handling merge / first / concatenate / all", async () => {
    const data = { kind: "pdf", pages: [{ lines: ["a", "b"] }, { lines: ["c", ""] }] };
    const merged = await one("field_mapper", { mappings: { "pages.lines": "{kind}_lines" } }, item(1, data));
    assert.deepEqual(merged[0].data?.pdf_lines, ["a", "b", "c"]);
    const first = await one(
      "field_mapper",
      { mappings: { "pages.lines": "l" }, list_handling: "first" },
      item(1, data),
    );
    assert.deepEqual(first[0].data?.l, ["a", "b"]);
    const joined = await one("field_mapper", {
      mappings: { "pages.lines": "l" },
      list_handling: "concatenate",
      join_separator: "|",
    }, item(1, data));
    assert.equal(joined[0].data?.l, "a|b|c");
    const all = await one("field_mapper", { mappings: { "pages.lines": "l" }, list_handling: "all" }, item(1, data));
    assert.deepEqual(all[0].data?.l, [["a", "b"], ["c", ""]]);
  });

  test("source_id_mappings: id fields, templates, the whole id, literals", async () => {
    const [out] = await one("field_mapper", {
      source_id_mappings: { doc_id: "id.unique_id", where: "{id.container}/{id.path}", ident: "id", origin: "blob" },
    }, item(1));
    assert.equal(out.data?.doc_id, "u1");
    assert.equal(out.data?.where, "box/dir/f1.txt");
    assert.equal((out.data?.ident as { canonical_id: string }).canonical_id, "c1");
    assert.equal(out.data?.origin, "blob");
  });

  test("object_mappings combine parallel lists into objects", async () => {
    const [out] = await one("field_mapper", {
      object_mappings: { pages_out: { num: "pages.page_number", text: "pages.text" } },
    }, item(1, { pages: [{ page_number: 1, text: "one" }, { page_number: 2, text: "two" }] }));
    assert.deepEqual(out.data?.pages_out, [{ num: 1, text: "one" }, { num: 2, text: "two" }]);
  });

  test("missing sources are skipped, or fail with fail_on_missing_source; overwrite_existing false keeps targets", async () => {
    const [skipped] = await one("field_mapper", { mappings: { nope: "x" } }, item(1, { a: 1 }));
    assert.deepEqual(skipped.data, { a: 1 });
    await assert.rejects(
      one("field_mapper", { mappings: { nope: "x" }, fail_on_missing_source: true }, item(1)),
      /source field 'nope' not found/,
    );
    const [kept] = await one(
      "field_mapper",
      { mappings: { a: "b" }, overwrite_existing: "false" },
      item(1, { a: 1, b: 2 }),
    );
    assert.equal(kept.data?.b, 2);
  });

  test("invalid settings", () => {
    rejects("field_mapper", {}, /at least one of mappings, object_mappings or source_id_mappings/);
    rejects("field_mapper", { mappings: "{not json" }, /mappings must be a mapping \(YAML\) or a JSON object string/);
    rejects("field_mapper", { mappings: { a: "b" }, copy_mode: "swap" }, /copy_mode must be one of: move, copy/);
  });

  test("reserved names are refused", async () => {
    await assert.rejects(
      one("field_mapper", { mappings: { a: "__proto__.polluted" } }, item(1, { a: 1 })),
      /reserved name/,
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("field_selector", () => {
  const data = { title: "T", body: "B", meta: { author: "A", year: 2024, tags: ["x"] }, id: "keep-me" };
  test("include with a JSON string list and wildcards keeps the structure and id fields", async () => {
    const [out] = await one("field_selector", { fields: '["title", "meta.a*"]' }, item(1, data));
    assert.deepEqual(out.data, { title: "T", meta: { author: "A" }, id: "keep-me" });
  });

  test("include a parent keeps it whole; flat output with preserve_structure false", async () => {
    const [whole] = await one("field_selector", { fields: ["meta"], keep_id_fields: false }, item(1, data));
    assert.deepEqual(whole.data, { meta: data.meta });
    const [flat] = await one("field_selector", {
      fields: "meta.year, title",
      preserve_structure: false,
      keep_id_fields: false,
    }, item(1, data));
    assert.deepEqual(flat.data, { title: "T", "meta.year": 2024 });
  });

  test("exclude removes nested fields exactly (ContentFlow kept the parent whole)", async () => {
    const [out] = await one("field_selector", {
      mode: "exclude",
      fields: ["meta.year", "body"],
      add_selection_metadata: true,
    }, item(1, data));
    assert.deepEqual(out.data, { title: "T", meta: { author: "A", tags: ["x"] }, id: "keep-me" });
    assert.equal((out.summary_data?.field_selection as { mode: string }).mode, "exclude");
  });

  test("conditional_selection leaves non-matching items alone", async () => {
    const settings = {
      fields: ["title"],
      conditional_selection: true,
      condition_field: "meta.author",
      condition_operator: "equals",
      condition_value: "Z",
    };
    const [out] = await one("field_selector", settings, item(1, data));
    assert.deepEqual(out.data, data);
  });

  test("invalid settings and missing fields", async () => {
    rejects("field_selector", {}, /fields/);
    rejects("field_selector", { fields: ["a"], mode: "keep" }, /mode must be one of: include, exclude/);
    rejects("field_selector", { fields: ["a"], conditional_selection: true }, /condition_field is required/);
    await assert.rejects(
      one("field_selector", { fields: ["nope"], fail_on_missing_field: true }, item(1, data)),
      /field 'nope' not found/,
    );
  });
});

describe("recursive_text_chunker", () => {
  const paragraphs = Array.from({ length: 8 }, (_, i) => `Paragraph ${i} ` + "lorem ipsum dolor sit amet. ".repeat(5))
    .join("\n\n");

  test("chunks respect chunk_size, prefer paragraph boundaries, and record metadata", async () => {
    const [out] = await one(
      "recursive_text_chunker",
      { chunk_size: 300, chunk_overlap: 0, min_chunk_size: 0 },
      item(1, { text: paragraphs }),
    );
    const chunks = out.data?.chunks as Array<{ text: string; chunk_index: number; metadata: Record<string, unknown> }>;
    assert.ok(chunks.length >= 4);
    for (const [i, c] of chunks.entries()) {
      assert.ok(c.text.length <= 300);
      assert.equal(c.chunk_index, i);
      assert.equal(c.metadata.char_count, c.text.length);
      assert.match(c.text, /^Paragraph \d/);
    }
    assert.equal(out.summary_data?.chunks_created, chunks.length);
    assert.equal(out.summary_data?.chunking_method, "recursive");
  });

  test("separators as a comma string with escapes (ContentFlow split its catalog default into single characters)", async () => {
    const text = "alpha beta\ngamma delta\nepsilon zeta";
    const [out] = await one("recursive_text_chunker", {
      separators: "\\n, ",
      chunk_size: 12,
      chunk_overlap: 0,
      min_chunk_size: 0,
    }, item(1, { text }));
    assert.deepEqual((out.data?.chunks as Array<{ text: string }>).map((c) => c.text), [
      "alpha beta",
      "gamma delta",
      "epsilon zeta",
    ]);
  });

  test("separators as a YAML list, nested input_field, overlap, words", async () => {
    const text = "one two three four five six seven eight nine ten";
    const [out] = await one("recursive_text_chunker", {
      input_field: "doc.text",
      separators: [" "],
      length_function: "words",
      chunk_size: 4,
      chunk_overlap: 1,
      min_chunk_size: 0,
    }, item(1, { doc: { text } }));
    const texts = (out.data?.chunks as Array<{ text: string }>).map((c) => c.text);
    assert.deepEqual(texts, ["one two three four", "four five six seven eight", "eight nine ten"]);
  });

  test("small chunks are merged with the next one", async () => {
    const [out] = await one("recursive_text_chunker", {
      separators: ["\n"],
      chunk_size: 10,
      chunk_overlap: 0,
      min_chunk_size: 5,
    }, item(1, { text: "ab\ncdefghij\nklmnop" }));
    assert.deepEqual((out.data?.chunks as Array<{ text: string }>).map((c) => c.text), ["ab cdefghij", "klmnop"]);
  });

  test("page numbers come from the extractor's pages", async () => {
    const pages = [{ page_number: 1, text: "First page text here." }, {
      page_number: 2,
      text: "Second page text here.",
    }];
    const text = pages.map((p) => p.text).join("\n\n");
    const [out] = await one("recursive_text_chunker", {
      input_field: "pdf_output.text",
      chunk_size: 25,
      chunk_overlap: 0,
      min_chunk_size: 0,
    }, item(1, { pdf_output: { text, pages } }));
    assert.deepEqual((out.data?.chunks as Array<{ page_number: number }>).map((c) => c.page_number), [1, 2]);
  });

  test("missing or non-text input fails the item", async () => {
    await assert.rejects(one("recursive_text_chunker", {}, item(1, {})), /no text found in field 'text'/);
    await assert.rejects(one("recursive_text_chunker", {}, item(1, { text: ["x"] })), /must hold text, not a list/);
  });

  test("invalid settings", () => {
    rejects("recursive_text_chunker", { chunk_size: 100 }, /chunk_overlap must be less than chunk_size/);
    rejects(
      "recursive_text_chunker",
      { chunk_size: 300, chunk_overlap: 0, min_chunk_size: 400 },
      /min_chunk_size must not exceed chunk_size/,
    );
    rejects("recursive_text_chunker", { length_function: "bytes" }, /length_function must be one of/);
    rejects("recursive_text_chunker", { separators: [] }, /separators must not be empty/);
  });
});

describe("csv_extractor", () => {
  test("parser: quoting, doubled quotes, delimiters and newlines inside quotes, CRLF, blank lines", () => {
    assert.deepEqual(parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",\n\nlast'), [
      ["a", "b"],
      ["x, y", 'say "hi"'],
      ["multi\nline", ""],
      [],
      ["last"],
    ]);
    assert.deepEqual(parseCsv("a;'b;c'", { delimiter: ";", quote: "'" }), [["a", "b;c"]]);
    assert.throws(() => parseCsv('"open'), /ends inside a quoted field/);
  });

  test("rows keyed by header, types inferred, empty rows skipped, max_rows, text", async () => {
    const csv = "name , qty,price\n  Ann ,2,1.5\n,,\nBob,x,3\nCy,4,5\n";
    const [out] = await one(
      "csv_extractor",
      { infer_types: true, max_rows: 2, extract_text: true },
      item(1, { content: csv }),
    );
    const result = out.data?.csv_output as Record<string, unknown>;
    assert.deepEqual(result.headers, ["name", "qty", "price"]);
    assert.deepEqual(result.rows, [{ name: "Ann", qty: 2, price: 1.5 }, { name: "Bob", qty: "x", price: 3 }]);
    assert.equal(result.row_count, 2);
    assert.equal(result.column_count, 3);
    assert.equal(result.text, "name | qty | price\n------------------\nAnn | 2 | 1.5\nBob | x | 3");
    assert.deepEqual(
      [out.summary_data?.rows_extracted, out.summary_data?.columns_detected, out.summary_data?.csv_extraction_status],
      [2, 3, "success"],
    );
  });

  test("without a header: col_N keys; a tab delimiter", async () => {
    const [out] = await one(
      "csv_extractor",
      { has_header: false, delimiter: "\\t" },
      item(1, { content: "a\tb\nc\td" }),
    );
    assert.deepEqual((out.data?.csv_output as { rows: unknown[] }).rows, [{ col_0: "a", col_1: "b" }, {
      col_0: "c",
      col_1: "d",
    }]);
  });

  test("from a temp file, with a BOM and a latin-1 file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cfw-csv-"));
    try {
      writeFileSync(join(dir, "u.csv"), "\uFEFFk,v\nä,1\n");
      const [u] = await one(
        "csv_extractor",
        { encoding: "utf-8-sig" },
        item(1, { temp_file_path: join(dir, "u.csv") }),
      );
      assert.deepEqual((u.data?.csv_output as { rows: unknown[] }).rows, [{ k: "ä", v: "1" }]);
      writeFileSync(join(dir, "l.csv"), Uint8Array.from([0x6b, 0x0a, 0xe9, 0x0a]));
      const [l] = await one("csv_extractor", { encoding: "latin-1" }, item(1, { temp_file_path: join(dir, "l.csv") }));
      assert.deepEqual((l.data?.csv_output as { rows: unknown[] }).rows, [{ k: "é" }]);
      // Any codec Python knows and the runtime decodes, by Python's name: utf-16 by its byte-order mark (as Python),
      // cp1251 and shift_jis by the runtime's WHATWG decoders.
      const utf16 = (text: string, bigEndian: boolean) => {
        const out = [bigEndian ? 0xfe : 0xff, bigEndian ? 0xff : 0xfe];
        for (const ch of text) {
          const c = ch.charCodeAt(0);
          out.push(...(bigEndian ? [c >> 8, c & 0xff] : [c & 0xff, c >> 8]));
        }
        return Uint8Array.from(out);
      };
      for (
        const [file, bytes, encoding] of [
          ["le.csv", utf16("k\nд\n", false), "utf-16"],
          ["be.csv", utf16("k\nд\n", true), "UTF_16"],
          ["w.csv", Uint8Array.from([0x6b, 0x0a, 0xe4, 0x0a]), "cp1251"],
          ["sj.csv", Uint8Array.from([0x6b, 0x0a, 0x83, 0x66, 0x0a]), "shift_jis"],
        ] as const
      ) {
        writeFileSync(join(dir, file), bytes);
        const [out] = await one("csv_extractor", { encoding }, item(1, { temp_file_path: join(dir, file) }));
        const expected = file === "sj.csv" ? "デ" : "д";
        assert.deepEqual((out.data?.csv_output as { rows: unknown[] }).rows, [{ k: expected }], encoding);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("temp files are only read inside the temp directory", async () => {
    await assert.rejects(
      // A file surely outside the temp directory (the checkout itself may live under /tmp, as CI's clone can).
      one("csv_extractor", {}, item(1, { temp_file_path: "/etc/hostname" })),
      /refusing to read \/etc\/hostname: temp files must be inside/,
    );
  });

  test("no content and no file fails the item; bad settings", async () => {
    await assert.rejects(one("csv_extractor", {}, item(1, {})), /CSV content missing/);
    rejects("csv_extractor", { delimiter: ";;" }, /delimiter must be one character/);
    rejects("csv_extractor", { encoding: "klingon-8" }, /encoding 'klingon-8' is not a text encoding/);
  });
});

describe("azure_blob_content_retriever settings", () => {
  test("temp_folder stays inside the temp directory; relative folders go under <tmp>/contentflow", () => {
    rejects("azure_blob_content_retriever", { temp_folder: "/etc" }, /temp_folder must be inside the temp directory/);
    rejects(
      "azure_blob_content_retriever",
      { temp_folder: "../../etc" },
      /temp_folder must be inside the temp directory/,
    );
    assert.doesNotThrow(() => make("azure_blob_content_retriever", { temp_folder: "./tmp/docs" }));
    assert.doesNotThrow(() => make("azure_blob_content_retriever", { temp_folder: join(tmpdir(), "mine") }));
  });
});

describe("table_row_splitter", () => {
  test("list of dicts: one item per row with derived ids", async () => {
    const parent = item("P", {
      table: [{ id: 7, name: "a" }, { id: 8, name: "" }, { id: null, name: " " }],
      keep: "me",
    });
    const rows = await make("table_row_splitter", { row_id_field: "id", preserve_parent_data: true }).process(
      [parent],
      ctx,
    );
    assert.equal(rows.length, 2, "the empty row is skipped");
    assert.equal(rows[0].id.canonical_id, "cP_row_7");
    assert.match(rows[0].id.unique_id, /^[0-9a-f]{40}$/);
    assert.deepEqual(rows[0].data, {
      row_data: { id: 7, name: "a" },
      row_index: 0,
      headers: ["id", "name"],
      parent_id: "cP",
      keep: "me",
    });
    assert.deepEqual(rows[1].summary_data, { row_number: 2, total_rows: 3, parent_document: "cP" });
    assert.deepEqual(rows[0].id.metadata, { parent_id: "cP", row_index: 0, is_table_row: true });
  });

  test("list of lists with a header, nested path with a list index, output both, start_row and max_rows", async () => {
    const table = [["h1", "h2"], ["a", "b"], ["c", "d"], ["e", "f"]];
    const rows = await make("table_row_splitter", {
      table_field: "excel_output.sheets.0.table",
      output_format: "both",
      start_row: 1,
      max_rows: 1,
    })
      .process([item("P", { excel_output: { sheets: [{ table }] } })], ctx);
    assert.deepEqual(rows.map((r) => [r.id.canonical_id, r.data?.row_data, r.data?.row_values]), [["cP_row_0", {
      h1: "c",
      h2: "d",
    }, ["c", "d"]]]);
  });

  test("CSV text and Word tables", async () => {
    const csvRows = await make("table_row_splitter", {}).process([item("P", { table: "k,v\n1,2\n3,4" })], ctx);
    assert.deepEqual(csvRows.map((r) => r.data?.row_data), [{ k: "1", v: "2" }, { k: "3", v: "4" }]);
    const word = [{ table_number: 1, data: [["a", "b"], ["1", "2"]] }, { table_number: 2, data: [["3", "4"]] }];
    const wordRows = await make("table_row_splitter", { table_field: "tables" }).process(
      [item("P", { tables: word })],
      ctx,
    );
    assert.deepEqual(wordRows.map((r) => r.data?.row_data), [{ a: "1", b: "2" }, { a: "3", b: "4" }]);
  });

  test("a missing table fails the item instead of dropping it", async () => {
    await assert.rejects(make("table_row_splitter", {}).process([item("P", {})], ctx), /table field 'table' not found/);
    rejects("table_row_splitter", { table_format: "xml" }, /table_format must be one of/);
  });
});

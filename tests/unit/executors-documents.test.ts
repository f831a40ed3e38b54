// content_retriever (local files) and the PDF/Word/PowerPoint/Excel extractors on documents the tests generate
// (tests/helpers/documents.ts), including corrupt, truncated, encrypted, oversized and zip-bomb files.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  compilePipeline,
  createExecutor,
  defaultRegistry,
  parsePipelineYaml,
  runPipeline,
} from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { ExecutorRunContext } from "../../src/executors/types.ts";
import { XmlScanner } from "../../src/executors/documents/xml-scanner.ts";
import { DocumentError } from "../../src/executors/documents/limits.ts";
import {
  encryptedOffice,
  handMadePdf,
  inflatingPdf,
  makeDocx,
  makePdf,
  makePptx,
  makeXlsx,
  RED_PNG,
  withParts,
  xlsxWithEmptyRows,
  zipBomb,
} from "../helpers/documents.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger();
const registry = defaultRegistry();
const dir = mkdtempSync(join(tmpdir(), "cf-docs-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const ctx = (signal = new AbortController().signal): ExecutorRunContext => ({
  executorId: "x",
  pipelineName: "p",
  signal,
  logger,
});

let counter = 0;
/** An item whose document sits in a temp file (as content retrievers leave it). */
function fileItem(name: string, bytes: Uint8Array, data: Record<string, unknown> = {}): Content {
  const path = join(dir, `${++counter}-${name}`);
  writeFileSync(path, bytes);
  return {
    id: { canonical_id: `c-${name}`, unique_id: `u-${counter}`, filename: name, source_name: "t", path: `x/${name}` },
    data: { temp_file_path: path, ...data },
    summary_data: {},
    executor_logs: [],
  };
}

async function run(type: string, settings: Record<string, unknown>, item: Content, signal?: AbortSignal) {
  const ex = createExecutor({ id: "x", type, settings }, registry, { config, logger });
  const [out] = await ex.process([item], ctx(signal));
  return out;
}

const out = (item: Content, field: string) => item.data?.[field] as Record<string, any>;

describe("registry", () => {
  test("the document executors are registered with their categories and build with default settings", () => {
    const types = Object.fromEntries(registry.list().map((d) => [d.type, d.category]));
    for (
      const [type, category] of Object.entries({
        content_retriever: "input",
        pdf_extractor: "extract",
        word_extractor: "extract",
        powerpoint_extractor: "extract",
        excel_extractor: "extract",
      })
    ) {
      assert.equal(types[type], category, type);
      assert.ok(createExecutor({ id: "x", type, settings: {} }, registry, { config, logger }));
    }
  });

  test("bad settings fail at compile time with the setting's name", () => {
    assert.throws(
      () =>
        createExecutor({ id: "x", type: "pdf_extractor", settings: { image_format: "gif" } }, registry, {
          config,
          logger,
        }),
      /image_format must be one of: png, jpeg, jpg/,
    );
    assert.throws(
      () =>
        createExecutor({ id: "x", type: "word_extractor", settings: { image_output_mode: "raw" } }, registry, {
          config,
          logger,
        }),
      /image_output_mode/,
    );
    assert.throws(
      () =>
        createExecutor(
          {
            id: "x",
            type: "content_retriever",
            settings: { blob_storage_account_credential_type: "azure_key_credential" },
          },
          registry,
          { config, logger },
        ),
      /blob_storage_account_key is required/,
    );
  });
});

describe("word_extractor", () => {
  test("text, paragraphs with styles, tables with merged cells, properties and images", async () => {
    const item = await run(
      "word_extractor",
      { extract_properties: true, extract_images: true },
      fileItem("r.docx", await makeDocx({ image: true })),
    );
    const w = out(item, "word_output");
    assert.equal(w.text, "Quarterly Report\nRevenue grew 12%.\nTab\tafter\nClosing line");
    assert.deepEqual(w.paragraphs.map((p: any) => [p.paragraph_number, p.text, p.style, p.char_count]), [
      [1, "Quarterly Report", "Heading 1", 16],
      [2, "Revenue grew 12%.", "Normal", 17],
      [4, "Tab\tafter", "Normal", 9],
      [5, "Closing line", "Normal", 12],
    ]);
    assert.deepEqual(w.tables, [{
      table_number: 1,
      rows: 3,
      columns: 3,
      data: [["Region", "Q1", "Q2"], ["North", "10", "11"], ["Merged", "Merged", "x"]],
    }]);
    assert.equal(w.properties.title, "Report title");
    assert.equal(w.properties.author, "Ann Author");
    assert.equal(w.properties.subject, "Finance");
    assert.equal(w.properties.keywords, "q1, revenue");
    assert.equal(w.properties.comments, "Some comments");
    assert.equal(w.properties.last_modified_by, "Bob");
    assert.equal(w.properties.revision, 3);
    assert.equal(w.properties.category, null);
    assert.match(w.properties.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    assert.equal(w.images.length, 1);
    assert.deepEqual({ ...w.images[0], data: undefined }, {
      image_index: 0,
      format: "png",
      size_bytes: RED_PNG.length,
      content_type: "image/png",
      data: undefined,
      encoding: "base64",
    });
    assert.deepEqual(Buffer.from(w.images[0].data, "base64"), RED_PNG);
    assert.deepEqual(item.summary_data, {
      paragraphs_processed: 4,
      tables_extracted: 1,
      images_extracted: 1,
      extraction_status: "success",
    });
  });

  test("include_empty_paragraphs, a custom separator, flags off, and bytes from content_field (base64)", async () => {
    const bytes = await makeDocx();
    const item = fileItem("b.docx", new Uint8Array(0), { doc: Buffer.from(bytes).toString("base64") });
    const got = await run("word_extractor", {
      content_field: "doc",
      include_empty_paragraphs: true,
      paragraph_separator: " | ",
      extract_tables: false,
      output_field: "w",
    }, item);
    const w = out(got, "w");
    assert.equal(w.text, "Quarterly Report | Revenue grew 12%. |  | Tab\tafter | Closing line");
    assert.equal(w.paragraphs.length, 5);
    assert.equal(w.tables, undefined);
    assert.equal(got.summary_data?.tables_extracted, 0);
  });
});

describe("powerpoint_extractor", () => {
  test("text, slides, tables, notes, layouts, images and properties", async () => {
    const item = await run("powerpoint_extractor", {
      extract_notes: true,
      extract_images: true,
      extract_properties: true,
      include_slide_layouts: true,
    }, fileItem("d.pptx", await makePptx()));
    const p = out(item, "pptx_output");
    assert.equal(p.text, "Welcome\nSecond box\nwith two lines\n\n---\n\nNumbers");
    const table = { slide_number: 2, rows: 2, columns: 2, data: [["Name", "Score"], ["Ann", "9"]] };
    assert.deepEqual(p.slides, [
      {
        slide_number: 1,
        text: "Welcome\nSecond box\nwith two lines",
        char_count: 33,
        shape_count: 2,
        layout: "DEFAULT",
      },
      { slide_number: 2, text: "Numbers", char_count: 7, shape_count: 3, layout: "DEFAULT", tables: [table] },
    ]);
    assert.deepEqual(p.tables, [table]);
    assert.deepEqual(p.notes, [{ slide_number: 1, text: "Speaker notes one", char_count: 17 }]);
    assert.equal(p.images.length, 1);
    assert.equal(p.images[0].slide_number, 2);
    assert.equal(p.images[0].content_type, "image/png");
    assert.deepEqual(Buffer.from(p.images[0].data, "base64"), RED_PNG);
    assert.equal(p.properties.title, "Deck title");
    assert.equal(p.properties.author, "Ann Author");
    assert.equal(p.properties.subject, "Sales");
    assert.equal(p.properties.slide_count, 2);
    assert.equal(p.properties.slide_width, 9144000);
    assert.equal(p.properties.slide_height, 5143500);
    assert.deepEqual(item.summary_data, {
      slides_processed: 2,
      tables_extracted: 1,
      images_extracted: 1,
      extraction_status: "success",
    });
  });

  test("defaults leave out notes, images, properties and layouts", async () => {
    const p = out(await run("powerpoint_extractor", {}, fileItem("e.pptx", await makePptx())), "pptx_output");
    assert.deepEqual(Object.keys(p).sort(), ["slides", "tables", "text"]);
    assert.equal("layout" in p.slides[0], false);
  });
});

describe("excel_extractor", () => {
  test("text, sheets with cells, the full-sheet table, and values as openpyxl gives them", async () => {
    const item = await run("excel_extractor", { extract_properties: true }, fileItem("s.xlsx", await makeXlsx()));
    const x = out(item, "excel_output");
    assert.equal(
      x.text,
      "Sheet: Sales\nName\tAmount\tPaid\tDate\nAnn\t10.5\tTrue\t2024-01-15 00:00:00\t21\nBob\t7\tFalse\t2024-02-01 12:30:00" +
        "\n\n===\n\nSheet: Notes\nonly cell",
    );
    assert.deepEqual(x.sheets.map((s: any) => [s.sheet_name, s.max_row, s.max_column, s.cell_count]), [
      ["Sales", 3, 5, 12],
      ["Notes", 3, 2, 1],
      ["Empty", 1, 1, 0],
    ]);
    assert.deepEqual(x.sheets[0].cells.slice(5, 9), [
      { cell: "B2", value: 10.5, row: 2, column: 2 },
      { cell: "C2", value: true, row: 2, column: 3 },
      { cell: "D2", value: "2024-01-15T00:00:00", row: 2, column: 4 },
      { cell: "E2", value: 21, row: 2, column: 5 },
    ]);
    assert.equal(x.sheets[0].cells.some((c: any) => c.value === false), false, "falsy values are not listed");
    assert.deepEqual(x.tables[0], {
      sheet_name: "Sales",
      table_name: "full_sheet",
      range: "A1:E3",
      rows: 3,
      columns: 5,
      data: [
        ["Name", "Amount", "Paid", "Date", null],
        ["Ann", 10.5, true, "2024-01-15T00:00:00", 21],
        ["Bob", 7, false, "2024-02-01T12:30:00", null],
      ],
    });
    assert.deepEqual(x.tables[1].data, [[null, null], [null, null], [null, "only cell"]]);
    assert.equal(x.tables.length, 2, "no table for the empty sheet (sized 1 x 1, as openpyxl sees it)");
    assert.equal(x.properties.title, "Book title");
    assert.equal(x.properties.creator, "Ann Author");
    assert.equal(x.properties.created, "2024-03-04T05:06:07");
    assert.equal(x.properties.sheet_count, 3);
    assert.deepEqual(x.properties.sheet_names, ["Sales", "Notes", "Empty"]);
    assert.deepEqual(item.summary_data, {
      sheets_processed: 3,
      tables_extracted: 2,
      images_extracted: 0,
      extraction_status: "success",
    });
  });

  test("read_only off: defined tables; data_only off: formulas; comments; row and column limits", async () => {
    const item = await run("excel_extractor", {
      read_only: false,
      data_only: false,
      extract_formulas: true,
      extract_comments: true,
      max_rows_per_table: 2,
      max_columns_per_table: 4,
    }, fileItem("t.xlsx", await makeXlsx({ table: true })));
    const x = out(item, "excel_output");
    const people = x.tables.find((t: any) => t.table_name === "People");
    assert.deepEqual(people, {
      sheet_name: "WithTable",
      table_name: "People",
      range: "B2:C4",
      rows: 2,
      columns: 2,
      data: [["Who", "Age"], ["Cy", 30]],
      truncated_rows: true,
    });
    const sales = x.tables.find((t: any) => t.sheet_name === "Sales");
    assert.equal(sales.truncated_columns, true);
    assert.deepEqual(sales.data[1], ["Ann", 10.5, true, "2024-01-15T00:00:00"]);
    assert.deepEqual(x.formulas, [{ sheet_name: "Sales", cell: "E2", formula: "=B2*2", row: 2, column: 5 }]);
    assert.deepEqual(x.comments, [{
      sheet_name: "Sales",
      cell: "A2",
      author: "Author",
      text: "first customer",
      row: 2,
      column: 1,
    }]);
    assert.match(x.text, /Ann\t10\.5\tTrue\t2024-01-15 00:00:00\t=B2\*2/);
  });

  test("data.content holding text (not base64) falls back to the temp file", async () => {
    const item = fileItem("text-content.xlsx", await makeXlsx(), { content: "Quarterly" });
    const x = out(await run("excel_extractor", {}, item), "excel_output");
    assert.equal(x.sheets[0].sheet_name, "Sales");
  });

  test("a sheet with a million empty rows: only the data counts", async () => {
    const bytes = await xlsxWithEmptyRows(1_000_000);
    const x = out(await run("excel_extractor", {}, fileItem("m.xlsx", bytes)), "excel_output");
    assert.deepEqual([x.sheets[0].max_row, x.sheets[0].max_column, x.sheets[0].cell_count], [3, 2, 6]);
    assert.deepEqual(x.tables[0].data, [["h1", "h2"], [1, 2], [3, 4]]);
    assert.match(x.text, /^Sheet: Sales\nh1\th2\n1\t2\n3\t4/);
  });

  test("a far-away cell would make the full-sheet table enormous: a per-item error instead", async () => {
    const bytes = await xlsxWithEmptyRows(0, "XFD1048576");
    await assert.rejects(
      run("excel_extractor", {}, fileItem("far.xlsx", bytes)),
      /Excel workbook 'far.xlsx': table 'full_sheet' of sheet 'Sales' \(A1:XFD1048576\) has \d+ cells, more than max_cells 1000000/,
    );
  });

  test("the task's signal stops a long extraction", async () => {
    const bytes = await xlsxWithEmptyRows(1_000_000);
    const ac = new AbortController();
    const item = fileItem("abort.xlsx", bytes);
    setTimeout(() => ac.abort(new Error("task timed out")), 0);
    await assert.rejects(run("excel_extractor", {}, item, ac.signal), /task timed out/);
  });
});

describe("pdf_extractor", () => {
  test("text joined by page_separator, pages with sizes, summary", async () => {
    const item = await run("pdf_extractor", {}, fileItem("a.pdf", await makePdf()));
    const p = out(item, "pdf_output");
    assert.equal(
      p.text,
      "Page 1 heading\nBody text on page 1.\n\n\n---\n\nPage 2 heading\nBody text on page 2.\n\n\n---\n\n" +
        "Page 3 heading\nBody text on page 3.\n",
    );
    assert.deepEqual(p.pages[1], {
      page_number: 2,
      width: 612,
      height: 792,
      text: "Page 2 heading\nBody text on page 2.\n",
      char_count: 36,
    });
    assert.equal(p.images, undefined);
    assert.deepEqual(item.summary_data, { pages_processed: 3, images_extracted: 0, extraction_status: "success" });
  });

  test("images: PNG data, small ones skipped by min_image_size; extract_text/pages off", async () => {
    const item = await run(
      "pdf_extractor",
      { extract_images: true, extract_text: false, extract_pages: false },
      fileItem("i.pdf", await makePdf({ pages: 1, image: true })),
    );
    const p = out(item, "pdf_output");
    assert.deepEqual(Object.keys(p), ["images"]);
    assert.equal(p.images.length, 1);
    const { data, ...rest } = p.images[0];
    assert.deepEqual(rest, {
      page_number: 1,
      image_index: 0,
      width: 120,
      height: 110,
      format: "png",
      encoding: "base64",
    });
    assert.deepEqual([...Buffer.from(data, "base64").subarray(1, 4)], [0x50, 0x4e, 0x47]);
    assert.equal(item.summary_data?.images_extracted, 1);
    const all = await run(
      "pdf_extractor",
      { extract_images: true, min_image_size: 0 },
      fileItem("j.pdf", await makePdf({ pages: 1, image: true })),
    );
    assert.deepEqual(out(all, "pdf_output").images.map((i: any) => [i.image_index, i.width]), [[0, 120], [1, 4]]);
  });
});

describe("pdf_extractor abort", () => {
  test("the task's signal stops a long PDF extraction between pages", async () => {
    const ac = new AbortController();
    const item = fileItem("long.pdf", handMadePdf({ pages: 3000 }));
    const extraction = run("pdf_extractor", { max_pages: 5000 }, item, ac.signal);
    setTimeout(() => ac.abort(new Error("task timed out")), 0);
    await assert.rejects(extraction, /task timed out/);
  });

  test("an abort while pdf.js opens a large PDF ends it (its thread is stopped); the next PDF gets a fresh thread", async () => {
    const ac = new AbortController();
    const extraction = run("pdf_extractor", {}, fileItem("big.pdf", handMadePdf({ pages: 20_000 })), ac.signal);
    setTimeout(() => ac.abort(new Error("task timed out")), 0);
    await assert.rejects(extraction, /task timed out/);
    const next = await run("pdf_extractor", {}, fileItem("next.pdf", handMadePdf({ pages: 2, text: "After" })));
    assert.equal(out(next, "pdf_output").text, "After\n\n\n---\n\nAfter\n");
  });

  test("more PDFs at once than there are PDF threads: each waits for one and gets its own text", async () => {
    const names = Array.from({ length: 7 }, (_, i) => `p${i}`);
    const items = await Promise.all(
      names.map((n) => run("pdf_extractor", {}, fileItem(`${n}.pdf`, handMadePdf({ pages: 3, text: n })))),
    );
    assert.deepEqual(items.map((i) => out(i, "pdf_output").pages.map((p: { text: string }) => p.text)), [
      ...names.map((n) => [`${n}\n`, `${n}\n`, `${n}\n`]),
    ]);
  });
});

describe("pdf_extractor memory limit (PDF_THREAD_MAX_MEMORY_MB)", () => {
  test("a PDF whose extraction needs more memory than allowed fails as an item; the next PDF is extracted", async () => {
    const limited = { ...config, PDF_THREAD_MAX_MEMORY_MB: 64 };
    const ex = createExecutor({ id: "x", type: "pdf_extractor", settings: {} }, registry, { config: limited, logger });
    // 300 KiB that pdf.js inflates to 400 MiB while it reads the page's text.
    const bomb = fileItem("bomb.pdf", inflatingPdf(400));
    await assert.rejects(ex.process([bomb], ctx()), (err: Error) => {
      assert.ok(err instanceof DocumentError, `a document error (the item fails), not ${err.name}`);
      assert.match(
        err.message,
        /^PDF 'bomb\.pdf': extraction stopped, it needed more than 64 MiB of memory \(PDF_THREAD_MAX_MEMORY_MB\)$/,
      );
      return true;
    });
    const [next] = await ex.process([fileItem("after.pdf", handMadePdf({ pages: 1, text: "Still here" }))], ctx());
    assert.equal(out(next, "pdf_output").text, "Still here\n");
  });
});

describe("a file that is not an Office document at all: passed on with invalid_file, as in ContentFlow", () => {
  const cases: Array<[string, string, () => Promise<Uint8Array> | Uint8Array, string]> = [
    ["word_extractor", "junk.docx", () => new TextEncoder().encode("not a zip file at all"), "word_extraction_status"],
    ["word_extractor", "half.docx", async () => (await makeDocx()).slice(0, 3000), "word_extraction_status"],
    ["word_extractor", "report.pdf", () => makePdf(), "word_extraction_status"],
    ["powerpoint_extractor", "junk.pptx", () => new Uint8Array(100), "pptx_extraction_status"],
    ["powerpoint_extractor", "report.pdf", () => makePdf(), "pptx_extraction_status"],
    ["excel_extractor", "report.pdf", () => makePdf(), "excel_extraction_status"],
  ];
  for (const [type, name, bytes, statusKey] of cases) {
    test(`${type} on ${name}`, async () => {
      const item = fileItem(name, await bytes());
      const result = await run(type, {}, item);
      assert.deepEqual(result.data, item.data);
      assert.equal(result.summary_data?.[statusKey], "invalid_file");
    });
  }
});

describe("hostile and broken documents: a per-item error naming the file and the cause", () => {
  const cases: Array<[string, string, () => Promise<Uint8Array> | Uint8Array, RegExp]> = [
    [
      "word_extractor",
      "locked.docx",
      () => encryptedOffice(),
      /Word document 'locked.docx': password-protected \(encrypted\) Office document/,
    ],
    ["excel_extractor", "locked.xlsx", () => encryptedOffice(), /Excel workbook 'locked.xlsx': password-protected/],
    [
      "powerpoint_extractor",
      "doc.pptx",
      () => makeDocx(),
      /PowerPoint file 'doc.pptx': the main part word\/document.xml is application\/vnd.openxmlformats-officedocument.wordprocessingml.document.main\+xml, not a presentationml document/,
    ],
    [
      "excel_extractor",
      "bad-xml.xlsx",
      async () => withParts(await makeXlsx(), { "xl/worksheets/sheet1.xml": "<worksheet><sheetData><row>" }),
      /Excel workbook 'bad-xml.xlsx': malformed XML in part 'xl\/worksheets\/sheet1.xml'/,
    ],
    [
      "excel_extractor",
      "bomb.xlsx",
      async () => zipBomb(await makeXlsx(), "xl/worksheets/sheet1.xml", 40, false),
      /Excel workbook 'bomb.xlsx': part 'xl\/worksheets\/sheet1.xml' declares 40.0 MiB uncompressed, more than the limit of 32.0 MiB/,
    ],
    [
      "word_extractor",
      "liar.docx",
      async () => zipBomb(await makeDocx(), "word/document.xml", 40, true),
      /Word document 'liar.docx': part 'word\/document.xml' inflates beyond its declared size of 1000 bytes \(zip bomb\?\)/,
    ],
    [
      "pdf_extractor",
      "junk.pdf",
      () => new TextEncoder().encode("%PDF-1.7 nothing else"),
      /PDF 'junk.pdf': not a valid PDF/,
    ],
    ["pdf_extractor", "half.pdf", async () => (await makePdf()).slice(0, 900), /PDF 'half.pdf': not a valid PDF/],
    ["pdf_extractor", "word.pdf", () => makeDocx(), /PDF 'word.pdf': not a PDF file/],
    [
      "pdf_extractor",
      "locked.pdf",
      () => handMadePdf({ pages: 1, encrypted: true }),
      /PDF 'locked.pdf': password-protected \(encrypted\) PDF/,
    ],
    [
      "pdf_extractor",
      "huge.pdf",
      () => handMadePdf({ pages: 10_000 }),
      /PDF 'huge.pdf' has 10000 pages, more than max_pages 2000/,
    ],
  ];
  for (const [type, name, make, message] of cases) {
    test(`${type}: ${name}`, async () => {
      await assert.rejects(run(type, {}, fileItem(name, await make())), message);
    });
  }

  test("a document over max_file_size_mb is refused before it is read", async () => {
    const big = new Uint8Array(2 * 1024 * 1024 + 1);
    await assert.rejects(
      run("pdf_extractor", { max_file_size_mb: 2 }, fileItem("big.pdf", big)),
      /PDF 'big.pdf' is 2.0 MiB, more than the limit of 2.0 MiB/,
    );
  });

  test("no document: the error names both fields", async () => {
    const item: Content = { id: { canonical_id: "c", unique_id: "u" }, data: {}, summary_data: {}, executor_logs: [] };
    await assert.rejects(
      run("excel_extractor", {}, item),
      /Excel workbook missing required content for 'c': data needs 'content' \(bytes or base64 text\) or 'temp_file_path'/,
    );
  });

  test("in a pipeline: a bad file fails alone (fail_pipeline_on_error false), or fails the pipeline (default)", async () => {
    const good = fileItem("good.docx", await makeDocx());
    const bad = fileItem("bad.docx", encryptedOffice());
    const yaml = (failPipeline: boolean) =>
      `pipeline:
  name: docs
  executors:
    - {id: word, type: word_extractor, settings: {fail_pipeline_on_error: ${failPipeline}}}
`;
    const lenient = compilePipeline(parsePipelineYaml(yaml(false)), { registry, deps: { config, logger } });
    const r = await runPipeline(lenient, [good, bad], { signal: new AbortController().signal, logger });
    assert.equal(r.status, "completed", r.error);
    assert.equal(out(r.content[0], "word_output").paragraphs.length, 4);
    assert.equal(r.content[1].data?.word_output, undefined);
    const log = r.content[1].executor_logs?.at(-1);
    assert.equal(log?.status, "failed");
    assert.match(log?.errors?.[0] ?? "", /Word document 'bad.docx': password-protected/);
    const strict = compilePipeline(parsePipelineYaml(yaml(true)), { registry, deps: { config, logger } });
    const r2 = await runPipeline(strict, [good, bad], { signal: new AbortController().signal, logger });
    assert.equal(r2.status, "failed");
    assert.match(r2.error ?? "", /bad.docx': password-protected/);
  });
});

describe("content_retriever (local files)", () => {
  const localItem = (path: string, extra: Partial<Content["id"]> = {}): Content => ({
    id: {
      canonical_id: `file://${path}`,
      unique_id: "u",
      source_name: "disk",
      source_type: "local_file",
      path,
      ...extra,
    },
    data: {},
    summary_data: {},
    executor_logs: [],
  });

  test("reads a file in the temp directory into a temp file and data.content (base64), with data.metadata", async () => {
    const path = join(dir, "in.bin");
    writeFileSync(path, Uint8Array.from([1, 2, 3, 255]));
    const r = await run(
      "content_retriever",
      { include_content_bytes_as_field: true, content_encoding: "base64" },
      localItem(path),
    );
    assert.equal(r.data?.content, Buffer.from([1, 2, 3, 255]).toString("base64"));
    const meta = r.data?.metadata as Record<string, unknown>;
    assert.deepEqual({ ...meta, modified: typeof meta.modified }, {
      source: "local_file",
      path,
      size: 4,
      modified: "number",
    });
    const temp = r.data?.temp_file_path as string;
    assert.match(temp, /in\.bin$/);
    assert.notEqual(temp, path);
    // The retrieved temp file feeds an extractor unchanged.
    const docPath = join(dir, "doc.docx");
    writeFileSync(docPath, await makeDocx());
    const got = await run("content_retriever", {}, localItem(docPath, { filename: "doc.docx" }));
    const w = await run("word_extractor", {}, got);
    assert.equal(out(w, "word_output").paragraphs[0].text, "Quarterly Report");
  });

  test("refuses files outside the temp directory and LOCAL_FILE_ROOTS, also through a symlink", async () => {
    await assert.rejects(
      run("content_retriever", {}, localItem("/etc/hostname")),
      /refusing to read \/etc\/hostname: local files must be inside/,
    );
    const link = join(dir, "escape-link");
    symlinkSync("/etc/hostname", link);
    await assert.rejects(run("content_retriever", {}, localItem(link)), /refusing to read .*escape-link/);
    const { config: rooted } = await loadConfig({ env: { LOCAL_FILE_ROOTS: "/etc" }, dotenvPath: false });
    const ex = createExecutor(
      { id: "x", type: "content_retriever", settings: { use_temp_file_for_content: false } },
      registry,
      { config: rooted, logger },
    );
    const [r] = await ex.process([localItem(realpathSync("/etc/hostname"))], ctx());
    assert.equal((r.data?.metadata as { source: string }).source, "local_file");
  });

  test("missing file, too large, no source name, unsupported source type", async () => {
    await assert.rejects(
      run("content_retriever", {}, localItem(join(dir, "nope.pdf"))),
      /Local file '.*nope.pdf' not found/,
    );
    const big = join(dir, "big.dat");
    writeFileSync(big, new Uint8Array(1024 * 1024 + 10));
    await assert.rejects(
      run("content_retriever", { max_file_size_mb: 1 }, localItem(big)),
      /local file '.*big.dat' is 1.0 MiB, more than the limit of 1.0 MiB/,
    );
    await assert.rejects(
      run("content_retriever", {}, localItem(big, { source_name: "" })),
      /must have canonical_id and source_name/,
    );
    await assert.rejects(
      run("content_retriever", {}, localItem(big, { source_type: "web" })),
      /Unsupported source type: 'web'/,
    );
    mkdirSync(join(dir, "folder"));
    await assert.rejects(run("content_retriever", {}, localItem(join(dir, "folder"))), /not a regular file/);
  });
});

describe("XML tokenizer (xml-scanner.ts)", () => {
  const events = (xml: string, chunk = 3) => {
    const out: string[] = [];
    const scanner = new XmlScanner({
      open: (name, attributes, selfClosing) =>
        out.push(`<${name} ${JSON.stringify(attributes)}${selfClosing ? "/" : ""}>`),
      close: (name) => out.push(`</${name}>`),
      text: (text) => out.push(text),
    });
    for (let i = 0; i < xml.length; i += chunk) scanner.write(xml.slice(i, i + chunk));
    scanner.end();
    return out.join("");
  };

  test("tags, prefixes, attributes, entities, CDATA, comments and PIs, fed in tiny pieces", () => {
    const xml = `<?xml version="1.0"?>\n<!-- c --><w:doc a='1' w:b="x &amp; &#65;&#x42;"><w:t>a &lt; b</w:t><e/>` +
      `<![CDATA[<raw>&]]><?pi x?></w:doc>\n`;
    assert.equal(
      events(xml),
      `<doc {"a":"1","w:b":"x & AB"}><t {}>a < b</t><e {}/></e><raw>&</doc>`,
    );
    assert.equal(events(xml, 1000), events(xml, 1));
  });

  test("malformed input is an error: mismatched, unclosed, DOCTYPE, unknown entity, unquoted, two roots", () => {
    const bad: Array<[string, RegExp]> = [
      ["<a><b></a>", /<\/a> closes <b>/],
      ["<a><b>", /<b> is not closed/],
      ['<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', /DOCTYPE declarations are not allowed/],
      ["<a>&nbsp;</a>", /undefined entity &nbsp;/],
      ["<a>AT&T</a>", /a bare '&'/],
      ["<a b=1/>", /not quoted/],
      ["<a/><b/>", /a second root element/],
      ["", /no root element/],
      ["text<a/>", /text outside the root element/],
    ];
    for (const [xml, message] of bad) assert.throws(() => events(xml), message, xml);
    assert.throws(() => events('<a b="1" <c/></a>', 1), /'<' inside a tag/, "a '<' arriving in a later chunk");
  });

  test("same events however the input is cut: quotes, comments, CDATA and PIs split at every point", () => {
    const xml = `<?xml version="1.0"?><!-- a -- b --><r x='a>b' y="c'd>"><![CDATA[x]]y]]><?p ?>?>t &amp; u</r>`;
    const whole = events(xml, xml.length);
    assert.equal(whole, `<r {"x":"a>b","y":"c'd>"}>x]]y?>t & u</r>`);
    for (let chunk = 1; chunk <= 12; chunk++) assert.equal(events(xml, chunk), whole, `chunks of ${chunk}`);
  });

  test("linear however the input is cut: a 1 MiB attribute, comment, CDATA, PI or text in 1 KiB chunks", () => {
    const big = "v".repeat(1024 * 1024);
    const docs = [
      `<r a="${big}"/>`,
      `<r><!--${big}--></r>`,
      `<r><![CDATA[${big}]]></r>`,
      `<r><?pi ${big}?></r>`,
      `<r>${big}</r>`,
    ];
    for (const xml of docs) {
      let opened = 0;
      const scanner = new XmlScanner({ open: () => opened++, close: () => {} });
      for (let i = 0; i < xml.length; i += 1024) scanner.write(xml.slice(i, i + 1024));
      scanner.end();
      assert.equal(opened, 1);
      // Rescanning the unfinished construct on every chunk looks at ~1024 × 0.5 MiB characters.
      assert.ok(scanner.scannedChars <= 3 * xml.length, `${xml.slice(0, 12)}…: ${scanner.scannedChars} characters`);
    }
  });
});

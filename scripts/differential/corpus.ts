// The corpus of the differential suite (docs/pipelines.md, "Differential suite"): generated cases, each one executor
// type with settings and input items, run by ContentFlow's Python executors (scripts/differential/record.ts) and by
// ours (tests/unit/differential.test.ts). Deterministic: the same code gives the same cases, so the committed goldens
// stay valid; record.ts writes them to tests/fixtures/differential/corpus.json for the Python side.
// A data value "<doc:NAME>" stands for the path of a document that tests/helpers/differential-documents.ts writes (with
// the generators of tests/helpers/documents.ts) into a temp dir at run time.

export interface DifferentialCase {
  name: string;
  type: string;
  settings?: Record<string, unknown>;
  /** Input items (Content as JSON). */
  input?: Record<string, unknown>[];
  /** fan_in_aggregator: the outputs of the incoming branches, in edge order. */
  branches?: Record<string, unknown>[][];
}

/** Small seeded PRNG (mulberry32), so that the generated texts are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  "the",
  "pipeline",
  "content",
  "worker",
  "flow",
  "document",
  "chunk",
  "invoice",
  "Azure",
  "blob",
  "naïve",
  "café",
  "Straße",
  "東京",
  "données",
  "😀",
  "🚀",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  "a",
  "of",
  "to",
  "and",
];

function text(rand: () => number, sentences: number, opts: { astral?: boolean; paragraphs?: boolean } = {}): string {
  const words = opts.astral === false ? WORDS.filter((w) => !/[\u{10000}-\u{10FFFF}]/u.test(w)) : WORDS;
  const out: string[] = [];
  for (let s = 0; s < sentences; s++) {
    const n = 3 + Math.floor(rand() * 14);
    const sentence: string[] = [];
    for (let i = 0; i < n; i++) sentence.push(words[Math.floor(rand() * words.length)]);
    sentence[0] = sentence[0][0].toUpperCase() + sentence[0].slice(1);
    out.push(sentence.join(" ") + ".");
    if (opts.paragraphs !== false && rand() < 0.25) out.push(rand() < 0.5 ? "\n\n" : "\n");
    else out.push(" ");
  }
  return out.join("").trim();
}

export function item(n: number | string, data: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    id: {
      canonical_id: `doc-${n}`,
      unique_id: `u-${n}`,
      source_name: "account",
      source_type: "azure_blob",
      container: "box",
      path: `dir/doc-${n}.txt`,
      filename: `doc-${n}.txt`,
    },
    summary_data: {},
    data,
    executor_logs: [],
    ...extra,
  };
}

/**
 * ContentFlow's field_mapper and field_selector read maps and lists only as JSON text (the catalog's form); ours
 * also takes YAML maps and lists. Most cases use the JSON text so that both sides run them; a few keep YAML.
 */
function asCatalogStrings(settings: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out = { ...settings };
  for (const key of keys) {
    if (out[key] !== null && typeof out[key] === "object") out[key] = JSON.stringify(out[key]);
  }
  return out;
}

function passThrough(): DifferentialCase[] {
  return [
    { name: "pass_through/plain", type: "pass_through", input: [item(1, { a: 1, b: "x" }), item(2)] },
    { name: "pass_through/empty-input", type: "pass_through", input: [] },
    {
      name: "pass_through/nested-data",
      type: "pass_through",
      input: [item(1, { a: { b: [1, 2, { c: null }] }, t: "😀" }, { summary_data: { s: 1 } })],
    },
    {
      name: "pass_through/unknown-top-level-field",
      type: "pass_through",
      input: [item(1, { a: 1 }, { extra_field: "kept?" })],
    },
    {
      name: "pass_through/unknown-id-field",
      type: "pass_through",
      input: [{ ...item(1), id: { ...item(1).id, tenant: "t1" } }],
    },
    {
      name: "pass_through/minimal-id",
      type: "pass_through",
      input: [{ id: { canonical_id: "c", unique_id: "u" }, data: { x: 1 } }],
    },
    {
      name: "pass_through/existing-logs",
      type: "pass_through",
      input: [item(1, {}, {
        executor_logs: [{ executor_id: "before", status: "completed", details: { n: 1 }, errors: [] }],
      })],
    },
    { name: "pass_through/disabled", type: "pass_through", settings: { enabled: false }, input: [item(1, { a: 1 })] },
  ];
}

function fanIn(): DifferentialCase[] {
  return [
    {
      name: "fan_in/first-branch-wins",
      type: "fan_in_aggregator",
      branches: [
        [item(1, { a: "left", only_left: 1 }, { summary_data: { s: "left" } }), item(2, { a: "other" })],
        [item(1, { a: "right", only_right: 2 }, { summary_data: { s: "right", t: 1 } })],
      ],
    },
    {
      name: "fan_in/disjoint",
      type: "fan_in_aggregator",
      branches: [[item(1, { a: 1 })], [item(2, { b: 2 })], [item(3, { c: 3 })]],
    },
    {
      name: "fan_in/nested-objects",
      type: "fan_in_aggregator",
      branches: [[item(1, { m: { x: 1 } })], [item(1, { m: { y: 2 }, n: [1] })]],
    },
    { name: "fan_in/single-branch", type: "fan_in_aggregator", branches: [[item(1, { a: 1 }), item(2)]] },
    {
      name: "fan_in/logs-merged",
      type: "fan_in_aggregator",
      branches: [
        [item(1, {}, { executor_logs: [{ executor_id: "a", status: "completed", details: {}, errors: [] }] })],
        [item(1, {}, { executor_logs: [{ executor_id: "b", status: "completed", details: {}, errors: [] }] })],
      ],
    },
  ];
}

function fieldMapper(): DifferentialCase[] {
  const data = () => ({
    title: "Quarterly Report",
    author: { first: "Ada", last: "Lovelace" },
    tags: ["a", "b", "", "a"],
    count: 3,
    nested: { deep: { value: "x" } },
    empty: {},
    nothing: null,
    items: [{ name: "n1", price: 1 }, { name: "n2", price: 2 }],
    names: ["x", "y"],
    prices: [1, 2],
  });
  const cases: [string, Record<string, unknown>][] = [
    ["copy", { mappings: { title: "doc_title" } }],
    ["copy-json-string", { mappings: '{"title": "doc_title", "count": "n"}' }],
    ["move", { mappings: { title: "doc_title" }, copy_mode: "move" }],
    ["move-same-field", { mappings: { title: "title" }, copy_mode: "move" }],
    ["copy-same-field", { mappings: { title: "title" } }],
    ["nested-source", { mappings: { "author.first": "first_name" } }],
    ["nested-target", { mappings: { title: "meta.title" } }],
    ["nested-target-no-create", { mappings: { title: "meta.title" }, create_nested: false }],
    ["missing-source", { mappings: { missing: "m" } }],
    ["missing-source-fail", { mappings: { missing: "m" }, fail_on_missing_source: true }],
    ["no-overwrite", { mappings: { title: "count" }, overwrite_existing: false }],
    ["overwrite", { mappings: { title: "count" } }],
    ["case-lower", { mappings: { title: "t" }, case_transform: "lower" }],
    ["case-upper", { mappings: { title: "t" }, case_transform: "upper" }],
    ["case-title", { mappings: { title: "t" }, case_transform: "title" }],
    ["case-snake", { mappings: { title: "Doc Title" }, case_transform: "snake" }],
    ["case-camel", { mappings: { title: "doc_title" }, case_transform: "camel" }],
    ["case-camel-dotted", { mappings: { title: "meta_info.doc_title" }, case_transform: "camel" }],
    ["case-snake-dotted", { mappings: { title: "metaInfo.docTitle" }, case_transform: "snake" }],
    ["template-target", { mappings: { title: "by_{author.last}" } }],
    ["template-target-dotted", { mappings: { title: "x_{author.first}" } }],
    ["template-disabled", { mappings: { title: "by_{author.last}" }, template_fields: false }],
    ["list-merge", { mappings: { tags: "all_tags" } }],
    ["list-first", { mappings: { tags: "t" }, list_handling: "first" }],
    ["list-concatenate", { mappings: { tags: "t" }, list_handling: "concatenate" }],
    ["list-concatenate-sep", { mappings: { tags: "t" }, list_handling: "concatenate", concatenate_separator: ", " }],
    ["list-concatenate-pipe", { mappings: { tags: "t" }, list_handling: "concatenate", concatenate_separator: " | " }],
    ["list-all", { mappings: { tags: "t" }, list_handling: "all" }],
    ["list-dedupe", { mappings: { tags: "t" }, merge_deduplicate: true }],
    ["list-keep-empty", { mappings: { tags: "t" }, merge_filter_empty: false }],
    ["remove-empty-objects", { mappings: { "nested.deep.value": "v" }, copy_mode: "move", remove_empty_objects: true }],
    ["move-nested-keep-empty", { mappings: { "nested.deep.value": "v" }, copy_mode: "move" }],
    ["many", { mappings: { title: "a", count: "b", "author.last": "c.d" } }],
    ["id-mappings", { source_id_mappings: { "id.canonical_id": "cid", "id.filename": "fname" } }],
    ["id-template", { source_id_mappings: { "{id.container}/{id.path}": "full_path" } }],
    ["object-mappings", {
      object_mappings: { products: { name: "names", price: "prices" } },
    }],
    ["yaml-map", { mappings: { title: "doc_title" } }],
    ["mappings-null", { mappings: null }],
    ["mappings-empty-string", { mappings: "" }],
    ["mappings-blank-string", { mappings: "   " }],
    ["mappings-invalid-json", { mappings: "{title: doc}" }],
    ["list-index-source", { mappings: { "items.0.name": "first_item" } }],
    ["null-value", { mappings: { nothing: "still_nothing" } }],
  ];
  return cases.map(([name, settings]) => ({
    name: `field_mapper/${name}`,
    type: "field_mapper",
    settings: name === "yaml-map"
      ? settings
      : asCatalogStrings(settings, ["mappings", "source_id_mappings", "object_mappings"]),
    input: [item(1, data()), item(2, { title: "second", tags: [] })],
  }));
}

function fieldSelector(): DifferentialCase[] {
  const data = () => ({
    title: "T",
    body: "B",
    nothing: null,
    meta: { year: 2024, author: "A", none: null, inner: { x: 1, y: 2 } },
    list: [1, 2],
    text_a: "a",
    text_b: "b",
    status: "ready",
  });
  const cases: [string, Record<string, unknown>][] = [
    ["include", { fields: ["title", "body"] }],
    ["include-yaml-list", { fields: ["title", "body"] }],
    ["include-json", { fields: '["title", "meta.year"]' }],
    ["include-comma", { fields: "title, body" }],
    ["include-null", { fields: ["title", "nothing"] }],
    ["include-nested-null", { fields: ["meta.none", "meta.year"] }],
    ["include-missing", { fields: ["title", "missing"] }],
    ["include-missing-fail", { fields: ["title", "missing"], fail_on_missing_field: true }],
    ["include-wildcard", { fields: ["text_*"] }],
    ["include-wildcard-nested", { fields: ["meta.*"] }],
    ["include-question", { fields: ["text_?"] }],
    ["include-flat", { fields: ["meta.year", "title"], preserve_structure: false }],
    ["include-metadata", { fields: ["title", "nothing"], add_selection_metadata: true }],
    ["exclude", { mode: "exclude", fields: ["body", "list"] }],
    ["exclude-nested", { mode: "exclude", fields: ["meta.year"] }],
    ["exclude-wildcard", { mode: "exclude", fields: ["text_*"] }],
    ["exclude-metadata", { mode: "exclude", fields: ["body", "nothing"], add_selection_metadata: true }],
    ["exclude-missing-fail", { mode: "exclude", fields: ["missing"], fail_on_missing_field: true }],
    ["conditional-equals", {
      fields: ["title"],
      conditional_selection: true,
      condition_field: "status",
      condition_value: "ready",
    }],
    ["conditional-not-met", {
      fields: ["title"],
      conditional_selection: true,
      condition_field: "status",
      condition_value: "other",
    }],
    ["conditional-exists", {
      fields: ["title"],
      conditional_selection: true,
      condition_field: "meta.year",
      condition_operator: "exists",
    }],
    ["conditional-contains", {
      fields: ["title"],
      conditional_selection: true,
      condition_field: "status",
      condition_operator: "contains",
      condition_value: "rea",
    }],
    ["keep-id-fields-off", { fields: ["title"], keep_id_fields: false }],
    ["default-fields", {}],
    ["include-whole-object", { fields: ["meta"] }],
    ["include-list", { fields: ["list"] }],
    ["mode-upper", { mode: "INCLUDE", fields: ["title"] }],
  ];
  return cases.map(([name, settings]) => ({
    name: `field_selector/${name}`,
    type: "field_selector",
    settings: name === "include-yaml-list" ? settings : asCatalogStrings(settings, ["fields"]),
    input: [item(1, data()), item(2, { title: "only" })],
  }));
}

function chunker(): DifferentialCase[] {
  const rand = prng(26);
  const out: DifferentialCase[] = [];
  const settingsList: [string, Record<string, unknown>][] = [
    ["defaults", {}],
    ["size-200", { chunk_size: 200, chunk_overlap: 0, min_chunk_size: 0 }],
    ["size-200-overlap-50", { chunk_size: 200, chunk_overlap: 50, min_chunk_size: 0 }],
    ["size-300-min-100", { chunk_size: 300, chunk_overlap: 30, min_chunk_size: 100 }],
    ["size-150-no-strip", { chunk_size: 150, chunk_overlap: 0, min_chunk_size: 0, strip_whitespace: false }],
    ["size-150-no-keep", { chunk_size: 150, chunk_overlap: 0, min_chunk_size: 0, keep_separator: false }],
    ["words-40", { chunk_size: 100, chunk_overlap: 10, min_chunk_size: 0, length_function: "words" }],
    ["tokens-100", { chunk_size: 100, chunk_overlap: 10, min_chunk_size: 0, length_function: "tokens" }],
    ["no-metadata", { chunk_size: 200, chunk_overlap: 0, min_chunk_size: 0, add_metadata: false }],
    ["separators-list", { chunk_size: 120, chunk_overlap: 0, min_chunk_size: 0, separators: ["\n\n", ". ", " "] }],
  ];
  for (let t = 0; t < 12; t++) {
    const body = text(rand, 6 + Math.floor(rand() * 40), { astral: t % 3 !== 0 });
    for (const [sname, settings] of settingsList) {
      if ((t + sname.length) % 2 === 1 && sname !== "defaults") continue;
      // ContentFlow reads `separators` as text and splits on each of its characters: "." is the one form that means
      // the same on both sides (ours splits the text on commas). The other cases show the defaults and YAML lists.
      const keepSeparators = sname === "defaults" || sname === "separators-list";
      out.push({
        name: `recursive_text_chunker/text-${t}/${sname}`,
        type: "recursive_text_chunker",
        settings: keepSeparators ? settings : { separators: ".", ...settings },
        input: [item(t, { text: body })],
      });
    }
  }
  const edge: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ["empty-text", {}, { text: "" }],
    ["missing-field", {}, { other: "x" }],
    ["non-string", {}, { text: 12345 }],
    ["short", {}, { text: "Short text." }],
    ["nested-input", { input_field: "doc.text", chunk_size: 100, chunk_overlap: 0, min_chunk_size: 0 }, {
      doc: { text: text(prng(7), 12) },
    }],
    ["output-field", { output_field: "pieces", chunk_size: 100, chunk_overlap: 0 }, { text: text(prng(8), 10) }],
    ["emoji-only", { chunk_size: 100, chunk_overlap: 0, min_chunk_size: 0 }, { text: "😀".repeat(250) }],
    ["long-word", { chunk_size: 100, chunk_overlap: 0, min_chunk_size: 0 }, { text: "x".repeat(450) }],
    ["below-catalog-min", { chunk_size: 50, chunk_overlap: 0 }, { text: "a b c" }],
    ["above-catalog-max", { chunk_size: 20000, chunk_overlap: 0 }, { text: "a b c" }],
    ["overlap-too-big", { chunk_size: 100, chunk_overlap: 150 }, { text: "a b c" }],
    ["overlap-default-size-small", { chunk_size: 150 }, { text: "a b c" }],
    ["pages", { chunk_size: 100, chunk_overlap: 0, min_chunk_size: 0 }, {
      text: "Page one text here. More of page one.\n\nPage two starts. It has words.",
      pages: [{ page_number: 1, text: "Page one text here. More of page one." }, {
        page_number: 2,
        text: "Page two starts. It has words.",
      }],
    }],
    ["pages-off", { chunk_size: 100, chunk_overlap: 0, min_chunk_size: 0, include_page_numbers: false }, {
      text: "Page one text here.\n\nPage two starts.",
      pages: [{ page_number: 1, text: "Page one text here." }, { page_number: 2, text: "Page two starts." }],
    }],
    ["windows-newlines", { chunk_size: 100, chunk_overlap: 0, min_chunk_size: 0 }, {
      text: text(prng(9), 14).replace(/ /g, "\r\n"),
    }],
    ["length-function-bad", { length_function: "bytes" }, { text: "a" }],
    ["chunk-size-string", { chunk_size: "200", chunk_overlap: "0" }, { text: text(prng(10), 8) }],
  ];
  for (const [name, settings, data] of edge) {
    out.push({
      name: `recursive_text_chunker/${name}`,
      type: "recursive_text_chunker",
      settings: { separators: ".", ...settings },
      input: [item(1, data)],
    });
  }
  out.push({
    name: "recursive_text_chunker/default-separators-long-word",
    type: "recursive_text_chunker",
    settings: { chunk_size: 100, chunk_overlap: 0, min_chunk_size: 0 },
    input: [item(1, { text: "y".repeat(250) })],
  });
  out.push({
    name: "recursive_text_chunker/separator-space-string",
    type: "recursive_text_chunker",
    settings: { chunk_size: 100, chunk_overlap: 0, min_chunk_size: 0, separators: " " },
    input: [item(1, { text: text(prng(11), 12) })],
  });
  return out;
}

function csvExtractor(): DifferentialCase[] {
  const csv = "name,age,city\nAda,36,London\nAlan,41,Wilmslow\n";
  const cases: [string, Record<string, unknown>, string | null][] = [
    ["basic", {}, csv],
    ["no-header", { has_header: false }, csv],
    ["infer-types", { infer_types: true }, "a,b,c,d\n1,2.5,true,x\n-3,1e3,false,\n"],
    ["infer-underscore", { infer_types: true }, "a,b\n1_000,2_5.0\n"],
    ["infer-big-int", { infer_types: true }, "a\n9007199254740993\n"],
    ["infer-off", {}, "a,b\n1,2\n"],
    ["semicolon", { delimiter: ";" }, "a;b\n1;2\n"],
    ["tab", { delimiter: "\t" }, "a\tb\n1\t2\n"],
    ["tab-escaped", { delimiter: "\\t" }, "a\tb\n1\t2\n"],
    ["pipe-spaced", { delimiter: " | " }, "a|b\n1|2\n"],
    ["quoted", {}, 'a,b\n"x, y","he said ""hi"""\n'],
    ["quotechar", { quotechar: "'" }, "a,b\n'x, y',2\n"],
    ["bom", {}, "\uFEFFname,age\nAda,36\n"],
    ["empty-rows", {}, "a,b\n1,2\n\n,\n3,4\n"],
    ["keep-empty-rows", { skip_empty_rows: false }, "a,b\n1,2\n\n,\n3,4\n"],
    ["strip-off", { strip_whitespace: false }, "a , b\n 1 , 2 \n"],
    ["strip-on", {}, "a , b\n 1 , 2 \n"],
    ["max-rows", { max_rows: 1 }, csv],
    ["extract-text", { extract_text: true }, csv],
    ["ragged", {}, "a,b,c\n1,2\n3,4,5,6\n"],
    ["unicode", {}, "名前,emoji\n東京,😀\n"],
    ["crlf", {}, "a,b\r\n1,2\r\n"],
    ["header-only", {}, "a,b\n"],
    ["empty", {}, ""],
    ["missing-field", {}, null],
    ["duplicate-headers", {}, "a,a,b\n1,2,3\n"],
  ];
  return cases.map(([name, settings, content]) => ({
    name: `csv_extractor/${name}`,
    type: "csv_extractor",
    settings,
    input: [item(1, content === null ? { other: 1 } : { content })],
  }));
}

function tableRowSplitter(): DifferentialCase[] {
  const dicts = [{ name: "Ada", age: 36 }, { name: "Alan", age: 41 }, { name: "", age: null }];
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ["list-of-dicts", {}, { table: dicts }],
    ["list-of-lists", {}, { table: [["name", "age"], ["Ada", 36], ["Alan", 41]] }],
    ["list-of-lists-no-header", { has_header: false }, { table: [["Ada", 36], ["Alan", 41]] }],
    ["csv-text", {}, { table: "name,age\nAda,36\nAlan,41\n" }],
    ["csv-semicolon", { csv_delimiter: ";" }, { table: "name;age\nAda;36\n" }],
    ["row-id-field", { row_id_field: "name" }, { table: dicts.slice(0, 2) }],
    ["prefix", { row_id_prefix: "line" }, { table: dicts.slice(0, 2) }],
    ["no-index-no-headers", { include_row_index: false, include_headers: false }, { table: dicts.slice(0, 2) }],
    ["parent-data", { preserve_parent_data: true }, { table: dicts.slice(0, 2), title: "T", other: 1 }],
    ["parent-fields", { preserve_parent_data: true, parent_data_fields: "title" }, {
      table: dicts.slice(0, 2),
      title: "T",
      other: 1,
    }],
    ["output-list", { output_format: "list" }, { table: dicts.slice(0, 2) }],
    ["output-both", { output_format: "both" }, { table: dicts.slice(0, 2) }],
    ["max-rows", { max_rows: 1 }, { table: dicts }],
    ["start-row", { start_row: 1 }, { table: dicts }],
    ["keep-empty", { skip_empty_rows: false }, { table: [{ a: "" }, { a: "x" }] }],
    ["nested-field", { table_field: "out.rows" }, { out: { rows: dicts.slice(0, 2) } }],
    ["header-row-index", { header_row_index: 1 }, { table: [["junk"], ["name", "age"], ["Ada", 36]] }],
    ["missing-table", {}, { other: 1 }],
    ["empty-table", {}, { table: [] }],
    ["list-of-lists-headers-lists", {}, { table: [[["n"], ["a"]], ["Ada", 36]] }],
    ["word-tables", { table_format: "word_tables", table_field: "tables" }, {
      tables: [{ table_index: 0, rows: [["h1", "h2"], ["a", "b"]], row_count: 2, column_count: 2 }],
    }],
    ["unicode", {}, { table: [{ "名前": "東京", e: "😀" }] }],
  ];
  return cases.map(([name, settings, data]) => ({
    name: `table_row_splitter/${name}`,
    type: "table_row_splitter",
    settings,
    input: [item(1, data)],
  }));
}

function extractors(): DifferentialCase[] {
  const out: DifferentialCase[] = [];
  const add = (type: string, doc: string, name: string, settings: Record<string, unknown>) =>
    out.push({ name: `${type}/${doc}/${name}`, type, settings, input: [item(1, { temp_file_path: `<doc:${doc}>` })] });
  for (const doc of ["report.docx", "long.docx"]) {
    add("word_extractor", doc, "defaults", {});
    add("word_extractor", doc, "separator", { paragraph_separator: " | " });
    add("word_extractor", doc, "no-tables", { extract_tables: false, extract_paragraphs: false });
    add("word_extractor", doc, "empty-paragraphs", { include_empty_paragraphs: true });
  }
  for (const doc of ["report.docx"]) {
    add("word_extractor", doc, "properties", { extract_properties: true });
    add("word_extractor", doc, "no-text", { extract_text: false });
    add("word_extractor", doc, "output-field", { output_field: "doc" });
  }
  // A separator without whitespace (ContentFlow strips it, A2) lets these cases compare the rest of the output.
  for (const doc of ["sales.xlsx"]) {
    const sep = { sheet_separator: "#" };
    add("excel_extractor", doc, "properties", { ...sep, extract_properties: true });
    add("excel_extractor", doc, "formulas", { ...sep, extract_formulas: true });
    add("excel_extractor", doc, "comments", { ...sep, extract_comments: true });
    add("excel_extractor", doc, "no-sheets", { ...sep, extract_sheets: false, extract_tables: false });
    add("excel_extractor", doc, "max-columns", { ...sep, max_columns_per_table: 2 });
  }
  for (const doc of ["deck.pptx"]) {
    const sep = { slide_separator: "|" };
    add("powerpoint_extractor", doc, "properties", { ...sep, extract_properties: true });
    add("powerpoint_extractor", doc, "layouts", { ...sep, include_slide_layouts: true });
    add("powerpoint_extractor", doc, "no-tables", { ...sep, extract_tables: false, extract_slides: false });
  }
  add("pdf_extractor", "three.pdf", "no-text", { extract_text: false });
  for (const doc of ["sales.xlsx", "table.xlsx"]) {
    add("excel_extractor", doc, "defaults", {});
    add("excel_extractor", doc, "separator", { sheet_separator: "#" });
    add("excel_extractor", doc, "empty-cells", { include_empty_cells: true });
    add("excel_extractor", doc, "max-rows", { max_rows_per_table: 1 });
  }
  for (const doc of ["three.pdf", "one.pdf"]) {
    add("pdf_extractor", doc, "defaults", {});
    add("pdf_extractor", doc, "separator", { page_separator: "|" });
    add("pdf_extractor", doc, "no-pages", { extract_pages: false });
  }
  for (const doc of ["deck.pptx", "long.pptx"]) {
    add("powerpoint_extractor", doc, "defaults", {});
    add("powerpoint_extractor", doc, "separator", { slide_separator: " / " });
    add("powerpoint_extractor", doc, "notes", { extract_notes: true });
  }
  out.push({
    name: "word_extractor/missing-file-field",
    type: "word_extractor",
    settings: {},
    input: [item(1, { nothing: 1 })],
  });
  return out;
}

function documentSets(): DifferentialCase[] {
  const files = ["report-10.pdf", "report-2.pdf", "Annex.docx", "summary-1.txt"];
  const items = (extra: (i: number) => Record<string, unknown> = () => ({})) =>
    files.map((f, i) => {
      const it = item(i + 1, { role: ["main", "annex", "extra", "summary"][i], ...extra(i) });
      return { ...it, id: { ...it.id, filename: f, path: `set/${f}` } };
    });
  const cases: [string, Record<string, unknown>, Record<string, unknown>[]][] = [
    ["alpha", { set_id: "set-1", set_name: "Quarter" }, items()],
    ["numeric", { set_id: "set-1", ordering_strategy: "filename_numeric" }, items()],
    ["input-order", { set_id: "set-1", ordering_strategy: "input_order" }, items()],
    ["role-field", { set_id: "set-1", role_field: "role" }, items()],
    ["role-mapping", {
      set_id: "set-1",
      ordering_strategy: "explicit_mapping",
      role_mapping: { "report-10.pdf": "first", "Annex.docx": "second" },
    }, items()],
    ["size-ok", { set_id: "set-1", validate_set_size: 4 }, items()],
    ["size-wrong", { set_id: "set-1", validate_set_size: 3 }, items()],
    ["generated-id", {}, items()],
    ["spaced-name", { set_id: " set-2 ", set_name: "  Spaced  " }, items()],
    ["bad-strategy", { ordering_strategy: "random" }, items()],
    ["single", { set_id: "s" }, items().slice(0, 1)],
  ];
  return cases.map(([name, settings, input]) => ({
    name: `document_set_initializer/${name}`,
    type: "document_set_initializer",
    settings,
    input,
  }));
}

/** Items as document_set_initializer leaves them (summary_data document_set_*), for the collector. */
function stampedSet(setId: string, n: number, values: (i: number) => Record<string, unknown>) {
  return Array.from({ length: n }, (_, i) => {
    const it = item(`${setId}-${i}`, values(i));
    return {
      ...it,
      summary_data: {
        document_set_id: setId,
        document_set_name: `Set ${setId}`,
        document_set_role: ["q1", "q2", "q3", "q4"][i] ?? `r${i}`,
        document_set_order: n - 1 - i,
        document_set_total: n,
        pages: i + 1,
      },
    };
  });
}

function documentSetCollectors(): DifferentialCase[] {
  const values = (i: number) => ({ revenue: [100, 120, 90, 150][i], title: `Q${i + 1}`, text: `quarter ${i}` });
  const cases: [string, Record<string, unknown>, Record<string, unknown>[]][] = [
    ["defaults", {}, stampedSet("a", 3, values)],
    ["fields", { fields_to_collect: ["revenue", "title"] }, stampedSet("a", 3, values)],
    ["summary-fields", { summary_fields_to_collect: ["pages"] }, stampedSet("a", 3, values)],
    ["raw-list", { include_raw_content_list: true }, stampedSet("a", 2, values)],
    ["output-key", { output_key: "the_set" }, stampedSet("a", 2, values)],
    ["two-sets", {}, [...stampedSet("a", 2, values), ...stampedSet("b", 2, values)]],
    ["incomplete", {}, stampedSet("a", 3, values).slice(0, 2)],
    ["incomplete-allowed", { require_complete_set: false }, stampedSet("a", 3, values).slice(0, 2)],
    ["unstamped", {}, [item(1, { a: 1 }), item(2, { a: 2 })]],
  ];
  return cases.map(([name, settings, input]) => ({
    name: `document_set_collector/${name}`,
    type: "document_set_collector",
    settings,
    input,
  }));
}

function crossDocumentAggregator(): DifferentialCase[] {
  const set = (values: unknown[]) => ({
    document_set: {
      set_id: "s",
      set_name: "Set s",
      total_documents: values.length,
      documents: values.map((v, i) => ({
        canonical_id: `d${i}`,
        role: `q${i + 1}`,
        order: i,
        data: { revenue: v, meta: { pages: i + 1 } },
        summary_data: {},
      })),
    },
  });
  const all = ["sum", "avg", "min", "max", "delta", "pct_change", "trend"];
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ["all-operations", { aggregations: [{ field_path: "revenue", operations: all }] }, set([100, 120, 90, 150])],
    ["nested-field", { aggregations: [{ field_path: "meta.pages", operations: ["sum", "avg"] }] }, set([1, 2, 3])],
    ["strings-and-nulls", { aggregations: [{ field_path: "revenue", operations: all }] }, set(["10", null, 5, "x"])],
    ["single", { aggregations: [{ field_path: "revenue", operations: all }] }, set([7])],
    ["zero-start", { aggregations: [{ field_path: "revenue", operations: ["delta", "pct_change"] }] }, set([0, 5])],
    ["output-key", { output_key: "agg", aggregations: [{ field_path: "revenue", operations: ["sum"] }] }, set([1, 2])],
    ["bad-operation", { aggregations: [{ field_path: "revenue", operations: ["median"] }] }, set([1, 2])],
    ["no-aggregations", {}, set([1, 2])],
    ["missing-set", { aggregations: [{ field_path: "revenue", operations: ["sum"] }] }, { other: 1 }],
  ];
  return cases.map(([name, settings, data]) => ({
    name: `cross_document_field_aggregator/${name}`,
    type: "cross_document_field_aggregator",
    settings,
    input: [item(1, data)],
  }));
}

/**
 * for_each_content: only the cases where both sides agree today. With steps that run, ContentFlow's log entries
 * differ from ours (each inner step adds its own entry, annotated with for_each_parent, step_index and step_type,
 * before the item's entry): not matched yet, so those cases are left out of the corpus (see docs/pipelines.md).
 */
function forEach(): DifferentialCase[] {
  const mapper = { id: "map", type: "field_mapper", settings: { mappings: '{"title": "name"}' } };
  const items = () => [item(1, { title: "A" }), item(2, { title: "B" })];
  const cases: [string, Record<string, unknown>, Record<string, unknown>[]][] = [
    ["empty-input", { steps: [mapper] }, []],
    ["no-steps", { steps: [] }, items()],
    ["steps-not-a-list", { steps: "map" }, items()],
  ];
  return cases.map(([name, settings, input]) => ({
    name: `for_each_content/${name}`,
    type: "for_each_content",
    settings,
    input,
  }));
}

function stringSettings(): DifferentialCase[] {
  // ContentFlow strips every string setting and reads a blank one as unset.
  const csv = "a,b\n1,2\n";
  return [
    {
      name: "settings/spaced-output-field",
      type: "csv_extractor",
      settings: { output_field: "  out  " },
      input: [item(1, { content: csv })],
    },
    {
      name: "settings/blank-content-field",
      type: "csv_extractor",
      settings: { content_field: "   " },
      input: [item(1, { content: csv })],
    },
    {
      name: "settings/spaced-choice",
      type: "field_mapper",
      settings: { mappings: '{"a": "b"}', copy_mode: " move " },
      input: [item(1, { a: 1 })],
    },
    {
      name: "settings/spaced-prefix",
      type: "table_row_splitter",
      settings: { row_id_prefix: " line " },
      input: [item(1, { table: [{ a: 1 }] })],
    },
    {
      name: "settings/spaced-json-mappings",
      type: "field_mapper",
      settings: { mappings: '  {"a": "b"}  ' },
      input: [item(1, { a: 1 })],
    },
    {
      name: "settings/number-as-text",
      type: "table_row_splitter",
      settings: { max_rows: "1" },
      input: [item(1, { table: [{ a: 1 }, { a: 2 }] })],
    },
    {
      name: "settings/spaced-table-field",
      type: "table_row_splitter",
      settings: { table_field: " rows " },
      input: [item(1, { rows: [{ a: 1 }] })],
    },
    {
      name: "settings/spaced-nested-delimiter",
      type: "field_selector",
      settings: { fields: '["meta.year"]', nested_delimiter: " . " },
      input: [item(1, { meta: { year: 1, month: 2 }, other: 3 })],
    },
    {
      name: "settings/spaced-selector-field",
      type: "field_selector",
      settings: { fields: '[" a "]' },
      input: [item(1, { a: 1, " a ": 2 })],
    },
  ];
}

/** Every case, in a stable order; names are unique. */
export function buildCorpus(): DifferentialCase[] {
  const cases = [
    ...passThrough(),
    ...fanIn(),
    ...fieldMapper(),
    ...fieldSelector(),
    ...chunker(),
    ...csvExtractor(),
    ...tableRowSplitter(),
    ...extractors(),
    ...documentSets(),
    ...documentSetCollectors(),
    ...forEach(),
    ...crossDocumentAggregator(),
    ...stringSettings(),
  ];
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.name)) throw new Error(`duplicate differential case name ${c.name}`);
    seen.add(c.name);
  }
  return cases;
}

// The differences from ContentFlow that the differential suite accepts, by case name ("*" matches any text), each
// with its reason and the row of the table in docs/pipelines.md, "Differential suite", that lists it. The rule
// (issue 26): we match Python unless Python crashes, loses data or cannot do what the setting says.
const DOC = "docs/pipelines.md#accepted-differences";

const ACCEPTED: Array<[pattern: string, reason: string]> = [
  ["pass_through/unknown-*-field", `A1: pydantic drops unknown fields of an item and of its id; we keep them (${DOC})`],
  [
    "*extractor/*/defaults",
    `A2: ContentFlow strips the default separator "\\n\\n---\\n\\n" (or ===) to "---"; we keep its newlines (${DOC})`,
  ],
  ["excel_extractor/*/empty-cells", `A2: ContentFlow strips the default sheet separator to "===" (${DOC})`],
  ["excel_extractor/*/max-rows", `A2: ContentFlow strips the default sheet separator to "===" (${DOC})`],
  ["pdf_extractor/*/no-pages", `A2: ContentFlow strips the default page separator to "---" (${DOC})`],
  [
    "excel_extractor/*/comments",
    `A20: comments are read in openpyxl's default read_only mode, where ContentFlow finds none (${DOC})`,
  ],
  ["powerpoint_extractor/*/notes", `A2: ContentFlow strips the default slide separator to "---" (${DOC})`],
  ["*extractor/*/separator", `A2: ContentFlow strips the spaces of a separator such as " | " (${DOC})`],
  [
    "recursive_text_chunker/text-*/defaults",
    `A3: ContentFlow splits on the characters of the catalog's separators text, not on its list (${DOC})`,
  ],
  ["recursive_text_chunker/default-separators-*", `A3: as above (${DOC})`],
  [
    "recursive_text_chunker/separator-space-string",
    `A3: ContentFlow strips " " and falls back to its default (${DOC})`,
  ],
  [
    "recursive_text_chunker/text-*/separators-list",
    `A3: ContentFlow turns a YAML list into its Python repr and splits on those characters (${DOC})`,
  ],
  ["recursive_text_chunker/output-field", `A4: merged small chunks are joined with a space, not glued (${DOC})`],
  ["recursive_text_chunker/above-catalog-max", `A5: catalog ranges are not enforced (${DOC})`],
  ["field_mapper/move-same-field", `A6: ContentFlow deletes a field moved onto itself (${DOC})`],
  ["field_mapper/case-camel-dotted", `A7: ContentFlow camel-cases the whole dotted path (${DOC})`],
  ["field_mapper/template-target*", `A8: ContentFlow fails on a {path} placeholder in a target (${DOC})`],
  ["field_mapper/yaml-map", `A9: ContentFlow refuses a YAML map where it expects JSON text (${DOC})`],
  ["field_selector/include-yaml-list", `A9: ContentFlow refuses a YAML list where it expects JSON text (${DOC})`],
  ["field_selector/include-comma", `A9: ContentFlow refuses a comma-separated list (${DOC})`],
  ["field_selector/mode-upper", `A10: choice settings are case-insensitive here (${DOC})`],
  ["field_selector/*-metadata", `A11: selection counts are of the fields really kept and removed (${DOC})`],
  ["field_selector/exclude-nested", `A12: excluding a nested field removes it (${DOC})`],
  ["csv_extractor/bom", `A13: a byte-order mark is not part of the first header (${DOC})`],
  ["csv_extractor/tab*", `A14: a tab delimiter is a tab ("\\t" too) (${DOC})`],
  ["csv_extractor/infer-big-int", `A15: integers beyond 2^53 stay text (${DOC})`],
  ["table_row_splitter/parent-fields", `A16: parent_data_fields is a list, not characters of a text (${DOC})`],
  ["table_row_splitter/missing-table", `A17: an item without its table fails, not dropped (${DOC})`],
  ["table_row_splitter/list-of-lists-headers-lists", `A18: ContentFlow crashes on list headers (${DOC})`],
  [
    "document_set_collector/unstamped",
    `A19: items without a set id form one set, not one per clock tick (${DOC})`,
  ],
];

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
}

const COMPILED = ACCEPTED.map(([pattern, reason]) => [glob(pattern), reason] as const);

/** The reason a case's difference is accepted, or undefined. */
export function acceptedDifference(name: string): string | undefined {
  return COMPILED.find(([re]) => re.test(name))?.[1];
}

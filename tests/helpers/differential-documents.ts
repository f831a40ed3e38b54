// The documents of the differential corpus, made at run time with the generators of tests/helpers/documents.ts (their
// text, tables and slides are the same on every run; only zip timestamps and ids inside the files vary, which the
// extractors' outputs compared here do not contain). Written into `dir` under the names the corpus uses.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeDocx, makePdf, makePptx, makeXlsx } from "./documents.ts";

const DOCUMENTS: Record<string, () => Promise<Uint8Array>> = {
  "report.docx": () => makeDocx(),
  "long.docx": () => makeDocx({ paragraphs: 4 }),
  "sales.xlsx": () => makeXlsx(),
  "table.xlsx": () => makeXlsx({ table: true, rows: 3 }),
  "three.pdf": () => makePdf(),
  "one.pdf": () => makePdf({ pages: 1, title: "One page" }),
  "deck.pptx": () => makePptx(),
  "long.pptx": () => makePptx({ slides: 2 }),
};

/** Writes every document into `dir`; returns name → path. */
export async function writeDocuments(dir: string): Promise<Record<string, string>> {
  const paths: Record<string, string> = {};
  for (const [name, make] of Object.entries(DOCUMENTS)) {
    paths[name] = join(dir, name);
    await writeFile(paths[name], await make());
  }
  return paths;
}

/** Replaces every "<doc:NAME>" string in `value` with the document's path. */
export function withDocumentPaths<T>(value: T, paths: Record<string, string>): T {
  return JSON.parse(JSON.stringify(value), (_key, v) => {
    if (typeof v !== "string" || !v.startsWith("<doc:")) return v;
    const path = paths[v.slice(5, -1)];
    if (!path) throw new Error(`differential corpus: unknown document ${v}`);
    return path;
  }) as T;
}

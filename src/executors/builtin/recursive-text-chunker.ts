// recursive_text_chunker: LangChain-style recursive splitting of data[input_field] into data[output_field] chunks
// ({text, chunk_index, page_number, metadata}), with overlap and merging of small chunks, as ContentFlow does.
// `separators` is a real list here: a YAML list or a comma-separated string, with \n \t \r escapes decoded
// (ContentFlow iterated the catalog's string default character by character). Lengths are code points, as Python's
// len() counts them.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, intSetting, stringSetting } from "../settings.ts";
import { getPath, splitPath } from "../paths.ts";
import { codePointLength, lastCodePoints } from "../../util/code-points.ts";

export const DEFAULT_SEPARATORS = ["\n\n", "\n", ". ", " ", ""];

function decodeEscapes(s: string): string {
  return s.replace(/\\([ntr\\])/g, (_m, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c === "r" ? "\r" : "\\"));
}

const separators = v.pipe(
  v.union(
    [v.array(v.string(), "separators must be a list of strings"), v.string()],
    "separators must be a list or a comma-separated string",
  ),
  v.transform((value) =>
    Array.isArray(value) ? value.map(decodeEscapes) : value.split(",").filter((s) => s.length > 0).map(decodeEscapes)
  ),
  v.minLength(1, "separators must not be empty"),
);

const fields = v.object({
  input_field: v.optional(stringSetting("input_field"), "text"),
  output_field: v.optional(stringSetting("output_field"), "chunks"),
  chunk_size: v.optional(intSetting("chunk_size", { min: 1, max: 1_000_000 }), 1000),
  chunk_overlap: v.optional(intSetting("chunk_overlap", { min: 0, max: 1_000_000 }), 200),
  min_chunk_size: v.optional(intSetting("min_chunk_size", { min: 0, max: 1_000_000 }), 100),
  separators: v.optional(separators, DEFAULT_SEPARATORS),
  length_function: v.optional(choiceSetting("length_function", ["characters", "words", "tokens"]), "characters"),
  keep_separator: v.optional(boolSetting("keep_separator"), true),
  strip_whitespace: v.optional(boolSetting("strip_whitespace"), true),
  add_metadata: v.optional(boolSetting("add_metadata"), true),
  include_page_numbers: v.optional(boolSetting("include_page_numbers"), true),
});
const settings = v.pipe(
  fields,
  v.check((s) => s.chunk_overlap < s.chunk_size, "chunk_overlap must be less than chunk_size"),
  v.check((s) => s.min_chunk_size <= s.chunk_size, "min_chunk_size must not exceed chunk_size"),
);
export type ChunkerSettings = v.InferOutput<typeof settings>;

interface Piece {
  text: string;
  split_level: number;
  separator_used: string | null;
  page_numbers?: number[];
}

export class RecursiveChunker {
  constructor(private readonly s: ChunkerSettings) {}

  measure(text: string): number {
    if (this.s.length_function === "words") return text.split(/\s+/).filter(Boolean).length;
    if (this.s.length_function === "tokens") return Math.floor(codePointLength(text) / 4);
    return codePointLength(text);
  }

  private tidy(text: string): string {
    return this.s.strip_whitespace ? text.trim() : text;
  }

  private splitOn(text: string, separator: string): string[] {
    if (separator === "") return [...text];
    const parts = text.split(separator);
    if (!this.s.keep_separator) return parts;
    const out: string[] = [];
    parts.forEach((part, i) => {
      if (i < parts.length - 1) out.push(part + separator);
      else if (part) out.push(part);
    });
    return out;
  }

  private join(parts: string[], separator: string): string {
    return this.s.keep_separator ? parts.join("") : parts.join(separator);
  }

  split(text: string, seps: string[] = this.s.separators, level = 0): Piece[] {
    if (seps.length === 0 || this.measure(text) <= this.s.chunk_size) {
      const t = this.tidy(text);
      return t ? [{ text: t, split_level: level, separator_used: null }] : [];
    }
    const [separator, ...rest] = seps;
    const pieces: Piece[] = [];
    let current: string[] = [];
    let currentLength = 0;
    const flush = () => {
      if (current.length === 0) return;
      const t = this.tidy(this.join(current, separator));
      if (t) pieces.push({ text: t, split_level: level, separator_used: separator });
      current = [];
      currentLength = 0;
    };
    for (const part of this.splitOn(text, separator)) {
      const length = this.measure(part);
      if (length > this.s.chunk_size) {
        flush();
        pieces.push(...this.split(part, rest, level + 1));
      } else if (currentLength + length > this.s.chunk_size && current.length > 0) {
        flush();
        current = [part];
        currentLength = length;
      } else {
        current.push(part);
        currentLength += length;
      }
    }
    flush();
    return pieces;
  }

  private overlapText(text: string): string {
    const n = this.s.chunk_overlap;
    if (this.measure(text) <= n) return text;
    if (this.s.length_function === "words") return text.split(/\s+/).filter(Boolean).slice(-n).join(" ") + " ";
    let tail = lastCodePoints(text, this.s.length_function === "tokens" ? n * 4 : n);
    const space = tail.indexOf(" ");
    if (space > 0) tail = tail.slice(space + 1);
    return tail + " ";
  }

  withOverlap(pieces: Piece[]): Piece[] {
    if (pieces.length <= 1 || this.s.chunk_overlap <= 0) return pieces;
    return pieces.map((p, i) => {
      if (i === 0) return p;
      const prev = pieces[i - 1];
      const pages = [...new Set([...(prev.page_numbers ?? []), ...(p.page_numbers ?? [])])].sort((a, b) => a - b);
      return { ...p, text: this.overlapText(prev.text) + p.text, ...(pages.length ? { page_numbers: pages } : {}) };
    });
  }

  mergeSmall(pieces: Piece[]): Piece[] {
    if (this.s.min_chunk_size <= 0) return pieces;
    const out: Piece[] = [];
    for (let i = 0; i < pieces.length; i++) {
      const cur = pieces[i];
      if (this.measure(cur.text) < this.s.min_chunk_size && i < pieces.length - 1) {
        const next = pieces[i + 1];
        const glue = /\s$/.test(cur.text) || /^\s/.test(next.text) ? "" : " ";
        const pages = [...new Set([...(cur.page_numbers ?? []), ...(next.page_numbers ?? [])])].sort((a, b) => a - b);
        out.push({
          text: cur.text + glue + next.text,
          split_level: Math.min(cur.split_level, next.split_level),
          separator_used: cur.separator_used,
          ...(pages.length ? { page_numbers: pages } : {}),
        });
        i++;
      } else out.push(cur);
    }
    return out;
  }
}

interface PageSpan {
  start: number;
  end: number;
  page: number;
}

/** Pages of extractor output ({text, page_number}) next to the input field, or data.pages. */
function pagesOf(
  data: Record<string, unknown>,
  inputField: string,
): Array<{ text: string; page_number: number }> | undefined {
  const parts = splitPath(inputField);
  const candidates = [parts.length > 1 ? getPath(data, [...parts.slice(0, -1), "pages"]) : undefined, data.pages];
  for (const c of candidates) {
    if (!Array.isArray(c) || c.length === 0) continue;
    const pages = c.filter((p): p is { text: string; page_number: number } =>
      typeof p === "object" && p !== null && typeof (p as Record<string, unknown>).text === "string" &&
      typeof (p as Record<string, unknown>).page_number === "number"
    );
    if (pages.length > 0) return pages;
  }
  return undefined;
}

function pageSpans(text: string, pages: Array<{ text: string; page_number: number }>): PageSpan[] {
  const spans: PageSpan[] = [];
  let from = 0;
  for (const p of pages) {
    if (!p.text || !p.page_number) continue;
    let at = text.indexOf(p.text, from);
    if (at < 0 && p.text.length > 100) at = text.indexOf(p.text.slice(0, 100), from);
    if (at < 0) continue;
    spans.push({ start: at, end: at + p.text.length, page: p.page_number });
    from = at + p.text.length;
  }
  return spans;
}

function assignPages(pieces: Piece[], text: string, pages: Array<{ text: string; page_number: number }>): void {
  const spans = pageSpans(text, pages);
  let from = 0;
  for (const piece of pieces) {
    let at = text.indexOf(piece.text, from);
    if (at < 0) at = text.indexOf(piece.text.slice(0, 200));
    const found = new Set<number>();
    if (at >= 0) {
      const end = at + piece.text.length;
      for (const s of spans) if (s.start < end && s.end > at) found.add(s.page);
      from = at + 1;
    }
    if (found.size === 0) found.add(pages[0].page_number);
    piece.page_numbers = [...found].sort((a, b) => a - b);
  }
}

export function chunkContent(item: Content, s: ChunkerSettings): Content {
  const data = item.data ?? {};
  const value = getPath(data, splitPath(s.input_field));
  if (value === undefined || value === null || value === "") {
    throw new Error(`no text found in field '${s.input_field}'`);
  }
  if (typeof value !== "string") {
    throw new Error(`field '${s.input_field}' must hold text, not ${Array.isArray(value) ? "a list" : typeof value}`);
  }
  const chunker = new RecursiveChunker(s);
  let pieces = chunker.split(value);
  const pages = s.include_page_numbers ? pagesOf(data, s.input_field) : undefined;
  if (pages) assignPages(pieces, value, pages);
  pieces = chunker.mergeSmall(chunker.withOverlap(pieces));
  const chunks = pieces.map((p, i) => ({
    text: p.text,
    chunk_index: i,
    page_number: p.page_numbers?.[0] ?? null,
    ...(s.add_metadata
      ? {
        metadata: {
          char_count: codePointLength(p.text),
          word_count: p.text.split(/\s+/).filter(Boolean).length,
          split_level: p.split_level,
          separator_used: p.separator_used,
          page_numbers: p.page_numbers ?? null,
        },
      }
      : {}),
  }));
  const avg = chunks.length ? Math.floor(chunks.reduce((n, c) => n + codePointLength(c.text), 0) / chunks.length) : 0;
  return {
    ...item,
    data: { ...data, [s.output_field]: chunks },
    summary_data: {
      ...item.summary_data,
      chunks_created: chunks.length,
      avg_chunk_size: avg,
      chunking_method: "recursive",
    },
  };
}

export const recursiveTextChunker: ExecutorDefinition<typeof settings> = {
  type: "recursive_text_chunker",
  category: "transform",
  description: "Splits text into overlapping chunks along paragraph, line, sentence and word boundaries",
  settings,
  dataFields: {
    reads: [{ setting: "input_field", fallback: "text" }],
    writes: [{ setting: "output_field", fallback: "chunks" }],
  },
  create: (id, s) => perItemExecutor(id, "recursive_text_chunker", async (item) => chunkContent(item, s)),
};

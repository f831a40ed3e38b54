// The Open Packaging Conventions parts shared by docx, pptx and xlsx: opening the package (with the checks of
// zip.ts), content types, relationships and the core properties (docProps/core.xml).
import { Buffer } from "node:buffer";
import type { Content } from "../../model/content.ts";
import { DocumentError, MIB, NotOoxmlError, type Pacer } from "./limits.ts";
import { isCompoundFile, ZipArchive } from "./zip.ts";
import { attr, parseXmlPart } from "./xml.ts";

export interface Relationship {
  id: string;
  type: string;
  /** Part name inside the package (resolved, no leading slash); undefined for external targets. */
  part?: string;
  target: string;
}

export interface OoxmlPackage {
  zip: ZipArchive;
  what: string;
  pacer: Pacer;
  contentTypes: { defaults: Map<string, string>; overrides: Map<string, string> };
}

/**
 * Inflated bytes allowed for a package of `fileBytes`: 100 times the file (text XML rarely compresses better than
 * 20:1), at least 64 MiB for the archive and 32 MiB for one part, at most 1 GiB and 256 MiB.
 */
export function packageLimits(fileBytes: number) {
  return {
    maxTotalBytes: Math.min(1024 * MIB, Math.max(64 * MIB, fileBytes * 100)),
    maxEntryBytes: Math.min(256 * MIB, Math.max(32 * MIB, fileBytes * 100)),
  };
}

export async function openPackage(
  bytes: Uint8Array,
  what: string,
  kindHint: string,
  pacer: Pacer,
): Promise<OoxmlPackage> {
  if (isCompoundFile(bytes)) {
    throw new DocumentError(
      `${what}: password-protected (encrypted) Office document, or a legacy binary ${kindHint} file; ` +
        "only unencrypted Office Open XML files can be read",
    );
  }
  if (bytes.length >= 5 && new TextDecoder().decode(bytes.subarray(0, 5)) === "%PDF-") {
    throw new NotOoxmlError(`${what}: this is a PDF file, not an Office Open XML document`);
  }
  const zip = new ZipArchive(bytes, packageLimits(bytes.length), what);
  if (!zip.has("[Content_Types].xml")) {
    throw new NotOoxmlError(`${what}: not an Office Open XML package (no [Content_Types].xml)`);
  }
  const defaults = new Map<string, string>();
  const overrides = new Map<string, string>();
  await parseXmlPart(zip, "[Content_Types].xml", pacer, {
    open(tag) {
      if (tag.name === "Default") {
        const ext = attr(tag, "Extension");
        const type = attr(tag, "ContentType");
        if (ext && type) defaults.set(ext.toLowerCase(), type);
      } else if (tag.name === "Override") {
        const partName = attr(tag, "PartName");
        const type = attr(tag, "ContentType");
        if (partName && type) overrides.set(partName.replace(/^\//, ""), type);
      }
    },
  }, what);
  return { zip, what, pacer, contentTypes: { defaults, overrides } };
}

export function contentTypeOf(pkg: OoxmlPackage, part: string): string {
  const override = pkg.contentTypes.overrides.get(part);
  if (override) return override;
  const ext = part.slice(part.lastIndexOf(".") + 1).toLowerCase();
  return pkg.contentTypes.defaults.get(ext) ?? "application/octet-stream";
}

function folderOf(part: string): string {
  const slash = part.lastIndexOf("/");
  return slash < 0 ? "" : part.slice(0, slash + 1);
}

/** Resolves a relationship target relative to the part that owns the relationship. */
export function resolvePart(sourcePart: string, target: string): string {
  const raw = target.startsWith("/") ? target.slice(1) : folderOf(sourcePart) + target;
  const out: string[] = [];
  for (const seg of raw.split("/")) {
    if (seg === "..") out.pop();
    else if (seg !== "." && seg !== "") out.push(seg);
  }
  return decodeURIComponentSafe(out.join("/"));
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function relsPartOf(part: string): string {
  return `${folderOf(part)}_rels/${part.slice(part.lastIndexOf("/") + 1)}.rels`;
}

/** Relationships of a part ("" for the package), by id. Missing rels part: none. */
export async function relationships(pkg: OoxmlPackage, part: string): Promise<Map<string, Relationship>> {
  const relsPart = part === "" ? "_rels/.rels" : relsPartOf(part);
  const rels = new Map<string, Relationship>();
  if (!pkg.zip.has(relsPart)) return rels;
  await parseXmlPart(pkg.zip, relsPart, pkg.pacer, {
    open(tag) {
      if (tag.name !== "Relationship") return;
      const id = attr(tag, "Id");
      const target = attr(tag, "Target");
      if (!id || target === undefined) return;
      const external = attr(tag, "TargetMode") === "External";
      rels.set(id, {
        id,
        type: attr(tag, "Type") ?? "",
        target,
        part: external ? undefined : resolvePart(part, target),
      });
    },
  }, pkg.what);
  return rels;
}

/**
 * The main part of the package (officeDocument relationship), e.g. word/document.xml. `family` is the content
 * type family it must have ("wordprocessingml", "presentationml", "spreadsheetml"; the macro-enabled .docm, .pptm
 * and .xlsm types count too), so that a Word file given to the Excel extractor says so.
 */
export async function mainPart(pkg: OoxmlPackage, fallback: string, family: string): Promise<string> {
  const macroFamily =
    { wordprocessingml: "ms-word", presentationml: "ms-powerpoint", spreadsheetml: "ms-excel" }[family];
  let part: string | undefined;
  for (const rel of (await relationships(pkg, "")).values()) {
    if (rel.type.endsWith("/officeDocument") && rel.part && pkg.zip.has(rel.part)) part = rel.part;
  }
  if (!part && pkg.zip.has(fallback)) part = fallback;
  if (!part) throw new DocumentError(`${pkg.what}: no main document part (expected ${fallback})`);
  const type = contentTypeOf(pkg, part);
  if (!type.includes(family) && !(macroFamily && type.includes(macroFamily))) {
    throw new DocumentError(`${pkg.what}: the main part ${part} is ${type}, not a ${family} document`);
  }
  return part;
}

export interface CoreProperties {
  title?: string;
  creator?: string;
  subject?: string;
  keywords?: string;
  description?: string;
  category?: string;
  created?: string;
  modified?: string;
  lastModifiedBy?: string;
  revision?: string;
  version?: string;
}

const CORE_FIELDS: Record<string, keyof CoreProperties> = {
  title: "title",
  creator: "creator",
  subject: "subject",
  keywords: "keywords",
  description: "description",
  category: "category",
  created: "created",
  modified: "modified",
  lastModifiedBy: "lastModifiedBy",
  revision: "revision",
  version: "version",
};

export async function coreProperties(pkg: OoxmlPackage): Promise<CoreProperties> {
  let part = "docProps/core.xml";
  for (const rel of (await relationships(pkg, "")).values()) {
    if (rel.type.endsWith("/core-properties") && rel.part) part = rel.part;
  }
  const props: CoreProperties = {};
  if (!pkg.zip.has(part)) return props;
  let field: keyof CoreProperties | undefined;
  let depth = 0;
  await parseXmlPart(pkg.zip, part, pkg.pacer, {
    open(tag) {
      depth++;
      field = depth === 2 ? CORE_FIELDS[tag.name] : undefined;
      if (field && !tag.selfClosing) props[field] = "";
    },
    close() {
      depth--;
      field = undefined;
    },
    text(text) {
      if (field) props[field] = (props[field] ?? "") + text;
    },
  }, pkg.what);
  return props;
}

/**
 * W3CDTF date of core properties → what python-docx, python-pptx and openpyxl report: the UTC time as a naive
 * datetime, isoformat "2024-01-02T03:04:05".
 */
export function isoDate(value: string | undefined): string | null {
  if (!value) return null;
  const date = new Date(value.trim());
  if (Number.isNaN(date.getTime())) return null;
  return date.toISOString().replace(/\.\d{3}Z$/, "");
}

/** python-docx/python-pptx core properties as ContentFlow reports them (empty → null, revision an integer). */
export function officeProperties(core: CoreProperties): Record<string, unknown> {
  const revision = Number.parseInt(core.revision ?? "", 10);
  return {
    title: core.title || null,
    author: core.creator || null,
    subject: core.subject || null,
    keywords: core.keywords || null,
    comments: core.description || null,
    category: core.category || null,
    created: isoDate(core.created),
    modified: isoDate(core.modified),
    last_modified_by: core.lastModifiedBy || null,
    revision: Number.isFinite(revision) && revision > 0 ? revision : 0,
  };
}

/** Base64 of image bytes. ContentFlow's image_output_mode "bytes" put raw bytes into the item; JSON has none. */
export function imageData(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/**
 * An Office extractor's work on one item; a file that is not an Office Open XML package at all (a PDF given to the
 * Word extractor, say) gives the item back unchanged with `summary_data[statusKey] = "invalid_file"`, as ContentFlow's
 * extractors did, so that a pipeline may run every extractor on every file. Encrypted, corrupt and oversized Office
 * files still fail the item.
 */
export async function unlessInvalidFile(
  item: Content,
  statusKey: string,
  extract: () => Promise<Content>,
): Promise<Content> {
  try {
    return await extract();
  } catch (err) {
    if (!(err instanceof NotOoxmlError)) throw err;
    return { ...item, summary_data: { ...item.summary_data, [statusKey]: "invalid_file" } };
  }
}

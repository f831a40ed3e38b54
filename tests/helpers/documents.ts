// Real documents for the extractor tests and the benchmark, made at run time with the writer libraries (dev
// dependencies): docx, pptxgenjs, exceljs, pdf-lib. Hostile variants (zip bombs, encrypted, truncated) are built
// from them by hand.
import { Buffer } from "node:buffer";
import * as docx from "docx";
import * as pptxgen from "pptxgenjs";
import ExcelJS from "exceljs";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { strToU8, unzipSync, zipSync, zlibSync } from "fflate";

/** A 4x4 red PNG (for image extraction). */
export const RED_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEklEQVR4nGP4z8CAQAwkcQAA3Jgb5QeChHQAAAAASUVORK5CYII=",
  "base64",
);

export const CREATED = new Date("2024-03-04T05:06:07Z");

export async function makeDocx(opts: { paragraphs?: number; image?: boolean } = {}): Promise<Uint8Array> {
  const { Document, Packer, Paragraph, TextRun, HeadingLevel, Table, TableRow, TableCell, ImageRun } = docx;
  const cell = (text: string, extra: Record<string, unknown> = {}) =>
    new TableCell({ children: [new Paragraph(text)], ...extra });
  const body: Array<InstanceType<typeof Paragraph> | InstanceType<typeof Table>> = [
    new Paragraph({ text: "Quarterly Report", heading: HeadingLevel.HEADING_1 }),
    new Paragraph({
      children: [new TextRun("Revenue grew "), new TextRun({ text: "12%", bold: true }), new TextRun(".")],
    }),
    new Paragraph(""),
    new Paragraph({ children: [new TextRun("Tab"), new TextRun({ text: "", break: 0 }), new TextRun("\tafter")] }),
    new Table({
      rows: [
        new TableRow({ children: [cell("Region"), cell("Q1"), cell("Q2")] }),
        new TableRow({ children: [cell("North"), cell("10"), cell("11")] }),
        new TableRow({ children: [cell("Merged", { columnSpan: 2 }), cell("x")] }),
      ],
    }),
    new Paragraph("Closing line"),
  ];
  for (let i = 0; i < (opts.paragraphs ?? 0); i++) {
    body.push(new Paragraph(`Paragraph ${i} of the long body: the quick brown fox jumps over the lazy dog.`));
  }
  if (opts.image) {
    body.push(
      new Paragraph({
        children: [new ImageRun({ type: "png", data: RED_PNG, transformation: { width: 4, height: 4 } })],
      }),
    );
  }
  const doc = new Document({
    title: "Report title",
    creator: "Ann Author",
    subject: "Finance",
    keywords: "q1, revenue",
    description: "Some comments",
    lastModifiedBy: "Bob",
    revision: 3,
    sections: [{ children: body }],
  });
  return new Uint8Array(await Packer.toBuffer(doc));
}

export async function makePptx(opts: { slides?: number } = {}): Promise<Uint8Array> {
  // The package is CommonJS with an ES default; runtimes expose it as the namespace's default, or one level deeper.
  // deno-lint-ignore no-explicit-any
  const ns = pptxgen as any;
  const PptxGenJS = typeof ns.default === "function" ? ns.default : ns.default.default;
  const pptx = new PptxGenJS();
  pptx.title = "Deck title";
  pptx.author = "Ann Author";
  pptx.subject = "Sales";
  const s1 = pptx.addSlide();
  s1.addText("Welcome", { x: 1, y: 1, w: 6, h: 1 });
  s1.addText("Second box\nwith two lines", { x: 1, y: 2, w: 6, h: 1 });
  s1.addNotes("Speaker notes one");
  const s2 = pptx.addSlide();
  s2.addText("Numbers", { x: 1, y: 0.5, w: 6, h: 1 });
  s2.addTable([[{ text: "Name" }, { text: "Score" }], [{ text: "Ann" }, { text: "9" }]], { x: 1, y: 2, w: 6 });
  s2.addImage({ data: `image/png;base64,${RED_PNG.toString("base64")}`, x: 1, y: 4, w: 1, h: 1 });
  for (let i = 0; i < (opts.slides ?? 0); i++) {
    const s = pptx.addSlide();
    s.addText(`Slide body ${i}: the quick brown fox jumps over the lazy dog.`, { x: 1, y: 1, w: 8, h: 1 });
    s.addText(`Second box ${i}`, { x: 1, y: 3, w: 8, h: 1 });
  }
  return new Uint8Array(await pptx.write({ outputType: "uint8array" }) as Uint8Array);
}

export async function makeXlsx(opts: { rows?: number; table?: boolean } = {}): Promise<Uint8Array> {
  const wb = new ExcelJS.Workbook();
  wb.creator = "Ann Author";
  wb.title = "Book title";
  wb.created = CREATED;
  const ws = wb.addWorksheet("Sales");
  ws.addRow(["Name", "Amount", "Paid", "Date"]);
  ws.addRow(["Ann", 10.5, true, new Date("2024-01-15T00:00:00Z")]);
  ws.addRow(["Bob", 7, false, new Date("2024-02-01T12:30:00Z")]);
  ws.getCell("E2").value = { formula: "B2*2", result: 21 };
  ws.getCell("A2").note = "first customer";
  for (let i = 0; i < (opts.rows ?? 0); i++) ws.addRow([`name ${i}`, i, i % 2 === 0, `text cell ${i}`]);
  const other = wb.addWorksheet("Notes");
  other.getCell("B3").value = "only cell";
  wb.addWorksheet("Empty");
  if (opts.table) {
    const t = wb.addWorksheet("WithTable");
    t.addTable({
      name: "People",
      ref: "B2",
      headerRow: true,
      columns: [{ name: "Who" }, { name: "Age" }],
      rows: [["Cy", 30], ["Di", 40]],
    });
  }
  return new Uint8Array(await wb.xlsx.writeBuffer());
}

export async function makePdf(opts: { pages?: number; title?: string; image?: boolean } = {}): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const pages = opts.pages ?? 3;
  for (let i = 1; i <= pages; i++) {
    const page = doc.addPage([612, 792]);
    page.drawText(`Page ${i} heading`, { x: 50, y: 700, size: 18, font });
    page.drawText(`Body text on page ${i}.`, { x: 50, y: 650, size: 12, font });
  }
  if (opts.image) {
    const png = await doc.embedPng(await makeBigPng(120, 110));
    doc.getPage(0).drawImage(png, { x: 50, y: 300, width: 120, height: 110 });
    const small = await doc.embedPng(RED_PNG);
    doc.getPage(0).drawImage(small, { x: 300, y: 300, width: 4, height: 4 });
  }
  doc.setTitle(opts.title ?? "PDF title");
  doc.setAuthor("Ann Author");
  doc.setCreationDate(CREATED);
  return await doc.save();
}

/** A plain RGB PNG of the given size (a gradient), written by hand. */
export async function makeBigPng(width: number, height: number): Promise<Uint8Array> {
  const raw = new Uint8Array((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const at = y * (width * 3 + 1) + 1 + x * 3;
      raw[at] = x % 256;
      raw[at + 1] = y % 256;
      raw[at + 2] = 128;
    }
  }
  const { encodePng } = await import("../../src/executors/documents/png.ts");
  return encodePng(width, height, 3, raw, true);
}

/** Replaces (or adds) parts of an OOXML package. */
export function withParts(bytes: Uint8Array, parts: Record<string, Uint8Array | string>): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [name, data] of Object.entries(unzipSync(bytes))) files[name] = data;
  for (const [name, data] of Object.entries(parts)) files[name] = typeof data === "string" ? strToU8(data) : data;
  return zipSync(files);
}

/**
 * A zip bomb: `part` holds `megabytes` MiB of zeros (a few KiB compressed). With `lie`, the central directory
 * declares 1000 bytes for it instead of the real size.
 */
export function zipBomb(base: Uint8Array, part: string, megabytes: number, lie: boolean): Uint8Array {
  const zeros = new Uint8Array(megabytes * 1024 * 1024);
  const zip = withParts(base, { [part]: zeros });
  if (!lie) return zip;
  // Patch the declared uncompressed size of `part` in the central directory.
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const name = strToU8(part);
  for (let i = zip.length - 22; i >= 0; i--) {
    if (view.getUint32(i, true) !== 0x02014b50) continue;
    const nameLength = view.getUint16(i + 28, true);
    if (nameLength === name.length && Buffer.from(zip.subarray(i + 46, i + 46 + nameLength)).equals(name)) {
      view.setUint32(i + 24, 1000, true);
      return zip;
    }
  }
  throw new Error(`part ${part} not found`);
}

/** The first bytes of an OLE compound file, as password-protected Office documents are stored. */
export function encryptedOffice(): Uint8Array {
  const bytes = new Uint8Array(4096);
  bytes.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
  return bytes;
}

/**
 * A PDF written by hand: `pages` pages sharing one content stream (so 10,000 pages stay small), optionally with an
 * /Encrypt dictionary whose password check fails for the empty user password.
 */
export function handMadePdf(opts: { pages: number; encrypted?: boolean; text?: string }): Uint8Array {
  const objects: string[] = [];
  const add = (body: string) => objects.push(body) + 0; // object number = index + 1
  const stream = `BT /F1 12 Tf 72 720 Td (${opts.text ?? "Hand made"}) Tj ET`;
  add("<< /Type /Catalog /Pages 2 0 R >>");
  const firstPage = 5;
  const kids = Array.from({ length: opts.pages }, (_, i) => `${firstPage + i} 0 R`).join(" ");
  add(`<< /Type /Pages /Kids [${kids}] /Count ${opts.pages} >>`);
  add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  add(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
  for (let i = 0; i < opts.pages; i++) {
    add(
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>",
    );
  }
  let encryptRef = "";
  if (opts.encrypted) {
    const hex32 = "A1".repeat(32);
    add(`<< /Filter /Standard /V 1 /R 2 /O <${hex32}> /U <${"B2".repeat(32)}> /P -4 >>`);
    encryptRef = ` /Encrypt ${objects.length} 0 R /ID [<${"C3".repeat(16)}> <${"C3".repeat(16)}>]`;
  }
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R${encryptRef} >>\nstartxref\n${xref}\n%%EOF\n`;
  return strToU8(out);
}

/** A workbook whose first sheet has a header, two data rows and then `emptyRows` empty <row/> elements. */
export async function xlsxWithEmptyRows(emptyRows: number, farCell?: string): Promise<Uint8Array> {
  const base = await makeXlsx();
  const rows: string[] = [
    `<row r="1"><c r="A1" t="inlineStr"><is><t>h1</t></is></c><c r="B1" t="inlineStr"><is><t>h2</t></is></c></row>`,
    `<row r="2"><c r="A2"><v>1</v></c><c r="B2"><v>2</v></c></row>`,
    `<row r="3"><c r="A3"><v>3</v></c><c r="B3"><v>4</v></c></row>`,
  ];
  for (let r = 4; r < 4 + emptyRows; r++) rows.push(`<row r="${r}"/>`);
  if (farCell) rows.push(`<row r="${farCell.replace(/^[A-Z]+/, "")}"><c r="${farCell}"><v>9</v></c></row>`);
  const sheet = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n` +
    `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:B${
      3 + emptyRows
    }"/><sheetData>${rows.join("")}</sheetData></worksheet>`;
  return withParts(base, { "xl/worksheets/sheet1.xml": sheet });
}

/**
 * A one-page PDF whose content stream is `inflatedMb` MiB of spaces, deflated to a few hundred KiB: pdf.js decodes the
 * whole stream into memory to read the page's text (a decompression bomb).
 */
export function inflatingPdf(inflatedMb: number): Uint8Array {
  const stream = zlibSync(new Uint8Array(inflatedMb * 1024 * 1024).fill(0x20), { level: 9 });
  const objects: Array<string | [string, Uint8Array, string]> = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
    [`<< /Length ${stream.length} /Filter /FlateDecode >>\nstream\n`, stream, "\nendstream"],
  ];
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (part: string | Uint8Array) => {
    const bytes = typeof part === "string" ? strToU8(part) : part;
    parts.push(bytes);
    length += bytes.length;
  };
  push("%PDF-1.4\n");
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(length);
    push(`${i + 1} 0 obj\n`);
    for (const part of typeof body === "string" ? [body] : body) push(part);
    push("\nendobj\n");
  });
  const xref = length;
  push(`xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`);
  for (const off of offsets) push(`${String(off).padStart(10, "0")} 00000 n \n`);
  push(`trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`);
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// Temp files of executors live under the system temp directory: a pipeline document cannot make the worker write
// files elsewhere, and a content item cannot make it read files elsewhere (data.temp_file_path comes from queue
// messages).
import { realpath } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import * as v from "valibot";
import { stringSetting } from "./settings.ts";

export function tempRoot(): string {
  return resolve(tmpdir());
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel) && !rel.startsWith(sep));
}

/**
 * temp_folder setting → absolute folder. Relative folders (the catalog's "./tmp/contentflow") are placed under
 * <tmp>/contentflow; absolute ones must be inside the temp directory.
 */
export function resolveTempFolder(setting: string): string {
  const root = tempRoot();
  const folder = isAbsolute(setting) ? resolve(setting) : resolve(root, "contentflow", setting);
  if (!inside(root, folder)) throw new Error(`temp_folder must be inside the temp directory ${root}, not ${setting}`);
  return folder;
}

export function defaultTempFolder(): string {
  return join(tempRoot(), "contentflow");
}

/** The real path of a temp file named by a content item, refusing anything outside the temp directory. */
export async function readableTempFile(path: string): Promise<string> {
  const [root, real] = await Promise.all([realpath(tempRoot()), realpath(path)]);
  if (!inside(root, real)) throw new Error(`refusing to read ${path}: temp files must be inside ${root}`);
  return real;
}

/**
 * The real path of a local file named by a content item (content_retriever's local_file source), refusing anything
 * outside the temp directory and the operator's LOCAL_FILE_ROOTS (symlinks resolved first).
 */
export async function readableLocalFile(path: string, roots: string[]): Promise<string> {
  const real = await realpath(path);
  const allowed = [tempRoot(), ...roots];
  for (const root of allowed) {
    const realRoot = await realpath(resolve(root)).catch(() => undefined);
    if (realRoot && inside(realRoot, real)) return real;
  }
  throw new Error(
    `refusing to read ${path}: local files must be inside the temp directory or a folder of LOCAL_FILE_ROOTS` +
      (roots.length ? ` (${roots.join(", ")})` : " (not set)"),
  );
}

/** The `temp_folder` setting of the retrievers: inside the temp directory (checked), default a folder of ours there. */
export function tempFolderSetting() {
  return v.optional(
    v.pipe(
      stringSetting("temp_folder"),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        try {
          return resolveTempFolder(dataset.value);
        } catch (err) {
          addIssue({ message: (err as Error).message });
          return NEVER;
        }
      }),
    ),
    defaultTempFolder(),
  );
}

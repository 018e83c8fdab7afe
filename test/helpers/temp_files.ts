/**
 * Files the tests and benches write for the engines they start (configs, pgbench scripts): all in
 * one directory of the process, removed when the process ends, pass or fail, so that a run leaves
 * nothing in the temp directory (a config may hold a password).
 */
let directory: Promise<string> | undefined;

export async function tempFile(suffix: string): Promise<string> {
  directory ??= Deno.makeTempDir({ prefix: "oesophagus-" }).then((path) => {
    globalThis.addEventListener("unload", () => Deno.removeSync(path, { recursive: true }));
    return path;
  });
  return await Deno.makeTempFile({ dir: await directory, suffix });
}

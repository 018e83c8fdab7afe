import assert from "node:assert/strict";
import { tempFile } from "./temp_files.ts";

Deno.test("tempFile(): files of one process share a directory that is gone when the process has ended", async () => {
  const script = `
    import { tempFile } from ${JSON.stringify(new URL("./temp_files.ts", import.meta.url).href)};
    const [a, b] = await Promise.all([tempFile(".json"), tempFile(".sql")]);
    console.log(JSON.stringify([a, b]));
    Deno.exit(Number(Deno.args[0]));`;
  for (const code of [0, 3]) {
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script, String(code)],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(child.code, code);
    const [a, b] = JSON.parse(new TextDecoder().decode(child.stdout)) as string[];
    assert.match(a, /\.json$/);
    assert.match(b, /\.sql$/);
    const dir = a.slice(0, a.lastIndexOf("/"));
    assert.equal(b.slice(0, b.lastIndexOf("/")), dir);
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  }
  // In this process too: a file is made where asked.
  const here = await tempFile(".txt");
  assert.ok((await Deno.stat(here)).isFile);
});

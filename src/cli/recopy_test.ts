import assert from "node:assert/strict";
import { parseConfig } from "../config/load.ts";
import { parseCommand, UsageError } from "./args.ts";
import { resolveTables } from "./recopy.ts";

const config = parseConfig(
  JSON.stringify({ source: { url: "postgres://u@h/db" }, tables: { items: {}, '"Sales"."Order Items"': {} } }),
  "producer.json",
  { env: () => undefined },
);

Deno.test("recopy's command line: the tables after the command; none is a usage error; other commands take none", () => {
  assert.deepEqual(parseCommand(["recopy", "items", "public.other", "--config", "p.json"]), {
    command: "recopy",
    config: "p.json",
    tables: ["items", "public.other"],
  });
  assert.throws(() => parseCommand(["recopy"]), (e) => e instanceof UsageError && /name the tables/.test(e.message));
  assert.throws(
    () => parseCommand(["run", "items"]),
    (e) => e instanceof UsageError && /unexpected argument "items"/.test(e.message),
  );
});

Deno.test("resolveTables: names as producer.json writes them, folded and qualified as in SQL, each once; others refused", () => {
  assert.deepEqual(resolveTables(config, ["ITEMS", "public.items", '"Sales"."Order Items"']), {
    tables: ["public.items", '"Sales"."Order Items"'],
  });
  assert.deepEqual(resolveTables(config, ["items", "sales.order_items"]), {
    error: 'recopy: sales.order_items is not a configured table (configured: public.items, "Sales"."Order Items")',
  });
  const bad = resolveTables(config, ["a.b.c"]);
  assert.ok("error" in bad && /the table name "a\.b\.c" has more than two parts/.test(bad.error), JSON.stringify(bad));
});

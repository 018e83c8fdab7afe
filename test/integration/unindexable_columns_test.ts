/**
 * The columns the engine refuses are exactly those whose rows the Elasticsearch under test
 * refuses, among every name tried here: each beside the columns of a small table, in an index
 * mapped as the engine maps it, in a document as the engine writes it (every column present).
 */
import assert from "node:assert/strict";
import type { PgType, TableDescription } from "../../src/pg/catalog.ts";
import { indexMapping } from "../../src/sinks/elasticsearch/mapping.ts";
import { METADATA_FIELDS, refusal } from "../../src/sinks/elasticsearch/unindexable_columns.ts";
import { esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";

const scalar = (name: string): PgType => ({ kind: "scalar", name, category: "X" });
const column = (name: string, type: PgType) => ({ name, type, typeOid: 0, typeName: "" });
const BASE = [
  column("id", scalar("int4")),
  column("n", scalar("int4")),
  column("t", scalar("text")),
  column("j", scalar("jsonb")),
  column("tags", { kind: "array", element: scalar("text") }),
];
const VALUES: Record<string, unknown> = { id: 1, n: 2, t: "text", j: { k: 1 }, tags: ["a", "b"] };

/** Names that look like a refused one and are taken. */
const TAKEN = [
  "_primary_term",
  "_tsid",
  "_meta",
  "_type",
  "_x",
  "_",
  "a.",
  "a b",
  " a",
  "a ",
  "zz.y",
  "j.k",
  "p0.p1.p2.p3.p4.p5.p6.p7.p8.p9.p10.p11.p12.p13.p14.p15.p16.p17.p18.p19.p20",
];
const REFUSED = [...METADATA_FIELDS, " ", "   ", ".", "..", ".a", "a..b", "n.x", "t.keyword", "t.x", "tags.x"];

Deno.test("unindexable columns: the engine refuses exactly the columns whose rows Elasticsearch refuses", async () => {
  await using indices = uniqueIndexPrefix();
  for (const name of [...REFUSED, ...TAKEN]) {
    const table: TableDescription = {
      name: { schema: "public", name: "t" },
      oid: 1,
      columns: [...BASE, column(name, scalar("text"))],
      key: { source: "primary_key", columns: ["id"] },
      replicaIdentity: "default",
    };
    const index = `${indices.prefix}_${REFUSED.indexOf(name)}_${TAKEN.indexOf(name)}`;
    const created = await esRequest("PUT", `/${index}`, JSON.stringify({ mappings: indexMapping(table) }));
    assert.equal(created.status, 200, created.text);
    const written = await esRequest("PUT", `/${index}/_doc/1`, JSON.stringify({ ...VALUES, [name]: "v" }));
    const why = refusal(table, name);
    assert.equal(
      written.status >= 400,
      why !== null,
      `${JSON.stringify(name)}: Elasticsearch answered ${written.status} ${written.text.slice(0, 160)}; the engine: ${why}`,
    );
    assert.equal(REFUSED.includes(name), why !== null, `${JSON.stringify(name)} listed wrong here`);
  }
});

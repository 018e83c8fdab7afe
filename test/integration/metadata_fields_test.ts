/**
 * The names the engine refuses as columns are exactly those the Elasticsearch under test refuses
 * as document fields, among every name it is asked about here.
 */
import assert from "node:assert/strict";
import { METADATA_FIELDS } from "../../src/sinks/elasticsearch/metadata_fields.ts";
import { esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";

/** Names that look like metadata fields and are not (any more), which a table may have. */
const ORDINARY = ["_primary_term", "_tsid", "_meta", "_type", "_all", "_uid", "_parent", "_size", "_score", "_x", "_", "id"];

Deno.test("metadata fields: Elasticsearch refuses a document with each name the engine refuses, and takes the others", async () => {
  await using indices = uniqueIndexPrefix();
  const index = `${indices.prefix}_metadata`;
  const created = await esRequest("PUT", `/${index}`, JSON.stringify({ mappings: { dynamic: false, properties: {} } }));
  assert.equal(created.status, 200, created.text);
  for (const name of [...METADATA_FIELDS, ...ORDINARY]) {
    const written = await esRequest("PUT", `/${index}/_doc/1`, JSON.stringify({ [name]: "v" }));
    assert.equal(written.status >= 400, METADATA_FIELDS.has(name), `${name}: ${written.status} ${written.text.slice(0, 200)}`);
  }
});

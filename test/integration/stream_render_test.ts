/**
 * Decoding real plugin output and rendering it: for both plugins, every change of the type
 * matrix (inserts, an update that leaves a TOASTed value alone, a key change, a delete), applied
 * in order, ends as exactly the table's to_jsonb rows. The one documented exception: wal2json
 * 2.5 sends NaN and ±Infinity of float and numeric columns as null.
 */
import assert from "node:assert/strict";
import { canonicalJson, type ExactJson, parseExactJson } from "../../src/json/exact_json.ts";
import { describeTables } from "../../src/pg/catalog.ts";
import { type Lsn, parseLsn } from "../../src/pg/lsn.ts";
import { PgoutputDecoder } from "../../src/pg/pgoutput.ts";
import { Wal2jsonDecoder, wal2jsonOptions } from "../../src/pg/wal2json.ts";
import type { ChangeEvent } from "../../src/stream/change.ts";
import { type BulkItem, type RowChange, TableRenderer } from "../../src/stream/render.ts";
import { expectedDocuments } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { MATRIX_ROWS, MATRIX_SCHEMA } from "../helpers/type_matrix.ts";

const SIMPLE =
  "id,i2,i4,i8,n,n_scaled,f4,f8,b,t,vc,ch,d,ts,tstz,tm,tmtz,iv,u,ip,net,mac,mac8,by,bt,vb,m,e,dom,ia,ta,na,jb,pt,r,tsv,x,big";
const NAN_TYPES = new Set(["real", "double precision", "numeric", "numeric(40,10)"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });
/** Items with their documents as text (pgoutput rows are rendered to bytes). */
const asText = (items: readonly BulkItem[]) =>
  items.map((item) => ({ ...item, doc: item.doc instanceof Uint8Array ? utf8.decode(item.doc) : item.doc }));

// wal2json twice: with include-xids (a sink of change events) every record carries one more field.
for (const [plugin, xids] of [["pgoutput", false], ["wal2json", false], ["wal2json", true]] as const) {
  Deno.test(`stream (${plugin}${xids ? ", include-xids" : ""}): decoded and rendered changes end as exactly to_jsonb(row) for every type`, async () => {
    await using db = await createTestDatabase();
    const { sql } = db;
    await sql.unsafe(MATRIX_SCHEMA);
    await sql.unsafe(`CREATE TABLE full_t (id int PRIMARY KEY, body text, n int); ALTER TABLE full_t REPLICA IDENTITY FULL;`);
    // Every column type of the matrix that TypeScript renders (not json, composites, hstore, citext).
    await sql.unsafe(
      `CREATE TABLE simple AS SELECT ${SIMPLE} FROM matrix WITH NO DATA; ALTER TABLE simple ADD PRIMARY KEY (id);`,
    );
    await sql.unsafe(`CREATE PUBLICATION pub FOR TABLE matrix, full_t, simple`);
    await sql`SELECT pg_create_logical_replication_slot('render', ${plugin})`;
    const tables = await describeTables(sql, ["matrix", "full_t", "simple"].map((name) => ({ schema: "public", name })));
    // Renderers that read the composite types' attributes before the changes: theirs are rendered from their values
    // (a renderer made later renders changes logged before it as their rows are now, see type_watch.ts).
    const renderers = new Map<string, TableRenderer>();
    for (const table of tables) {
      const renderer = new TableRenderer(table);
      await renderer.watchTypes(sql);
      renderers.set(table.name.name, renderer);
    }

    await sql.unsafe(MATRIX_ROWS);
    await sql.unsafe(`
      INSERT INTO simple SELECT ${SIMPLE} FROM matrix;
      UPDATE simple SET id = id + 100 WHERE id = 4;
      DELETE FROM simple WHERE id = 5;
      INSERT INTO full_t SELECT 1, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 40000) g), 1;
      UPDATE matrix SET i4 = i4 - 1, t = 'changed' WHERE id = 2;
      UPDATE full_t SET n = 2 WHERE id = 1;
      UPDATE matrix SET id = 30 WHERE id = 3;
      DELETE FROM matrix WHERE id = 5;`);
    const [{ external }] = await sql`SELECT pg_column_size(big) < 100000 AS external FROM matrix WHERE id = 2`;
    assert.equal(external, true, "matrix.big must be stored out of line for this test to mean anything");

    const options = plugin === "pgoutput"
      ? ["proto_version", "1", "publication_names", "pub"]
      : Object.entries(wal2jsonOptions(["matrix", "full_t", "simple"].map((name) => ({ schema: "public", name })), { xids }))
        .flat();
    const rows = await sql.unsafe<{ lsn: string; data: Uint8Array }[]>(
      `SELECT lsn::text, data FROM pg_logical_slot_get_binary_changes('render', NULL, NULL, ${
        options.map((_, i) => `$${i + 1}`).join(", ")
      })`,
      options,
    );
    const decoder = plugin === "pgoutput" ? new PgoutputDecoder() : new Wal2jsonDecoder();
    // A begin's position is its transaction's first change, here as in the stream (see xlogStart).
    const events = rows.map((r): ChangeEvent | null => {
      const event = decoder.decode(r.data);
      return event?.kind === "begin" ? { ...event, firstLsn: parseLsn(r.lsn) } : event;
    }).filter((e): e is ChangeEvent => e !== null);
    // wal2json also sends begin and commit of transactions with no row of these tables (autovacuum's ANALYZE of this
    // database writes pg_statistic), so count the transactions that carry rows.
    let rowsInTransaction = 0;
    const transactionsWithRows = events.filter((e) => {
      if (e.kind === "begin") rowsInTransaction = 0;
      if (e.kind === "row") rowsInTransaction++;
      return e.kind === "commit" && rowsInTransaction > 0;
    });
    assert.equal(transactionsWithRows.length, 2);
    // Each transaction names itself: pgoutput always, wal2json with include-xids. Its time is this hour's.
    for (const begin of events.filter((e) => e.kind === "begin")) {
      assert.equal(begin.xid > 0, plugin === "pgoutput" || xids, `xid ${begin.xid}`);
      assert.ok(Math.abs(begin.commitMicros! / 1000 - Date.now()) < 3_600_000, `commit time ${begin.commitMicros}`);
    }

    // Both rendering paths give the same bytes for every change the TypeScript path can take.
    let fastChanges = 0;
    let v: Lsn | null = null;
    let begunAt: Lsn | undefined;
    for (const event of events) {
      if (event.kind === "begin") [v, begunAt] = [event.commitLsn, event.firstLsn];
      if (event.kind !== "row") continue;
      const table = tables.find((t) => t.name.name === event.table)!;
      const change: RowChange = { op: event.op, new: event.new, old: event.old, version: v!, begunAt };
      const fast = new TableRenderer(table);
      // Every column of every type arrives with the type OID the catalog has (wal2json may leave unchanged TOAST values
      // out): only a schema change makes a row look like another table.
      for (const image of [event.new, event.old]) {
        image?.columns.forEach((name, i) => {
          const column = table.columns.find((c) => c.name === name);
          assert.equal(image.types[i], column?.typeOid, `${event.table}.${name}: type OID ${image.types[i]} in the stream`);
        });
      }
      if (event.new && event.new.columns.length === table.columns.length) assert.ok(fast.describes(event.new));
      if (!fast.rendersInTypeScript(change)) continue;
      fastChanges++;
      const inPostgres = await new TableRenderer(table, { typescript: false }).render(sql, [change]);
      assert.deepEqual(asText(await fast.render(sql, [change])), inPostgres, `${event.table} ${event.op}`);
    }
    assert.ok(fastChanges >= 6, `only ${fastChanges} changes took the TypeScript path`);
    const state = new Map<string, Map<string, string>>([["matrix", new Map()], ["full_t", new Map()], ["simple", new Map()]]);
    let version: Lsn | null = null;
    for (const event of events) {
      if (event.kind === "begin") [version, begunAt] = [event.commitLsn, event.firstLsn];
      if (event.kind !== "row") continue;
      const change: RowChange = { op: event.op, new: event.new, old: event.old, version: version!, begunAt };
      for (const item of await renderers.get(event.table)!.render(sql, [change])) {
        const id = JSON.parse(item.id) as string;
        if (item.action === "delete") state.get(event.table)!.delete(id);
        else state.get(event.table)!.set(id, canonicalJson(parseExactJson(asText([item])[0].doc!)));
      }
    }

    for (const table of tables) {
      const expected = await expectedDocuments(sql, table.name);
      if (plugin === "wal2json") {
        const nanColumns = table.columns.filter((c) => NAN_TYPES.has(c.typeName)).map((c) => c.name);
        for (const [id, doc] of expected) {
          const parsed = parseExactJson(doc) as Record<string, ExactJson>;
          for (const column of nanColumns) {
            if (parsed[column] === "NaN" || parsed[column] === "Infinity" || parsed[column] === "-Infinity") {
              parsed[column] = null;
            }
          }
          expected.set(id, canonicalJson(parsed));
        }
      }
      const actual = state.get(table.name.name)!;
      assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `${table.name.name}: ids`);
      for (const [id, doc] of expected) assert.equal(actual.get(id), doc, `${table.name.name} row ${id}`);
    }
    await sql`SELECT pg_drop_replication_slot('render')`;
  });
}

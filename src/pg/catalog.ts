/**
 * What the engine needs to know about a replicated table: its columns with their types
 * (resolved through domains, arrays and composites, for index mappings) and the key that
 * identifies a row (for `_id` and for chunking the snapshot).
 */
import { OesophagusError } from "../errors.ts";
import { displayName, type QualifiedName, quoteQualified } from "./identifier.ts";
import { identityColumns } from "./identity_columns.ts";
import { leafIdentities, MISSING_OLD_KEY, missingOldKey, partitionIdentityProblems } from "./partition_identity.ts";
import { partitionAncestors } from "./partitions.ts";
import type { Sql } from "./session.ts";

export type PgType =
  | { readonly kind: "scalar"; readonly name: string; readonly category: string }
  | { readonly kind: "enum"; readonly name: string }
  | { readonly kind: "range"; readonly name: string }
  | { readonly kind: "array"; readonly element: PgType }
  | { readonly kind: "composite"; readonly name: string; readonly fields: readonly PgField[] };

export interface PgField {
  readonly name: string;
  readonly type: PgType;
}

export interface ColumnDescription extends PgField {
  /** As `format_type` prints it, for messages. */
  readonly typeName: string;
  readonly typeOid: number;
}

/** How a row is identified. `columns` null: REPLICA IDENTITY FULL without a key (whole-row identity). */
export type RowKey =
  | { readonly source: "primary_key" | "replica_identity_index"; readonly columns: readonly string[] }
  | { readonly source: "replica_identity_full"; readonly columns: null };

export interface TableDescription {
  readonly name: QualifiedName;
  readonly oid: number;
  readonly columns: readonly ColumnDescription[];
  readonly key: RowKey;
  readonly replicaIdentity: "default" | "full" | "index" | "nothing";
}

/**
 * The table's columns as `to_jsonb(row)` depends on them (names and types, in order), as text:
 * equal for two descriptions unless an ALTER TABLE came between them, or an ALTER TYPE of a
 * composite type a column has (its attributes, resolved, follow the column's type OID, which the
 * ALTER keeps). Columns of other types are written as before composites were, so that copies
 * recorded by earlier versions compare equal while nothing changed (see `columnsChangedSince`).
 */
export function columnSignature(table: TableDescription): string {
  return JSON.stringify(signatureEntries(table));
}

/** `columnSignature`'s entries: per column its name and type OID, and a composite's attributes. */
function signatureEntries(table: TableDescription): unknown[][] {
  return table.columns.map((c) => hasComposite(c.type) ? [c.name, c.typeOid, c.type] : [c.name, c.typeOid]);
}

/** Whether values of `type` hold a composite's attributes (a composite, or an array of them). */
export function hasComposite(type: PgType): boolean {
  return type.kind === "composite" || (type.kind === "array" && hasComposite(type.element));
}

/**
 * Whether the table's columns differ from the `recorded` signature. A recorded column without
 * its composite's attributes (recorded before they were) is compared by name and type only.
 */
export function columnsChangedSince(recorded: string, table: TableDescription): boolean {
  const current = signatureEntries(table);
  if (recorded === JSON.stringify(current)) return false;
  let then: unknown;
  try {
    then = JSON.parse(recorded);
  } catch {
    return true;
  }
  if (!Array.isArray(then) || then.length !== current.length) return true;
  return then.some((column, i) =>
    !Array.isArray(column) || JSON.stringify(column.length === 2 ? current[i].slice(0, 2) : current[i]) !== JSON.stringify(column)
  );
}

interface TypeRow {
  oid: number;
  typname: string;
  typtype: string;
  typcategory: string;
  typelem: number;
  typbasetype: number;
  typrelid: number;
  is_array: boolean;
}

/** Resolves type OIDs to PgType trees, batching catalog lookups level by level. */
export class TypeResolver {
  readonly #sql: Sql;
  readonly #rows = new Map<number, TypeRow>();
  readonly #fields = new Map<number, { name: string; type: number }[]>();

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async resolve(oids: readonly number[]): Promise<Map<number, PgType>> {
    await this.#load(oids);
    const result = new Map<number, PgType>();
    for (const oid of oids) result.set(oid, this.#build(oid, 0));
    return result;
  }

  async #load(oids: readonly number[]): Promise<void> {
    let pending = [...new Set(oids)].filter((oid) => !this.#rows.has(oid));
    while (pending.length > 0) {
      const rows = await this.#sql<TypeRow[]>`
        SELECT oid, typname, typtype, typcategory, typelem,
               typbasetype, typrelid,
               typsubscript = 'array_subscript_handler'::regproc AS is_array
        FROM pg_type WHERE oid = ANY(${pending}::oid[])`;
      const next = new Set<number>();
      const composites: number[] = [];
      for (const row of rows) {
        this.#rows.set(row.oid, row);
        if (row.is_array) next.add(row.typelem);
        if (row.typtype === "d") next.add(row.typbasetype);
        if (row.typtype === "c") composites.push(row.typrelid);
      }
      if (composites.length > 0) {
        const attributes = await this.#sql<{ attrelid: number; attname: string; atttypid: number }[]>`
          SELECT attrelid, attname, atttypid FROM pg_attribute
          WHERE attrelid = ANY(${composites}::oid[]) AND attnum > 0 AND NOT attisdropped
          ORDER BY attrelid, attnum`;
        for (const a of attributes) {
          const list = this.#fields.get(a.attrelid) ?? [];
          list.push({ name: a.attname, type: a.atttypid });
          this.#fields.set(a.attrelid, list);
          next.add(a.atttypid);
        }
      }
      pending = [...next].filter((oid) => !this.#rows.has(oid));
    }
  }

  #build(oid: number, depth: number): PgType {
    const row = this.#rows.get(oid);
    if (!row) throw new OesophagusError("internal", `type ${oid} not found in pg_type`);
    if (depth > 32) throw new OesophagusError("internal", `type ${row.typname} nests more than 32 levels`);
    if (row.is_array) return { kind: "array", element: this.#build(row.typelem, depth + 1) };
    switch (row.typtype) {
      case "d":
        return this.#build(row.typbasetype, depth + 1);
      case "e":
        return { kind: "enum", name: row.typname };
      case "r":
      case "m":
        return { kind: "range", name: row.typname };
      case "c":
        return {
          kind: "composite",
          name: row.typname,
          fields: (this.#fields.get(row.typrelid) ?? []).map((f) => ({ name: f.name, type: this.#build(f.type, depth + 1) })),
        };
      default:
        return { kind: "scalar", name: row.typname, category: row.typcategory };
    }
  }
}

const IDENTITY: Record<string, TableDescription["replicaIdentity"]> = { d: "default", f: "full", i: "index", n: "nothing" };

/**
 * What identifies a table's rows, from its primary key columns, `relreplident` and replica
 * identity index columns: the key `_id`s are made from. The one rule for describing a table and for
 * noticing, while streaming, that its key changed. A replica identity index comes before the
 * primary key: the old key an update or delete logs holds that index's columns only.
 */
export function rowKeyOf(pk: readonly string[] | null, replident: string, identityKey: readonly string[] | null): RowKey {
  if (replident === "i" && identityKey) return { source: "replica_identity_index", columns: identityKey };
  if (pk) return { source: "primary_key", columns: pk };
  return { source: "replica_identity_full", columns: null };
}

/** A key as the snapshot records it with a copy (JSON of its columns, `null` for the whole row): equal texts, equal `_id`s. */
export function keyText(key: RowKey): string {
  return JSON.stringify(key.columns);
}

/**
 * Describes every table, collecting every problem (missing table, no key) before failing,
 * so one run of the engine tells the operator everything to fix.
 */
export async function describeTables(sql: Sql, names: readonly QualifiedName[]): Promise<TableDescription[]> {
  const problems: string[] = [];
  const fixes: string[] = [];
  const found: { name: QualifiedName; oid: number; replident: string; key: string[] | null; identityKey: string[] | null }[] = [];

  for (const name of names) {
    const [relation] = await sql<{ oid: number; relkind: string; relreplident: string }[]>`
      SELECT c.oid, c.relkind, c.relreplident
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${name.schema} AND c.relname = ${name.name}`;
    const rel = relation && { ...relation, ...(await identityColumns(sql, [relation.oid])).get(Number(relation.oid))! };
    const shown = displayName(name);
    if (!rel) {
      problems.push(`table ${shown} does not exist`);
      fixes.push(`create ${shown}, or remove it from "tables" (names are case-sensitive when quoted: "\\"MyTable\\"")`);
      continue;
    }
    if (rel.relkind !== "r" && rel.relkind !== "p") {
      problems.push(`${shown} is not a table (relkind ${rel.relkind}): views and other relations cannot be replicated`);
      fixes.push(`replicate the table(s) behind ${shown} instead`);
      continue;
    }
    const missing = missingOldKey(rel.relreplident, rel.pk, rel.ri);
    if (missing !== null) {
      // With NOTHING and pgoutput, the engine's publication would even make PostgreSQL refuse them.
      problems.push(
        `table ${shown} ${MISSING_OLD_KEY[missing]}, ${
          missing === "no_key"
            ? "so its rows cannot be identified"
            : "so the WAL does not say which row an update or delete changed: its rows cannot be identified"
        }`,
      );
      const table = quoteQualified(name);
      const other = missing === "index_gone"
        ? `ALTER TABLE ${table} REPLICA IDENTITY USING INDEX <a unique index on NOT NULL columns>;`
        : `ALTER TABLE ${table} REPLICA IDENTITY FULL;`;
      fixes.push(
        rel.pk !== null
          ? `ALTER TABLE ${table} REPLICA IDENTITY DEFAULT; (it has a primary key) or ${other}`
          : `ALTER TABLE ${table} ADD PRIMARY KEY (...); or ${other}`,
      );
      continue;
    }
    if (rel.relkind === "p") {
      const gaps = partitionIdentityProblems(
        name,
        rowKeyOf(rel.pk, rel.relreplident, rel.ri),
        await leafIdentities(sql, rel.oid),
      );
      problems.push(...gaps.problems);
      fixes.push(...gaps.fixes);
      if (gaps.problems.length > 0) continue;
    }
    found.push({ name, oid: rel.oid, replident: rel.relreplident, key: rel.pk, identityKey: rel.ri });
  }
  // A partition's changes reach the nearest configured table above it only: configured twice, one index would miss them.
  // (A single table, as the router describes one again while streaming, has nothing above it to clash with.)
  for (const table of found.length > 1 ? found : []) {
    const configuredAbove = (await partitionAncestors(sql, table.name)).find((a) =>
      found.some((f) => f.name.schema === a.schema && f.name.name === a.name)
    );
    if (configuredAbove) {
      problems.push(`${displayName(table.name)} is a partition of ${displayName(configuredAbove)}, which is configured too`);
      fixes.push(
        `configure the partitioned table ${
          displayName(configuredAbove)
        } or its partitions, not both: a change reaches one index only`,
      );
    }
  }
  if (problems.length > 0) {
    const code = problems.every((p) => p.endsWith("cannot be identified")) ? "table_without_key" : "table_missing";
    throw new OesophagusError(code, problems.join("; "), { fix: fixes.join("\n") });
  }

  const resolver = new TypeResolver(sql);
  const tables: TableDescription[] = [];
  for (const table of found) {
    const columns = await sql<{ attname: string; atttypid: number; type_name: string }[]>`
      SELECT attname, atttypid, format_type(atttypid, atttypmod) AS type_name
      FROM pg_attribute WHERE attrelid = ${table.oid} AND attnum > 0 AND NOT attisdropped ORDER BY attnum`;
    const types = await resolver.resolve(columns.map((c) => c.atttypid));
    const key = rowKeyOf(table.key, table.replident, table.identityKey);
    tables.push({
      name: table.name,
      oid: table.oid,
      key,
      replicaIdentity: IDENTITY[table.replident] ?? "default",
      columns: columns.map((c) => ({
        name: c.attname,
        typeOid: c.atttypid,
        typeName: c.type_name,
        type: types.get(c.atttypid)!,
      })),
    });
  }
  return tables;
}

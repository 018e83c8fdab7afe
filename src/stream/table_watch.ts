/**
 * What a configured table renamed, dropped or given another key while streaming means for the
 * stream. Neither plugin writes DDL to the stream, so the wal reader compares the configured
 * tables' OIDs with their present names and keys before it acknowledges a position (see the wal
 * reader): a change found there happened before that position, and the slot is never confirmed
 * past it unnoticed.
 *
 * - pgoutput sends a table's OID with its changes, and the router follows a rename by it.
 * - wal2json names tables only, and its table filter is by name: after a rename the table's
 *   changes come under a name the engine does not stream. Going on would lose them.
 * - A dropped table has no more changes; a table created under its name is a new relation, which
 *   pgoutput's publication does not hold and which no snapshot copied. Going on would leave the
 *   index silently apart from the source.
 * - A table given another key (primary key, or replica identity index without one) has its rows
 *   identified by other columns: documents written from then on would get other `_id`s than the
 *   ones already there, which would stay beside them.
 * - A partitioned table given a partition or rid of one (ATTACH, DETACH, CREATE ... PARTITION
 *   OF, DROP) has other relations' changes to map to it than the router knows: changes of a
 *   table attached since would be dropped, changes of one detached since still written to the
 *   index. And ATTACH of a table that already holds rows writes none of them to the WAL.
 *
 * Those stop the pipeline once everything read before the change is in the sinks, with the slot
 * before the change: a rename or drop with the steps to go on, a key change to restart on its
 * own, which copies the table again under its new `_id`s (the snapshot compares the key its copy
 * recorded) and sweeps the old documents, a partition change to restart on its own with the
 * partitions as they are now (the table copied again when an attached one brought rows of its
 * own, or, with wal2json, when one was detached).
 */
import { OesophagusError } from "../errors.ts";
import { displayName, type QualifiedName } from "../pg/identifier.ts";
import type { TableIdentity } from "../pg/table_identity.ts";

export type TableChange =
  | { readonly kind: "renamed"; readonly oid: number; readonly from: QualifiedName; readonly to: QualifiedName }
  | { readonly kind: "dropped"; readonly oid: number; readonly name: QualifiedName }
  | { readonly kind: "rekeyed"; readonly oid: number; readonly name: QualifiedName; readonly from: string; readonly to: string }
  | {
    readonly kind: "repartitioned";
    readonly oid: number;
    readonly name: QualifiedName;
    /** Leaf partitions (OIDs) that are new, and that are gone. */
    readonly attached: readonly number[];
    readonly detached: readonly number[];
  };

/** How the configured tables' names and keys differ from what the catalog says now. */
export function tableChanges(
  expected: readonly TableIdentity[],
  current: ReadonlyMap<number, TableIdentity>,
): TableChange[] {
  const changes: TableChange[] = [];
  for (const { oid, name, key, leaves } of expected) {
    const now = current.get(oid);
    if (!now) {
      changes.push({ kind: "dropped", oid, name });
      continue;
    }
    if (now.name.schema !== name.schema || now.name.name !== name.name) {
      changes.push({ kind: "renamed", oid, from: name, to: now.name });
    }
    if (now.key !== key) changes.push({ kind: "rekeyed", oid, name: now.name, from: key, to: now.key });
    const moved = leafChanges(leaves, now.leaves);
    if (moved) changes.push({ kind: "repartitioned", oid, name: now.name, ...moved });
  }
  return changes;
}

/** Leaf partitions in `after` and not in `before`, and the other way round; null when none either way. */
export function leafChanges(
  before: readonly number[] | null,
  after: readonly number[] | null,
): { readonly attached: readonly number[]; readonly detached: readonly number[] } | null {
  const was = new Set(before ?? []);
  const is = new Set(after ?? []);
  const attached = [...is].filter((leaf) => !was.has(leaf));
  const detached = [...was].filter((leaf) => !is.has(leaf));
  return attached.length > 0 || detached.length > 0 ? { attached, detached } : null;
}

/**
 * Whether a partition detached (or dropped) while streaming has the table copied again. wal2json
 * names a change's partition only: the router maps it to the table from what it last read of the
 * catalog, so a change made to a partition after its detach, read before the table watch saw the
 * detach, may already be in the index; the copy's sweep takes it out again. pgoutput's walsender
 * decides with the catalog of the change's own moment, and only the detached rows' documents stay.
 */
function detachRecopies(change: TableChange, plugin: "pgoutput" | "wal2json"): boolean {
  return change.kind === "repartitioned" && change.detached.length > 0 && plugin === "wal2json";
}

/** Whether the restart after `change` copies the table again (the wal reader forgets its copy before stopping). */
export function copiesAgain(change: TableChange, plugin: "pgoutput" | "wal2json", recopied: readonly string[]): boolean {
  return change.kind === "repartitioned" && (recopied.length > 0 || detachRecopies(change, plugin));
}

/**
 * The error that stops the pipeline for `change` to the table with index `index`, or null when
 * the stream follows it (a rename, with pgoutput). `recopied`: the partitions attached with rows
 * of their own, for which the table is copied again.
 */
export function tableChangeError(
  change: TableChange,
  plugin: "pgoutput" | "wal2json",
  index: string,
  recopied: readonly string[] = [],
): OesophagusError | null {
  switch (change.kind) {
    case "renamed": {
      if (plugin === "pgoutput") return null;
      const from = displayName(change.from);
      const to = displayName(change.to);
      return new OesophagusError(
        "table_renamed",
        `table ${from} was renamed to ${to} while streaming: wal2json reports and filters tables by name, so its changes under the new name would be missed; everything before the rename is in its index and the slot stands before it`,
        {
          fix: `name the table ${JSON.stringify(to)} in the config with "index": ${
            JSON.stringify(index)
          } (its documents stay where they are) and start the engine again: it copies the table anew into that index and streams on from before the rename`,
        },
      );
    }
    case "rekeyed":
      return new OesophagusError(
        "table_key_changed",
        `the key of table ${
          displayName(change.name)
        } changed while streaming (${change.from} to ${change.to}): documents' _ids are made from it, so the ones already in index ${index} would stay beside new ones; everything before the change is in the index and the slot stands before it`,
        {
          retriable: true,
          fix:
            "nothing to do: the pipeline restarts on its own, copies the table again under its new _ids and sweeps the old documents from the index",
        },
      );
    case "repartitioned": {
      const counts = [
        change.attached.length > 0 ? `${change.attached.length} attached or created` : "",
        change.detached.length > 0 ? `${change.detached.length} detached or dropped` : "",
      ].filter((part) => part !== "").join(", ");
      const name = displayName(change.name);
      const why = [
        recopied.length > 0 ? `${recopied.join(", ")} held rows from before` : "",
        detachRecopies(change, plugin)
          ? "wal2json names only the partition, so changes read since the detach may have reached the index"
          : "",
      ].filter((part) => part !== "");
      const staying = change.detached.length > 0 && !detachRecopies(change, plugin);
      return new OesophagusError(
        "table_partitions_changed",
        `the partitions of table ${name} changed while streaming (${counts}): the stream restarts with them as they are now${
          why.length > 0
            ? `; ${why.join(", and ")}: ${name} is copied again into ${index}, and documents of rows it no longer holds are swept`
            : ""
        }`,
        {
          retriable: true,
          fix: staying
            ? `nothing to do for the stream; documents of rows that were in a detached or dropped partition stay in ${index} (delete the index while the engine is stopped to have ${name} copied anew without them)`
            : "nothing to do: the pipeline restarts on its own",
        },
      );
    }
    case "dropped": {
      const name = displayName(change.name);
      return new OesophagusError(
        "table_dropped",
        `table ${name} was dropped while streaming; its documents stay in index ${index}`,
        {
          fix:
            `take the table out of the config and start the engine again (delete the index ${index} if its documents should go); a table made anew as ${name} is copied again whole when the engine starts, and the old table's documents are swept from ${index}`,
        },
      );
    }
  }
}

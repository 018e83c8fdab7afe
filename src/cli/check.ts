/**
 * `oesophagus check`: everything the engine needs, checked without changing anything the engine
 * would not change itself, and every problem listed with its fix. Exit 1 if any check fails.
 */
import { displayName, quoteQualified } from "../pg/identifier.ts";
import type { Config } from "../config/load.ts";
import { OesophagusError } from "../errors.ts";
import { describeTables } from "../pg/catalog.ts";
import { explainConnectionError } from "../pg/connect_errors.ts";
import { connect, connectReplication } from "../pg/session.ts";
import { explainSlotError, inspectSlot, publicationUsableAsIs, slotLostError } from "../pg/slot.ts";
import { judgeEncoding, sourceEncoding } from "../pg/encoding.ts";
import { unindexableColumnsError } from "../sinks/elasticsearch/unindexable_columns.ts";
import { createClient } from "../sinks/elasticsearch/client.ts";
import { classifyRequestError } from "../sinks/elasticsearch/classify.ts";
import { classifyKafkaError, describeKafka } from "../sinks/kafka/client.ts";
import { withSchemeCheck } from "../sinks/elasticsearch/scheme_probe.ts";
import { redact } from "../telemetry/redact.ts";
import { quoteIdent } from "../pg/identifier.ts";

interface Finding {
  readonly ok: boolean;
  readonly what: string;
  readonly fix?: string;
}

export async function runChecks(config: Config): Promise<Finding[]> {
  const findings: Finding[] = [];
  const pass = (what: string) => findings.push({ ok: true, what });
  const fail = (what: string, fix?: string) => findings.push({ ok: false, what, fix });
  const failWith = (error: unknown) => {
    const e = error instanceof OesophagusError ? error : explainConnectionError(error, config.source.url);
    fail(e.message, e.fix);
  };

  pass(
    `config: ${config.tables.length} table(s), sink(s) ${Object.keys(config.sinks).join(", ")}, plugin ${config.source.plugin}`,
  );
  const sql = connect(config.source.url, { max: 1, applicationName: "oesophagus check" });
  try {
    let version: string;
    try {
      [{ version }] = await sql<{ version: string }[]>`SELECT current_setting('server_version') AS version`;
      pass(`source reachable: PostgreSQL ${version}`);
    } catch (error) {
      failWith(error);
      return findings;
    }
    const [settings] = await sql<
      {
        wal_level: string;
        max_slots: number;
        used_slots: number;
        superuser: boolean;
        replication: boolean;
        can_create: boolean;
      }[]
    >`
      SELECT current_setting('wal_level') AS wal_level,
             current_setting('max_replication_slots')::int AS max_slots,
             (SELECT count(*)::int FROM pg_replication_slots) AS used_slots,
             r.rolsuper AS superuser, r.rolreplication AS replication,
             has_database_privilege(current_database(), 'CREATE') AS can_create
      FROM pg_roles r WHERE r.rolname = current_user`;
    if (settings.wal_level === "logical") pass("wal_level = logical");
    else fail(`wal_level is ${settings.wal_level}, not logical`, "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL");

    const encoding = judgeEncoding(await sourceEncoding(sql), config.source.plugin);
    if (encoding.error) fail(encoding.error.message, encoding.error.fix);
    else pass(`source database encoding ${encoding.encoding}${encoding.warning ? `: ${encoding.warning}` : ""}`);

    if (settings.superuser || settings.replication) pass("the source user may replicate");
    else fail("the source user has neither REPLICATION nor SUPERUSER", "ALTER ROLE <user> WITH REPLICATION;");

    const slot = await inspectSlot(sql, config.source.slot);
    if (slot?.lost) {
      const lost = slotLostError(config.source.slot);
      fail(lost.message, lost.fix);
    } else if (slot) {
      if (slot.plugin === config.source.plugin) {
        pass(`slot ${config.source.slot} exists (plugin ${slot.plugin}${slot.active ? ", in use" : ""})`);
      } else {fail(
          `slot ${config.source.slot} uses plugin ${slot.plugin}, config says ${config.source.plugin}`,
          `set source.plugin to "${slot.plugin}" or use another source.slot`,
        );}
    } else if (settings.used_slots >= settings.max_slots) {
      fail(
        `all ${settings.max_slots} replication slots are in use`,
        "raise max_replication_slots (restart needed) or drop unused slots",
      );
    } else {
      pass(`slot ${config.source.slot} will be created (${settings.max_slots - settings.used_slots} free)`);
    }

    if (settings.wal_level === "logical") {
      // The one reliable test of "plugin installed, allowed and usable by this user": make a
      // temporary slot with it. It disappears with the connection.
      const replication = connectReplication(config.source.url, "oesophagus check");
      const probe = `oesophagus_check_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
      try {
        await replication.unsafe(
          `CREATE_REPLICATION_SLOT ${quoteIdent(probe)} TEMPORARY LOGICAL ${quoteIdent(config.source.plugin)} NOEXPORT_SNAPSHOT`,
        );
        pass(`output plugin ${config.source.plugin} is installed and allowed`);
      } catch (error) {
        const explained = explainSlotError(error, probe, config.source.plugin);
        if (explained instanceof OesophagusError) fail(explained.message, explained.fix);
        else failWith(explained);
      } finally {
        await replication.end({ timeout: 1 });
      }
    }

    try {
      const tables = await describeTables(sql, config.tables.map((t) => t.name));
      pass(`tables found with keys: ${tables.map((t) => displayName(t.name)).join(", ")}`);
      const unindexable = unindexableColumnsError(tables);
      if (unindexable) fail(unindexable.message, unindexable.fix);
      // A publication made for the engine as it must be is used as it is: the source user need not own the tables.
      const publicationReady = config.source.plugin === "pgoutput" &&
        await publicationUsableAsIs(sql, config.source.publication, config.tables.map((t) => t.name));
      if (publicationReady) pass(`publication ${config.source.publication} is made already and is used as it is`);
      for (const table of tables) {
        const [privileges] = await sql<{ can_select: boolean; owns: boolean }[]>`
          SELECT has_table_privilege(${table.oid}::oid, 'SELECT') AS can_select,
                 pg_has_role((SELECT relowner FROM pg_class WHERE oid = ${table.oid}::oid), 'USAGE') AS owns`;
        const name = quoteQualified(table.name);
        if (!privileges.can_select) {
          fail(`no SELECT privilege on ${displayName(table.name)}`, `GRANT SELECT ON ${name} TO <user>;`);
        }
        if (config.source.plugin === "pgoutput" && !privileges.owns && !settings.superuser && !publicationReady) {
          fail(
            `the source user does not own ${
              displayName(table.name)
            }, so it cannot add it to publication ${config.source.publication}`,
            `create the publication as the owner: CREATE PUBLICATION ${quoteIdent(config.source.publication)} FOR TABLE ${
              config.tables.map((t) => quoteQualified(t.name)).join(", ")
            };`,
          );
        }
        if (table.key.source === "replica_identity_full") {
          pass(`${displayName(table.name)} has no key: documents are identified by a hash of the whole row`);
        }
      }
    } catch (error) {
      failWith(error);
    }

    const [engine] = await sql<
      { exists: boolean }[]
    >`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'oesophagus') AS exists`;
    if (engine.exists || settings.can_create) pass("schema oesophagus (snapshot progress) exists or can be created");
    else {fail(
        "the source user cannot create schema oesophagus for snapshot progress",
        "GRANT CREATE ON DATABASE <db> TO <user>; or CREATE SCHEMA oesophagus AUTHORIZATION <user>;",
      );}
  } finally {
    await sql.end({ timeout: 1 });
  }

  for (const [name, sink] of Object.entries(config.sinks)) {
    if (sink.type === "kafka") {
      try {
        const { brokers } = await describeKafka(name, sink);
        pass(`sink ${name}: Kafka, ${brokers} broker(s)`);
        if (brokers < sink.replicationFactor) {
          fail(
            `sink ${name}: replicationFactor ${sink.replicationFactor} needs as many brokers, the cluster has ${brokers}`,
            `lower sinks.${name}.replicationFactor to at most ${brokers}`,
          );
        }
      } catch (error) {
        const classified = classifyKafkaError(error, name, sink.brokers);
        fail(classified.message, classified.fix ?? `check that Kafka runs at sinks.${name}.brokers`);
      }
      continue;
    }
    const client = createClient(name, sink);
    try {
      const health = await withSchemeCheck(name, sink.url, () => client.cluster.health({ timeout: "5s" }));
      const nodes = await client.nodes.info({ node_id: "_local", filter_path: "nodes.*.version" }) as {
        nodes?: Record<string, { version: string }>;
      };
      const version = Object.values(nodes.nodes ?? {})[0]?.version ?? "unknown";
      if (!version.startsWith("8.")) {
        fail(
          `sink ${name}: Elasticsearch ${version}, the engine needs 8.x`,
          `point sinks.${name}.url at an Elasticsearch 8 cluster`,
        );
      } else pass(`sink ${name}: Elasticsearch ${version}, cluster ${health.status}`);
      if (health.status === "red") {
        fail(`sink ${name}: cluster health is red`, "fix the cluster's unassigned primary shards before replicating");
      }
    } catch (error) {
      const classified = classifyRequestError(error, name);
      fail(classified.message, classified.fix ?? `check that Elasticsearch runs at sinks.${name}.url`);
    } finally {
      await client.close();
    }
  }
  return findings;
}

export async function check(config: Config): Promise<number> {
  const findings = await runChecks(config);
  for (const finding of findings) {
    console.log(redact(`${finding.ok ? "✓" : "✗"} ${finding.what}${finding.fix ? `\n    fix: ${finding.fix}` : ""}`));
  }
  const failed = findings.filter((f) => !f.ok).length;
  console.log(failed === 0 ? "all checks passed" : `${failed} problem(s) found`);
  return failed === 0 ? 0 : 1;
}

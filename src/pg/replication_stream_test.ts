import assert from "node:assert/strict";
import { parseLsn } from "./lsn.ts";
import { parseFrame, startReplicationCommand, statusUpdate, xlogPayload } from "./replication_stream.ts";

Deno.test("parseFrame() reads XLogData and keepalive headers as 64-bit LSNs", () => {
  const frame = new Uint8Array(28);
  const view = new DataView(frame.buffer);
  frame[0] = 0x77;
  view.setBigUint64(1, 0x1_0000_0002n);
  view.setBigUint64(9, 0xffff_ffff_ffff_fff0n);
  frame.set([1, 2, 3], 25);
  const parsed = parseFrame(frame);
  assert.equal(parsed.kind, "xlogdata");
  if (parsed.kind !== "xlogdata") return;
  assert.equal(parsed.walStart, 0x1_0000_0002n);
  assert.equal(parsed.walEnd, 0xffff_ffff_ffff_fff0n);
  assert.deepEqual([...parsed.payload], [1, 2, 3]);
  assert.deepEqual([...xlogPayload(frame)!], [1, 2, 3]);

  const keepalive = new Uint8Array(18);
  keepalive[0] = 0x6b;
  new DataView(keepalive.buffer).setBigUint64(1, 42n);
  keepalive[17] = 1;
  assert.deepEqual(parseFrame(keepalive), { kind: "keepalive", walEnd: 42n, replyRequested: true });
  assert.equal(xlogPayload(keepalive), null);
});

Deno.test("parseFrame() refuses short and unknown frames", () => {
  assert.throws(() => parseFrame(new Uint8Array([0x77, 0, 0])), /shorter/);
  assert.throws(() => xlogPayload(new Uint8Array(24).fill(0x77)), /24 bytes is shorter than its 25-byte header/);
  assert.throws(() => parseFrame(new Uint8Array([0x6b])), /shorter/);
  assert.throws(() => parseFrame(new Uint8Array([0x51, 0])), /unknown replication frame/);
});

Deno.test("statusUpdate() reports the flushed LSN and PostgreSQL-epoch microseconds", () => {
  const frame = statusUpdate(parseLsn("1/20"), parseLsn("1/10"), Date.UTC(2000, 0, 1, 0, 0, 1));
  const view = new DataView(frame.buffer);
  assert.equal(frame.length, 34);
  assert.equal(frame[0], 0x72);
  assert.equal(view.getBigUint64(1), parseLsn("1/20"));
  assert.equal(view.getBigUint64(9), parseLsn("1/10"));
  assert.equal(view.getBigUint64(17), parseLsn("1/10"));
  assert.equal(view.getBigInt64(25), 1_000_000n);
  assert.equal(frame[33], 0);
  assert.equal(statusUpdate(parseLsn("1/20"), parseLsn("1/10"), Date.now(), true)[33], 1);
});

Deno.test("startReplicationCommand() quotes the slot and every option value", () => {
  assert.equal(
    startReplicationCommand({
      slot: "s",
      plugin: "pgoutput",
      startLsn: parseLsn("0/16B3748"),
      options: { proto_version: "1", publication_names: "p'x" },
    }),
    `START_REPLICATION SLOT "s" LOGICAL 0/16B3748 ("proto_version" '1', "publication_names" 'p''x')`,
  );
});

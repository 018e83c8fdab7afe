/**
 * What every sink does with its writes, whatever the target: queue them on lanes, start one per
 * idle lane with its metrics and `sink.flush` span, and ack each to its sender once the target
 * has it. The request itself is the sink's own (`_bulk`, a produce request).
 */
import type { Ref } from "nact";
import type { BatchAcked, SinkCommand, StreamedItems } from "../src/protocol/sink.ts";
import type { Lanes } from "../src/sinks/lanes.ts";
import type { BulkBatch } from "../src/snapshot/row_batcher.ts";
import type { ChangeLinks } from "../src/telemetry/change_spans.ts";
import { histograms } from "../src/telemetry/metrics.ts";
import { changeSpans } from "../src/telemetry/tracing.ts";
import type { ActorContext } from "../supervision/actor.ts";

export interface PendingWrite {
  readonly batchId: string;
  readonly batch: BulkBatch;
  /** For sinks of change events: `Write.events`. */
  readonly events?: StreamedItems;
  readonly replyTo: Ref<BatchAcked>;
  readonly links?: ChangeLinks;
}

/** Starts the idle lanes' writes; each settles with a `BulkSettled` to the sink itself, or crashes it. */
export function startWrites(
  sink: string,
  lanes: Lanes<PendingWrite>,
  ctx: ActorContext<SinkCommand>,
  request: (write: PendingWrite) => Promise<unknown>,
): void {
  lanes.startIdle((write, writeId) => {
    const sent = performance.now();
    histograms.batchSize.record(write.batch.docs, { sink });
    const traced = write.links ? changeSpans() : null;
    const span = traced?.flushStarted(sink, write.batch.docs, write.batch.body.length, write.links!);
    request(write).then(
      () => {
        histograms.flushDuration.record((performance.now() - sent) / 1000, { sink });
        if (span) traced!.flushEnded(span);
        ctx.send(ctx.self, { type: "BulkSettled", writeId });
      },
      (error) => {
        if (span) traced!.flushEnded(span, (error as Error).message);
        ctx.fail(error);
      },
    );
  });
}

/** A write settled: its sender gets the ack, and its lane the next write (`restart` starts it). */
export function settleWrite(sink: string, lanes: Lanes<PendingWrite>, writeId: number, ctx: ActorContext<SinkCommand>): void {
  const write = lanes.settle(writeId);
  if (write) ctx.send(write.replyTo, { type: "BatchAcked", batchId: write.batchId, sink });
}

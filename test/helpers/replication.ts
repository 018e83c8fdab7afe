/** Reading a replication stream in tests, whatever transport carries it. */
import type { Lsn } from "../../src/pg/lsn.ts";
import { type CopyBothStream, parseFrame } from "../../src/pg/replication_stream.ts";

/**
 * Reads XLogData payloads until one at or past `end` (or a keepalive past it), then closes the
 * stream. `onMessage` sees the count after each payload and may pause the stream.
 */
export async function readPayloads(
  stream: CopyBothStream,
  end: Lsn,
  onMessage: (count: number) => void = () => {},
): Promise<Uint8Array[]> {
  const payloads: Uint8Array[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.start({
      frame(bytes) {
        const frame = parseFrame(bytes);
        if (frame.kind !== "xlogdata") {
          if (frame.walEnd >= end && payloads.length > 0) resolve();
          return;
        }
        payloads.push(Uint8Array.from(frame.payload));
        onMessage(payloads.length);
        if (frame.walStart >= end) resolve();
      },
      end: (error) => reject(error ?? new Error("stream closed")),
    });
  });
  stream.close();
  return payloads;
}

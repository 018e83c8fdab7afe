/**
 * What listens at a source address that took the connection but has not answered it as
 * PostgreSQL does: within milliseconds, if only with an error. Elasticsearch's HTTP port waits
 * for the end of a request line, which an SSLRequest or a startup message never has, and a Kafka
 * broker reads their first bytes as a request's size and waits for the rest: both held a
 * connection for the whole 15 s connect timeout, whose error could only guess at the cause.
 * Asked as the Kafka sink asks a broker's address (a Kafka request, then line ends to a peer that
 * stays silent), such a server names itself.
 */
import type net from "node:net";
import { POSTGRES_PEER, whatListens } from "../sinks/kafka/listener_probe.ts";
import { connectionError } from "./connect_errors.ts";
import { describeHost, type HostPort } from "./url_hosts.ts";

/**
 * How long a connection may go without a byte from the server before the engine asks what
 * listens there. PostgreSQL answers an SSLRequest or a startup message at once, a refusal
 * included; a pooler whose server is slow to start answers the probe as PostgreSQL, so the
 * connection just goes on waiting.
 */
export const ASK_AFTER_MS = 3_000;

/** How long the probe's own connections may take. */
const PROBE_TIMEOUT_MS = 1_500;

/**
 * What listens at `place` when it is not PostgreSQL ("an HTTP server", "a Kafka broker", "an HTTP
 * server over TLS"); null when it answers as PostgreSQL, or answers nothing (a network that drops
 * packets, a server that hangs): then only the connect timeout can tell.
 */
export async function foreignServer(place: HostPort, timeoutMs = PROBE_TIMEOUT_MS): Promise<string | null> {
  const speaks = await whatListens(describeHost(place), timeoutMs);
  return speaks === POSTGRES_PEER ? null : speaks;
}

/**
 * Watches a connection to `place` that waits for the server's first byte: if none has come after
 * `afterMs` and the server there names itself as another kind of server, `onForeign` gets a
 * NOT_POSTGRES error saying which (and its `speaks`). Returns what ends the watch (the first byte or a close ends it too).
 */
export function watchForForeignServer(
  socket: net.Socket,
  place: HostPort,
  onForeign: (error: Error) => void,
  afterMs = ASK_AFTER_MS,
): () => void {
  let watching = true;
  const stop = () => {
    watching = false;
    clearTimeout(timer);
    socket.removeListener("data", stop);
    socket.removeListener("close", stop);
  };
  const timer = setTimeout(async () => {
    const speaks = await foreignServer(place);
    if (!watching || speaks === null) return;
    stop();
    onForeign(
      Object.assign(
        connectionError(
          "NOT_POSTGRES",
          `the server at ${
            describeHost(place)
          } answers as ${speaks}, not as PostgreSQL (it left the engine's first message unanswered for ${afterMs / 1_000} s)`,
        ),
        { speaks },
      ),
    );
  }, afterMs);
  socket.once("data", stop);
  socket.once("close", stop);
  return stop;
}

/**
 * The services a bench measures against: the project's own, as the tests start them, except that
 * Elasticsearch sizes its own heap (`ES_HEAP=auto`: half the machine's memory, as it does when
 * nothing sets it) unless ES_HEAP says otherwise. The tests' 768 MB is enough for correctness but
 * not for a stream of versioned overwrites: on this machine the engine's 1,000,000-row UPDATE cost
 * Elasticsearch 46.8 s of CPU with it and 32.2 s with a 3 GB heap, while a plain `_bulk` load of as
 * many documents into a fresh index took about as long with either (17.0 and 17.8 s).
 */
import { services } from "../test/helpers/services.ts";
import { es } from "./ceilings.ts";

export interface BenchServices {
  readonly pgUrl: string;
  readonly esUrl: string;
  /** One line on Elasticsearch's heap, for the bench's output. */
  readonly heapLine: string;
}

export async function benchServices(): Promise<BenchServices> {
  const asked = Deno.env.get("ES_HEAP") ?? "auto";
  Deno.env.set("ES_HEAP", asked);
  const { pgUrl, esUrl } = await services();
  const nodes = JSON.parse(await es(esUrl, "GET", "/_nodes/jvm?filter_path=nodes.*.jvm.mem.heap_max_in_bytes")) as {
    nodes: Record<string, { jvm: { mem: { heap_max_in_bytes: number } } }>;
  };
  const heaps = Object.values(nodes.nodes).map((n) => n.jvm.mem.heap_max_in_bytes);
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const heapLine = `Elasticsearch heap ${
    heaps.map(gib).join(", ")
  } (ES_HEAP=${asked}; a server already running keeps the heap it started with)`;
  return { pgUrl, esUrl, heapLine };
}

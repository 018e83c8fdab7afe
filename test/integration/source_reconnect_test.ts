/**
 * A session pool whose connects failed, while the source looked down, connects again once it is
 * back: postgres.js left such a pool's connection "connecting" for good (every later query waited
 * for ever), and reconnected at once and without end to a server that closed without answering.
 * The source is the real one, behind the fault proxy.
 */
import assert from "node:assert/strict";
import { isUnreachable } from "../../src/pg/connect_errors.ts";
import { connect, connectReplication } from "../../src/pg/session.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { services } from "../helpers/services.ts";

/** `query`'s outcome, or an error saying it was still waiting after `ms`. */
function within<T>(query: Promise<T>, ms: number, what: string): Promise<T | Error> {
  return Promise.race([
    query.then((value) => value, (error) => error as Error),
    new Promise<Error>((resolve) => setTimeout(() => resolve(new Error(`${what}: still waiting after ${ms} ms`)), ms)),
  ]);
}

for (const sslmode of ["disable", "prefer"]) {
  Deno.test(`source sessions (sslmode=${sslmode}): queries fail while the source is down, and succeed once it is back`, async () => {
    const { pgUrl } = await services();
    await using proxy = FaultProxy.start(pgUrl);
    const url = `${proxy.url(pgUrl)}?sslmode=${sslmode}`;
    for (const sql of [connect(url, { max: 1 }), connectReplication(url)]) {
      // The simple protocol: a walsender takes no other.
      const one = () => sql.unsafe<{ one: number }[]>("SELECT 1 AS one").simple();
      try {
        proxy.mode = "down";
        for (const attempt of [1, 2]) {
          const failed = await within(one(), 10_000, `query ${attempt} while down`);
          assert.ok(failed instanceof Error && isUnreachable(failed), `query ${attempt} while down: ${failed}`);
        }
        proxy.mode = "pass";
        // postgres.js waits its backoff (under a second after two failures) before it connects again.
        const answered = await within(one(), 20_000, "query once back");
        assert.deepEqual(answered instanceof Error ? String(answered) : [...answered], [{ one: 1 }]);
      } finally {
        await sql.end({ timeout: 1 });
      }
    }
  });
}

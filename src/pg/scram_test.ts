import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ScramClient } from "./scram.ts";

// RFC 7677 section 3, with PostgreSQL's `n=*` in place of the user name (the server ignores it,
// so the client proof differs from the RFC's; the signature is recomputed from first principles).
Deno.test("ScramClient: the RFC 7677 exchange yields a proof the server can check, and checks the server", async () => {
  const client = new ScramClient("pencil", "rOprNGfwEbeRWgbNEkqO");
  assert.equal(client.first(), "n,,n=*,r=rOprNGfwEbeRWgbNEkqO");
  const serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  const final = client.final(serverFirst);
  assert.match(final, /^c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj\)hNlF\$k0,p=[A-Za-z0-9+/]{43}=$/);

  // The server side, independently: StoredKey = H(ClientKey), ClientKey = proof XOR HMAC(StoredKey, AuthMessage).
  const { createHash, createHmac, pbkdf2Sync } = await import("node:crypto");
  const salted = pbkdf2Sync("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096, 32, "sha256");
  const storedKey = createHash("sha256").update(createHmac("sha256", salted).update("Client Key").digest()).digest();
  const withoutProof = final.slice(0, final.indexOf(",p="));
  const authMessage = `n=*,r=rOprNGfwEbeRWgbNEkqO,${serverFirst},${withoutProof}`;
  const signature = createHmac("sha256", storedKey).update(authMessage).digest();
  const proof = Buffer.from(final.slice(final.indexOf(",p=") + 3), "base64");
  const clientKey = proof.map((b, i) => b ^ signature[i]);
  assert.deepEqual(createHash("sha256").update(clientKey).digest(), storedKey);

  const serverSignature = createHmac("sha256", createHmac("sha256", salted).update("Server Key").digest())
    .update(authMessage).digest("base64");
  assert.equal(client.verify(`v=${serverSignature}`), true);
  assert.equal(client.verify(`v=${Buffer.alloc(32).toString("base64")}`), false);
});

Deno.test("ScramClient: a challenge with another nonce or no salt is refused", () => {
  assert.throws(() => new ScramClient("p", "abc").final("r=xyz123,s=c2FsdA==,i=4096"), /malformed/);
  assert.throws(() => new ScramClient("p", "abc").final("r=abc123,i=4096"), /malformed/);
  assert.throws(() => new ScramClient("p", "abc").final("r=abc123,s=c2FsdA==,i=0"), /malformed/);
  assert.equal(new ScramClient("p", "abc").verify("v=anything"), false);
});

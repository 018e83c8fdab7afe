import assert from "node:assert/strict";
import { OesophagusError } from "./errors.ts";
import { readPemFile } from "./pem.ts";

const CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

Deno.test("readPemFile(): the file's text when it holds what the setting needs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, CERTIFICATE);
    await Deno.writeTextFile(`${dir}/key.pem`, KEY);
    const setting = { name: "sinks.search.caFile", code: "sink_misconfigured" } as const;
    assert.equal(readPemFile(`${dir}/ca.pem`, { ...setting, certificate: true }), CERTIFICATE);
    assert.equal(readPemFile(`${dir}/key.pem`, setting), KEY);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readPemFile(): a missing file, a key where a certificate belongs, or no PEM at all name the setting and the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/key.pem`, KEY);
    await Deno.writeTextFile(`${dir}/text.txt`, "not pem");
    const setting = { name: "OTEL_EXPORTER_OTLP_CERTIFICATE", code: "config_unreadable", holding: "the collector's CA" } as const;
    const cases: [string, boolean, RegExp][] = [
      [`${dir}/absent.pem`, true, /No such file|not found/i],
      [`${dir}/key.pem`, true, /no PEM certificate in it/],
      [`${dir}/text.txt`, false, /no PEM block in it/],
    ];
    for (const [path, certificate, why] of cases) {
      assert.throws(() => readPemFile(path, { ...setting, certificate }), (error) => {
        assert.ok(error instanceof OesophagusError);
        assert.equal(error.code, "config_unreadable");
        assert.ok(error.message.startsWith(`OTEL_EXPORTER_OTLP_CERTIFICATE ${path} cannot be read: `), error.message);
        assert.match(error.message, why);
        assert.equal(error.fix, "point OTEL_EXPORTER_OTLP_CERTIFICATE at a readable PEM file of the collector's CA");
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

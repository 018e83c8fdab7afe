/** fast-check arbitraries for JSON text as PostgreSQL's plugins print it. */
import fc from "fast-check";

/** JSON number literals as PostgreSQL prints numerics, ints and floats: far beyond 2^53 and 17 digits. */
export const jsonNumberLiteral: fc.Arbitrary<string> = fc.tuple(
  fc.boolean(),
  fc.bigInt({ min: 0n, max: 10n ** 60n }),
  fc.option(fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String)),
  fc.option(fc.integer({ min: -300, max: 300 })),
).map(([negative, whole, fraction, exponent]) =>
  `${negative ? "-" : ""}${whole}${fraction === null ? "" : `.${fraction}`}${exponent === null ? "" : `e${exponent}`}`
);

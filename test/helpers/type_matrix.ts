/**
 * The type matrix: every common PostgreSQL type family at its edges, 43 columns, 5 rows
 * (minimums, maximums, special values, NULLs). Shared by the snapshot and streaming tests.
 */
export const MATRIX_SCHEMA = `
  CREATE EXTENSION IF NOT EXISTS hstore;
  CREATE EXTENSION IF NOT EXISTS citext;
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy ''quoted''');
  CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
  CREATE TYPE address AS (street text, no int, tags text[]);
  CREATE TABLE matrix (
    id int PRIMARY KEY,
    i2 int2, i4 int4, i8 int8,
    n numeric, n_scaled numeric(40, 10),
    f4 float4, f8 float8,
    b bool,
    t text, vc varchar(20), ch char(5), ci citext,
    d date, ts timestamp, tstz timestamptz, tm time, tmtz timetz, iv interval,
    u uuid, ip inet, net cidr, mac macaddr, mac8 macaddr8,
    by bytea, bt bit(4), vb varbit,
    m money, e mood, dom positive_int, addr address, addrs address[],
    ia int[], ta text[], na numeric[],
    j json, jb jsonb, hs hstore,
    pt point, r int4range, tsv tsvector, x xml,
    big text
  );`;

export const MATRIX_ROWS = `
  INSERT INTO matrix VALUES (
    1, -32768, -2147483648, -9223372036854775808,
    -123456789012345678901234567890123456789.123456789, -1.0000000001,
    '-Infinity', '-Infinity',
    false,
    '', '', '', 'MiXeD',
    '-infinity', '-infinity', '-infinity', '00:00:00', '00:00:00+14', '-178000000 years',
    '00000000-0000-0000-0000-000000000000', '0.0.0.0', '0.0.0.0/0', '00:00:00:00:00:00', '00:00:00:00:00:00:00:00',
    '\\x', B'0000', B'',
    -92233720368547758.08, 'sad', 1, ROW('', 0, '{}'), '{}',
    '{}', '{}', '{}',
    '[]', '{}', '',
    '(0,0)', 'empty', '', '<a/>',
    NULL
  ), (
    2, 32767, 2147483647, 9223372036854775807,
    99999999999999999999999999999999999999999999.99999999999999, 9999999999999999999999999999.9999999999,
    'Infinity', 'Infinity',
    true,
    E'quote " backslash \\\\ newline \\n tab \\t cr \\r nul-free \\u00e9 \\U0001F600 end', 'café ☕', 'ab', 'ÄÖÜ',
    'infinity', 'infinity', 'infinity', '24:00:00', '23:59:59.999999-15:59', '178000000 years 11 mons 30 days 23:59:59.999999',
    'ffffffff-ffff-ffff-ffff-ffffffffffff', '2001:db8::ff00:42:8329/64', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff',
    '\\x00ff10', B'1111', B'101010101',
    92233720368547758.07, 'happy ''quoted''', 2147483647,
    ROW(E'Main "St" \\\\ 1', 5, '{a,NULL,"b c"}'), ARRAY[ROW('x', 1, '{}')::address, NULL, ROW(NULL, NULL, NULL)::address],
    '{{1,NULL,3},{4,5,NULL}}', '{{"a","b\\"c"},{NULL,"d,e"}}', '{NaN,Infinity,-Infinity,1.50}',
    '{"z": 1, "a": [1, 2.50, {"deep": [null, true]}], "big": 123456789012345678901234567890}',
    '{"z": 1, "a": [1, 2.50, {"deep": [null, true]}], "big": 123456789012345678901234567890, "e": 1e400}',
    'a=>1, "b c"=>NULL',
    '(1.5,-2.25)', '[1,10)', 'the quick brown fox', '<doc attr="1">text &amp; more</doc>',
    repeat('toast me ', 120000)
  ), (
    3, 0, 0, 0,
    'NaN', 0,
    'NaN', 'NaN',
    NULL,
    E'\\uFEFFa byte order mark first', NULL, NULL, E'\\uFEFF',
    '0044-03-15 BC', '4713-01-01 00:00:00 BC', '2024-02-29 05:11:12.123456+05:30', '12:34:56.789', '12:34:56+05:30', '-1 days +02:03:04',
    NULL, '192.168.1.5/24', '10.0.0.0/8', '08:00:2b:01:02:03', NULL,
    NULL, NULL, NULL,
    0, 'ok', NULL, NULL, NULL,
    '{}', NULL, '{0.1,-0.0}',
    'null', 'null', NULL,
    NULL, '(,5]', NULL, NULL,
    NULL
  ), (
    4, 1, -1, 1,
    1e-30, 0.0000000001,
    '-0', '-0',
    true,
    repeat('x', 10000), NULL, NULL, NULL,
    '1970-01-01', '294276-12-31 23:59:59.999999', '1970-01-01 00:00:00+00', NULL, NULL, '0',
    NULL, NULL, NULL, NULL, NULL,
    decode(repeat('ab', 600000), 'hex'), NULL, NULL,
    NULL, NULL, 7, ROW(NULL, NULL, NULL), NULL,
    '{{{1}},{{2}}}', '{"\\u0001 control"}', NULL,
    '"just a string"', '[1, "two", [3]]', NULL,
    NULL, NULL, NULL, NULL,
    NULL
  ), (
    5, NULL, NULL, NULL,
    NULL, NULL,
    1.17549435e-38, 2.2250738585072014e-308,
    NULL,
    NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL,
    '123.4500', '123.4500', NULL,
    NULL, NULL, NULL, NULL,
    NULL
  );`;

export const MATRIX_COLUMNS = 43;

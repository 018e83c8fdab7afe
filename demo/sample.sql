-- A small shop: a few hundred thousand rows across types the engine must render exactly.
CREATE TYPE order_status AS ENUM ('placed', 'paid', 'shipped', 'delivered', 'returned');

CREATE TABLE customers (
  id bigint PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text NOT NULL,
  country char(2) NOT NULL,
  signed_up timestamptz NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  preferences jsonb
);

CREATE TABLE products (
  sku uuid PRIMARY KEY,
  title text NOT NULL,
  price numeric(12, 2) NOT NULL,
  weight_kg real,
  dimensions_cm int[],
  discontinued boolean NOT NULL DEFAULT false
);

CREATE TABLE orders (
  id bigint PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers,
  status order_status NOT NULL,
  placed_at timestamptz NOT NULL,
  delivery_window tstzrange,
  total numeric(14, 2) NOT NULL,
  lines jsonb NOT NULL,
  note text
);

CREATE TABLE "Order Events" (
  order_id bigint NOT NULL,
  seq int NOT NULL,
  at timestamp NOT NULL,
  kind text NOT NULL,
  PRIMARY KEY (order_id, seq)
);

INSERT INTO customers
SELECT g,
       'customer' || g || '@example.com',
       (ARRAY['Ada', 'Grace', 'Linus', 'Barbara', 'Edsger', 'Frances', 'Ken', 'Margaret'])[1 + g % 8] || ' ' ||
       (ARRAY['Lovelace', 'Hopper', 'Torvalds', 'Liskov', 'Dijkstra', 'Allen', 'Thompson', 'Hamilton'])[1 + (g / 8) % 8],
       (ARRAY['DE', 'FR', 'US', 'JP', 'BR', 'IN', 'NG', 'SE'])[1 + g % 8],
       timestamptz '2019-01-01 00:00:00+00' + (g * interval '7 minutes 13 seconds'),
       CASE WHEN g % 3 = 0 THEN ARRAY['vip'] WHEN g % 5 = 0 THEN ARRAY['newsletter', 'beta'] ELSE '{}' END,
       CASE WHEN g % 4 = 0 THEN jsonb_build_object('currency', 'EUR', 'dark_mode', g % 8 = 0) END
FROM generate_series(1, 50000) g;

INSERT INTO products
SELECT md5('sku' || g)::uuid,
       (ARRAY['Mechanical keyboard', 'Espresso grinder', 'Trail shoes', 'Desk lamp', 'Notebook', 'Headphones'])[1 + g % 6] || ' #' || g,
       round((5 + (g * 37) % 995)::numeric + (g % 100) / 100.0, 2),
       CASE WHEN g % 10 = 0 THEN NULL ELSE ((g % 5000) / 1000.0)::real END,
       ARRAY[10 + g % 40, 5 + g % 30, 2 + g % 20],
       g % 17 = 0
FROM generate_series(1, 5000) g;

INSERT INTO orders
SELECT g,
       1 + (g * 7919) % 50000,
       (ARRAY['placed', 'paid', 'shipped', 'delivered', 'returned']::order_status[])[1 + g % 5],
       timestamptz '2023-01-01 00:00:00+00' + (g * interval '97 seconds'),
       tstzrange(timestamptz '2023-01-03 08:00:00+00' + (g * interval '97 seconds'),
                 timestamptz '2023-01-03 18:00:00+00' + (g * interval '97 seconds')),
       round(((g * 7) % 100000) / 100.0 + 0.99, 2),
       jsonb_build_array(jsonb_build_object('sku', md5('sku' || (1 + g % 5000))::uuid, 'qty', 1 + g % 3),
                         jsonb_build_object('sku', md5('sku' || (1 + (g * 3) % 5000))::uuid, 'qty', 1)),
       CASE WHEN g % 50 = 0 THEN 'Please ring twice — "front door"' END
FROM generate_series(1, 200000) g;

INSERT INTO "Order Events"
SELECT o, s, timestamp '2023-01-01 00:00:00' + (o * interval '97 seconds') + (s * interval '1 hour'),
       (ARRAY['created', 'payment_captured', 'packed', 'handed_to_carrier'])[s]
FROM generate_series(1, 50000) o, generate_series(1, 4) s;

ANALYZE;

-- The bundled sample warehouse (connector/samples/warehouse.sql) in PostgreSQL's dialect: the same
-- 1,000 customers and their orders, row for row. Compose loads it into its PostgreSQL service;
-- tests/docker/ checks that both give the same rows.
CREATE TABLE customers AS
SELECT
    'C-' || lpad(i::text, 4, '0')                                            AS customer_id,
    (ARRAY['Ann', 'Bob', 'Chika', 'Daisuke', 'Eve', 'Farid', 'Greta', '陽菜'])[1 + i % 8]
        || ' ' || (ARRAY['Sato', 'Suzuki', 'Tanaka', 'Smith', 'García', 'Nguyen'])[1 + i % 6]
                                                                             AS full_name,
    'customer' || i || '@example.com'                                        AS email,
    (ARRAY['enterprise', 'smb', 'consumer'])[1 + i % 3]                      AS segment,
    CAST((i * 37) % 5000 AS DECIMAL(12, 2)) + 0.50                           AS credit_limit,
    DATE '2020-01-01' + i                                                    AS signed_up,
    TIMESTAMP '2024-06-01 09:30:00' + make_interval(mins => i)               AS last_seen,
    CASE i % 4 WHEN 0 THEN 'vip,newsletter' WHEN 1 THEN 'newsletter' WHEN 2 THEN '' ELSE 'trial' END
                                                                             AS tags,
    CASE WHEN i % 10 = 0 THEN NULL ELSE 'Account opened online.' END         AS notes
FROM generate_series(1, 1000) AS t(i);
ALTER TABLE customers ADD PRIMARY KEY (customer_id);

CREATE TABLE orders AS
SELECT
    'O-' || lpad(c::text, 4, '0') || '-' || n                                AS order_id,
    'C-' || lpad(c::text, 4, '0')                                            AS customer_id,
    DATE '2024-01-01' + (c * 3 + n)                                          AS ordered_on,
    CAST((c * 13 + n * 7) % 900 AS DECIMAL(10, 2)) + 9.99                    AS amount,
    (ARRAY['open', 'shipped', 'cancelled'])[1 + (c + n) % 3]                 AS status
FROM generate_series(1, 1000) AS a(c), generate_series(0, 2) AS b(n)
WHERE n < c % 4;
ALTER TABLE orders ADD PRIMARY KEY (order_id);

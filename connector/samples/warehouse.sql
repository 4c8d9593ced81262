-- The bundled sample warehouse: 1,000 customers and their orders, the same on every run.
CREATE TABLE customers AS
SELECT
    printf('C-%04d', i)                                        AS customer_id,
    ['Ann', 'Bob', 'Chika', 'Daisuke', 'Eve', 'Farid', 'Greta', '陽菜'][1 + i % 8]
        || ' ' || ['Sato', 'Suzuki', 'Tanaka', 'Smith', 'García', 'Nguyen'][1 + i % 6] AS full_name,
    printf('customer%d@example.com', i)                        AS email,
    ['enterprise', 'smb', 'consumer'][1 + i % 3]               AS segment,
    CAST((i * 37) % 5000 AS DECIMAL(12, 2)) + 0.50             AS credit_limit,
    DATE '2020-01-01' + CAST(i AS INTEGER)                     AS signed_up,
    TIMESTAMP '2024-06-01 09:30:00' + INTERVAL (i) MINUTE      AS last_seen,
    CASE i % 4 WHEN 0 THEN 'vip,newsletter' WHEN 1 THEN 'newsletter' WHEN 2 THEN '' ELSE 'trial' END AS tags,
    CASE WHEN i % 10 = 0 THEN NULL ELSE 'Account opened online.' END AS notes
FROM range(1, 1001) AS t(i);

CREATE TABLE orders AS
SELECT
    printf('O-%04d-%d', c, n)                                  AS order_id,
    printf('C-%04d', c)                                        AS customer_id,
    DATE '2024-01-01' + CAST(c * 3 + n AS INTEGER)             AS ordered_on,
    CAST((c * 13 + n * 7) % 900 AS DECIMAL(10, 2)) + 9.99      AS amount,
    ['open', 'shipped', 'cancelled'][1 + (c + n) % 3]          AS status
FROM range(1, 1001) AS a(c), range(0, 3) AS b(n)
WHERE n < c % 4;

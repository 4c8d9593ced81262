-- A small HR warehouse: departments (a tree), employees, their departments and groups.
-- Build it with: kintone-sync hr-sample, or duckdb hr.duckdb < hr.sql
CREATE TABLE hr_departments (
    dept_code   VARCHAR PRIMARY KEY,
    dept_name   VARCHAR NOT NULL,
    parent_code VARCHAR,
    note        VARCHAR
);
INSERT INTO hr_departments VALUES
    ('HQ',        'Head office',   NULL,       'The company'),
    ('SALES',     'Sales',         'HQ',       NULL),
    ('SALES-E',   'Sales East',    'SALES',    'Tokyo, Sendai'),
    ('SALES-W',   'Sales West',    'SALES',    'Osaka, Fukuoka'),
    ('DEV',       'Development',   'HQ',       NULL),
    ('DEV-DATA',  'Data platform', 'DEV',      'Owns the warehouse');

CREATE TABLE hr_employees (
    employee_id   INTEGER PRIMARY KEY,
    login_name    VARCHAR NOT NULL,
    display_name  VARCHAR NOT NULL,
    surname       VARCHAR,
    given_name    VARCHAR,
    surname_kana  VARCHAR,
    given_kana    VARCHAR,
    email         VARCHAR,
    phone         VARCHAR,
    extension     VARCHAR,
    locale        VARCHAR,
    time_zone     VARCHAR,
    birthday      DATE,
    joined_on     DATE,
    employee_no   VARCHAR,
    active        BOOLEAN NOT NULL
);
INSERT INTO hr_employees VALUES
    (1001, 'sato',     '佐藤 花子',   '佐藤', '花子', 'さとう', 'はなこ', 'sato@example.com',     '03-0000-1001', '1001', 'ja', 'Asia/Tokyo', DATE '1985-04-02', DATE '2010-04-01', 'E1001', true),
    (1002, 'suzuki',   '鈴木 一郎',   '鈴木', '一郎', 'すずき', 'いちろう', 'suzuki@example.com', '03-0000-1002', '1002', 'ja', 'Asia/Tokyo', DATE '1990-11-20', DATE '2015-04-01', 'E1002', true),
    (1003, 'takahashi','高橋 健',     '高橋', '健',   'たかはし', 'けん',   'takahashi@example.com', NULL,        '1003', 'ja', 'Asia/Tokyo', NULL,              DATE '2018-10-01', 'E1003', true),
    (1004, 'tanaka',   'Tanaka Emi',  'Tanaka', 'Emi', NULL, NULL,          'tanaka@example.com',   NULL,           NULL,   'en', 'Asia/Tokyo', NULL,              DATE '2021-07-01', 'E1004', true),
    (1005, 'ito',      '伊藤 誠',     '伊藤', '誠',   'いとう', 'まこと',   'ito@example.com',      NULL,           '1005', 'ja', 'Asia/Tokyo', NULL,              DATE '2012-04-01', 'E1005', false);

CREATE TABLE hr_assignments (
    employee_id INTEGER NOT NULL,
    dept_code   VARCHAR NOT NULL,
    title_code  VARCHAR,
    PRIMARY KEY (employee_id, dept_code)
);
INSERT INTO hr_assignments VALUES
    (1001, 'SALES',    'MANAGER'),
    (1002, 'SALES-E',  NULL),
    (1003, 'DEV-DATA', 'LEAD'),
    (1003, 'DEV',      NULL),
    (1004, 'SALES-W',  NULL);

CREATE TABLE hr_group_members (
    employee_id INTEGER NOT NULL,
    group_code  VARCHAR NOT NULL,
    PRIMARY KEY (employee_id, group_code)
);
INSERT INTO hr_group_members VALUES
    (1001, 'managers'),
    (1003, 'engineers'),
    (1004, 'engineers');

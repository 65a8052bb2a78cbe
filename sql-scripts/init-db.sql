-- The fleet's databases and their least-privilege users: one for each service's requests, one for its migrations.
--
-- Run once by the MySQL image's entrypoint, on the first start with an empty data directory
-- (docker compose mounts it into /docker-entrypoint-initdb.d; Kubernetes mounts the ConfigMap that
-- sql-scripts/kustomization.yaml generates from it). The same file serves both.
--
-- No password is written here: the users are created locked, and service-passwords.sh (which the
-- entrypoint runs next, in name order) sets each password from the environment and unlocks the user.
-- A user whose password was never given stays locked instead of accepting an empty or a known one.
--
-- Two users per service, each seeing only its own database, neither with GRANT OPTION or any server-wide
-- privilege: `<service>_svc`, which the replicas run as, may read and write rows and nothing more (a
-- request can never DROP or ALTER a table); `<service>_migrate`, which only the migration Job runs as, may
-- also change the schema. GET_LOCK, which the migrations take so that two runners never race, needs no
-- privilege.

CREATE DATABASE IF NOT EXISTS `authDB` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS `productsDB` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS `ordersDB` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE USER IF NOT EXISTS 'auth_svc'@'%' ACCOUNT LOCK;
CREATE USER IF NOT EXISTS 'product_svc'@'%' ACCOUNT LOCK;
CREATE USER IF NOT EXISTS 'order_svc'@'%' ACCOUNT LOCK;
CREATE USER IF NOT EXISTS 'auth_migrate'@'%' ACCOUNT LOCK;
CREATE USER IF NOT EXISTS 'product_migrate'@'%' ACCOUNT LOCK;
CREATE USER IF NOT EXISTS 'order_migrate'@'%' ACCOUNT LOCK;

GRANT SELECT, INSERT, UPDATE, DELETE ON `authDB`.* TO 'auth_svc'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON `productsDB`.* TO 'product_svc'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON `ordersDB`.* TO 'order_svc'@'%';

GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES
    ON `authDB`.* TO 'auth_migrate'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES
    ON `productsDB`.* TO 'product_migrate'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES
    ON `ordersDB`.* TO 'order_migrate'@'%';

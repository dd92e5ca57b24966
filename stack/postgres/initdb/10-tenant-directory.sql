-- Second database of the compose stack's PostgreSQL: the Tenant Service's
-- directory (its schema comes from kong/migrations/tenant-directory/, applied
-- by the service at start). Kong uses the `kong` database (POSTGRES_DB).
CREATE DATABASE tenants OWNER kong;

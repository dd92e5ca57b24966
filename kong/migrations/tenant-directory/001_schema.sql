-- Tenant directory of the Tenant Service (PostgreSQL 15).
-- Applied in file-name order by the Tenant Service at start-up and by the
-- compose stack's postgres init; every statement is idempotent.
CREATE TABLE IF NOT EXISTS directory_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE IF NOT EXISTS tenants (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name       text NOT NULL,
    subdomain  text NOT NULL UNIQUE CHECK (subdomain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    tier       text NOT NULL,
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS tenant_domains (
    domain    text PRIMARY KEY CHECK (domain = lower(domain)),
    tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS tenant_domains_tenant_idx ON tenant_domains (tenant_id);

-- GENERATED from kong/tenants.yaml by `python -m harness.services.tenant_sql --write`.
-- Do not edit: tests/services/test_tenant_sql.py checks it stays in sync.
BEGIN;
DELETE FROM tenant_domains;
DELETE FROM tenants;
INSERT INTO directory_settings (key, value) VALUES ('base_domain', 'app.example.com')
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
INSERT INTO tenants (id, name, subdomain, tier, status) VALUES
  ('acme', 'ACME Corporation', 'acme', 'enterprise', 'active'),
  ('stark', 'Stark Industries', 'stark', 'enterprise', 'active'),
  ('globex', 'Globex', 'globex', 'pro', 'active'),
  ('initech', 'Initech', 'initech', 'pro', 'active'),
  ('umbrella', 'Umbrella Co', 'umbrella', 'basic', 'active'),
  ('hooli', 'Hooli', 'hooli', 'basic', 'active'),
  ('soylent', 'Soylent (suspended for non-payment)', 'soylent', 'basic', 'suspended');
INSERT INTO tenant_domains (domain, tenant_id) VALUES
  ('api.acme-corp.com', 'acme'),
  ('api.stark.dev', 'stark'),
  ('portal.initech.io', 'initech'),
  ('app.soylent.food', 'soylent');
COMMIT;

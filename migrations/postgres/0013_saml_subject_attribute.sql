-- The attribute whose one value is a SAML login's subject in place of the NameID (NULL: the
-- NameID). Existing providers keep using the NameID.
ALTER TABLE saml_providers ADD COLUMN subject_attribute TEXT;

"""TLS certificates for the Jitsi site, in three modules; import from the one you need:

- jitsiwizard.certs.files: certificate files read with `openssl` (CertInfo, read_cert,
  name_matches), and the validation of an admin's own pair (validate_own,
  own_cert_problems).
- jitsiwizard.certs.plan: which route gets the certificate on this host (choose_route) and
  the plan steps for it (cert_steps). Pure: it reads files, runs nothing.
- jitsiwizard.certs.verifiers: what apply runs after a certificate's `Verify` step, and the
  VERIFIERS table jitsiwizard.verify looks their names up in.

Nothing is re-exported here: loading the package loads none of them.
"""

"""Pure records and rules of the Lambda control plane. Imports only the standard library."""

"""One module per benchmark; each measures through a running server and returns rows for the table."""

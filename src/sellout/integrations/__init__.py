"""One module per outside system: the database, the embedded server, dbt, Tableau, webhooks and e-mail."""

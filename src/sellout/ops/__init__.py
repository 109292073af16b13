"""The ops shell: what observes and controls runs (run records, alerts, status, dry run, Airflow support)."""

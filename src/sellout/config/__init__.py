"""The project's configuration: loading, validating and serving every config file and environment value."""

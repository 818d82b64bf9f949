"""The file database shared by the pysmurf monitor and SupRsync: the tables, their queries,
migrations and commands (see README.md)."""

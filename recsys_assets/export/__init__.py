"""Rows of the app database to Personalize's bulk CSVs.

- ``mapping``: the mapping file (which tables and columns become users, items, interactions)
- ``coercion``: one rule set turning a database value into a CSV cell (or refusing it)
- ``postgres``: the same rules rendered as SQL, for the COPY path
- ``csv_export``: streaming the rows into the object store; ``rows``: what it produced or refused
- ``readback``: reading the written file back as the import job will
- ``sql_ascii``: PostgreSQL databases in SQL_ASCII read as UTF-8, undecodable values left for the coercion to refuse
- ``batch_users``: the mapping's users_to_score, checked at the run's start and read for the batch input
- ``id_types``: for the write-back, the types of the mapped ID columns, so the recommendations join with them
"""
